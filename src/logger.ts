// The operational log: pino on stderr (stdout is the MCP protocol in stdio mode), auth headers redacted.
import pino from "pino";

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  '*.headers["x-api-key"]',
  '*["x-api-key"]',
  "credential",
  "*.credential",
  "token",
  "*.token",
  "confirmation_token",
  "*.confirmation_token",
];

export function createLogger(level = process.env.DELETEGATE_LOG_LEVEL ?? "info"): Logger {
  return pino(
    { name: "deletegate", level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } },
    pino.destination({ dest: 2, sync: true }),
  );
}
