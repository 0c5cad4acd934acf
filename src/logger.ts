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
/** All forms at once, longest first, in any letter case; null while no secret is registered. */
let secretPattern: RegExp | null = null;
/** Counts the registrations: text scrubbed before one may hold a secret registered by it. */
let secretsVersion = 0;
/** A bearer credential inside any text, e.g. an error message that quotes a header. */
const BEARER = /\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9\-._~+/]+=*/gi;
/** Lines that may hold a credential under a sensitive name, so they are worth parsing. */
const SENSITIVE_HINT = /authorization|cookie|api.?key|auth.?token|credential|password|secret|token/i;

/**
 * Registers secret values (too short ones are ignored): no log or audit line shows them afterwards, in any field,
 * as sent, JSON-escaped (once and twice: an echoed header inside an error text inside a line), URL-encoded,
 * base64 (standard and URL-safe) or hex, in any letter case.
 */
export function protectSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (value === undefined || value.length < 8) continue;
    const bytes = Buffer.from(value, "utf8");
    for (const form of [
      encodeURIComponent(value),
      bytes.toString("base64"),
      bytes.toString("base64").replace(/=+$/, ""),
      bytes.toString("base64url"),
      bytes.toString("hex"),
    ])
      secretForms.add(form);
    let form = value;
    for (let level = 0; level < 3; level++) {
      secretForms.add(form);
      form = JSON.stringify(form).slice(1, -1);
    }
  }
  secretsVersion++;
  const sorted = [...secretForms].sort((a, b) => b.length - a.length);
  secretPattern =
    sorted.length === 0
      ? null
      : new RegExp(sorted.map((form) => form.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|"), "gi");
}

/**
 * Replaces the registered secrets' values, and nothing else: what the audit log records stays verbatim (an id or a
 * reason that merely looks like a credential is the agent's text, SPEC §8).
 */
export function scrubSecretValues(text: string): string {
  return secretPattern === null ? text : text.replace(secretPattern, CENSOR);
}

/** Changes whenever secrets are registered: a text scrubbed under another version must be scrubbed again. */
export function secretsVersionNow(): number {
  return secretsVersion;
}

/**
 * True when a text cut into pieces just before and after each of `characters`, each piece scrubbed apart, reads
 * as the whole text scrubbed: no registered secret, in any form, holds one of them, so no secret can span a cut.
 */
export function scrubsApartAt(characters: string): boolean {
  for (const form of secretForms)
    for (const character of characters) if (form.includes(character)) return false;
  return true;
}

/** For the operational log: registered secrets, and any bearer credential an error text quotes. */
export function scrubSecrets(text: string): string {
  return scrubSecretValues(text).replace(BEARER, `$1${CENSOR}`);
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
  level = "info",
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
