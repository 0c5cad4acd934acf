// The operational log: pino on stderr (stdout is the MCP protocol in stdio mode); credentials never reach it.
import pino from "pino";

export type Logger = pino.Logger;

/** Field and header names whose values are credentials, compared in lower case. */
const SENSITIVE_KEYS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "api_key",
  "apikey",
  "x-auth-token",
  "credential",
  "password",
  "secret",
  "token",
  "confirmation_token",
  "access_token",
  "refresh_token",
]);

const PATH_KEYS = [
  "authorization",
  "Authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "X-API-Key",
  "credential",
  "token",
  "confirmation_token",
];

/** A path to `key` at `depth` levels below the top, e.g. (2, "x-api-key") → `*.*["x-api-key"]`. */
function pathAt(depth: number, key: string): string {
  const prefix = Array.from({ length: depth }, () => "*").join(".");
  if (/^[A-Za-z_]\w*$/.test(key)) return prefix ? `${prefix}.${key}` : key;
  return `${prefix}["${key}"]`;
}

/**
 * pino's key-path redaction, down to four levels (e.g. `err.request.headers.authorization`); the operational log
 * also scrubs whole lines (see scrubLine), which covers any depth and any case.
 */
export const REDACT_PATHS = PATH_KEYS.flatMap((key) => [0, 1, 2, 3].map((depth) => pathAt(depth, key)));

const CENSOR = "[redacted]";
/** Secret values known at run time (backend keys, HTTP tokens), in every form a log line may hold them. */
const secretForms = new Set<string>();
let sortedForms: string[] = [];
/** A bearer credential inside any text, e.g. an error message that quotes a header. */
const BEARER = /\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9\-._~+/]+=*/gi;
/** Lines that may hold a credential under a sensitive name, so they are worth parsing. */
const SENSITIVE_HINT = /authorization|cookie|api.?key|auth.?token|credential|password|secret|token/i;

/** Registers secret values (too short ones are ignored): no log line shows them afterwards, in any field. */
export function protectSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (value === undefined || value.length < 8) continue;
    secretForms.add(encodeURIComponent(value));
    // As sent, and as JSON escapes it once and twice (an echoed header inside an error text inside a log line).
    let form = value;
    for (let level = 0; level < 3; level++) {
      secretForms.add(form);
      form = JSON.stringify(form).slice(1, -1);
    }
  }
  sortedForms = [...secretForms].sort((a, b) => b.length - a.length);
}

/** Replaces registered secrets and bearer credentials in a text. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const form of sortedForms) if (out.includes(form)) out = out.split(form).join(CENSOR);
  return out.replace(BEARER, `$1${CENSOR}`);
}

/** Censors every value under a sensitive name, at any depth, and raw header lists [name, value, …]. */
function censorKeys(value: unknown, depth: number): unknown {
  if (depth > 32 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    return value.map((item, index) => {
      const name = value[index - 1];
      if (typeof name === "string" && typeof item === "string" && SENSITIVE_KEYS.has(name.toLowerCase())) {
        return CENSOR;
      }
      return censorKeys(item, depth + 1);
    });
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SENSITIVE_KEYS.has(key.toLowerCase()) && item !== null && item !== CENSOR
        ? CENSOR
        : censorKeys(item, depth + 1);
  }
  return out;
}

/** A copy of `value` with every value under a sensitive name censored, at any depth and in any case. */
export function censorSensitiveKeys(value: unknown): unknown {
  return censorKeys(value, 0);
}

/** The last guard of every log line: sensitive names censored at any depth, then secret values replaced. */
export function scrubLine(line: string): string {
  let out = line;
  if (SENSITIVE_HINT.test(out)) {
    try {
      out = `${JSON.stringify(censorKeys(JSON.parse(out), 0))}\n`;
    } catch {
      // Not one JSON object: the value scrub below still applies.
    }
  }
  return scrubSecrets(out);
}

export function createLogger(
  level = process.env.DELETEGATE_LOG_LEVEL ?? "info",
  destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  return pino(
    {
      name: "deletegate",
      level,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      hooks: { streamWrite: scrubLine },
    },
    destination,
  );
}
