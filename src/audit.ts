// The audit trail (SPEC §8): one JSON object per line, appended synchronously so a crash cannot lose a written event.
import pino from "pino";
import { REDACT_PATHS } from "./logger.js";

export type AuditEventName =
  | "plan.created"
  | "plan.refused"
  | "delete.confirmed"
  | "delete.refused"
  | "job.started"
  | "batch.completed"
  | "batch.failed"
  | "job.finished"
  | "job.cancelled";

export interface AuditEntry {
  event: AuditEventName;
  plan_id?: string | null;
  job_id?: string | null;
  backend?: string | null;
  target?: unknown;
  actor?: string;
  reason?: string | null;
  counts?: Record<string, number>;
  code?: string;
  error?: string;
  status?: string;
  batch?: number;
  ids?: string[];
  http_status?: number | null;
  backend_ref?: string | null;
  attempts?: number;
}

export interface Audit {
  record(entry: AuditEntry): void;
  close(): void;
}

/** `stderr` or a file path (directories created, lines appended). */
export function createAudit(destination: string): Audit {
  const stream =
    destination === "stderr"
      ? pino.destination({ dest: 2, sync: true })
      : pino.destination({ dest: destination, append: true, mkdir: true, sync: true });
  const logger = pino(
    {
      base: undefined,
      messageKey: "message",
      // With the level dropped, pino writes the timestamp right after "{": so no leading comma here.
      timestamp: () => `"time":"${new Date().toISOString()}"`,
      formatters: { level: () => ({}) },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    stream,
  );
  return {
    record: (entry) => logger.info(entry),
    close: () => stream.flushSync(),
  };
}
