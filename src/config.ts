// Loads the JSON config (SPEC §3) into a typed Config; secrets come from the environment; errors name the key path.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parsePasswordHash } from "./approval/password.js";
import { BACKEND_KINDS, type BackendKind, kindNamed } from "./backends/index.js";
import {
  type BackendConfig,
  CONFIGURED_MODES,
  type ConfiguredMode,
  type PreviewConfig,
} from "./backends/types.js";

export { type BackendConfig, CONFIGURED_MODES, type ConfiguredMode };

/** Ids one preview reads (a uniform sample above it), and the share of found ids that may change before a plan is stale. */
const PREVIEW_MAX_CHECKED = z.int().min(1).max(100_000);
const PREVIEW_STALE_SHARE = z.number().min(0).max(1);

export const DEFAULT_CONFIG_PATH = "./deletegate.config.json";

const positiveInt = (max: number) => z.int().min(1).max(max);

export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
/** A backend's name in the config (and in tool calls). */
export const backendName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "must be 1..64 letters, digits, . _ - (starting with a letter or digit)",
  );
/** A name the Host header may carry (SPEC §9): a DNS name or an IPv4 literal, or an IPv6 literal in brackets; no port. */
const hostName = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/,
    'must be a host name or IP address without a port (an IPv6 address in brackets: "[::1]")',
  )
  .transform((host) => host.toLowerCase());
/** Where `deletegate console` listens by default: `approval.publicUrl` when the config gives none (SPEC §3). */
export const DEFAULT_CONSOLE_ORIGIN = "http://127.0.0.1:8809";
export const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** An approver's name, as the console shows it and the audit log records it. */
export const approverName = z.string().min(1).max(128);
/** Approvers one config may name. */
export const MAX_APPROVERS = 100;

const approvalSchema = z
  .strictObject({
    approvers: z
      .array(
        z.strictObject({
          name: approverName,
          passwordHash: z
            .string()
            .refine(
              (hash) => parsePasswordHash(hash) !== null,
              "must be a hash made by `deletegate approver hash`",
            ),
        }),
      )
      .min(1)
      .max(MAX_APPROVERS),
    required: z.int().min(1).max(MAX_APPROVERS).default(1),
    ttlSeconds: z.int().min(1).max(2_592_000).default(86_400),
    publicUrl: httpUrl.optional(),
    notify: z.array(z.strictObject({ url: httpUrl, secretEnv: envName })).default([]),
  })
  .superRefine((value, ctx) => {
    if (value.required > value.approvers.length) {
      ctx.addIssue({
        code: "custom",
        path: ["required"],
        message: "must be at most the number of approvers",
      });
    }
    const names = value.approvers.map((approver) => approver.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index)
        ctx.addIssue({ code: "custom", path: ["approvers", index, "name"], message: "is not unique" });
    });
  });

const commonBackendShape = {
  baseUrl: httpUrl.optional(),
  credentialEnv: envName,
  allowTargets: z.array(z.string().min(1)).min(1).optional(),
  readOnly: z.boolean().default(false),
  maxItemsPerJob: positiveInt(100_000_000).default(100_000),
  maxItemsPerDay: positiveInt(1_000_000_000).optional(),
  minReasonLength: z.int().min(0).max(1024).default(10),
  // Its upper bound is the kind's cap, checked in backendSchema.
  maxBatchSize: z.int().min(1).optional(),
  concurrency: positiveInt(64).optional(),
  requestsPerSecond: z.number().positive().max(10_000).optional(),
  timeoutMs: z.int().min(10).max(600_000).default(30_000),
  maxAttempts: positiveInt(20).default(5),
  confirmation: z.enum(CONFIGURED_MODES).optional(),
  // Either key overrides the top-level `preview` for this backend.
  preview: z
    .strictObject({ maxChecked: PREVIEW_MAX_CHECKED.optional(), staleShare: PREVIEW_STALE_SHARE.optional() })
    .optional(),
};

/** The schema of one backend entry of this kind (the common keys and the kind's own). */
export function backendSchema(kind: BackendKind) {
  return z
    .strictObject({ kind: z.literal(kind.kind), ...commonBackendShape, ...kind.configShape })
    .superRefine((value, ctx) => {
      if (value.maxBatchSize !== undefined && value.maxBatchSize > kind.maxBatchSize) {
        ctx.addIssue({
          code: "custom",
          path: ["maxBatchSize"],
          message: `must be ≤ ${kind.maxBatchSize}`,
        });
      }
      // Silently ignoring it would let an operator believe it restricts something.
      if (value.allowTargets !== undefined && kind.targetSchema === null) {
        ctx.addIssue({
          code: "custom",
          path: ["allowTargets"],
          message: `kind ${kind.kind} has no target, so allowTargets cannot apply; remove it`,
        });
      }
    });
}

const backendEntry = z.unknown().superRefine((value, ctx) => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "must be an object" });
  } else if (typeof kind !== "string" || !kindNamed(kind)) {
    ctx.addIssue({
      code: "custom",
      path: ["kind"],
      message: `must be one of ${Object.keys(BACKEND_KINDS).join(", ")}`,
    });
  }
});

/** Settings the environment may override (SPEC §3): each key's range, and the variable that wins over it. */
const SETTINGS = {
  leaseMs: { schema: z.int().min(300).max(3_600_000), env: "DELETEGATE_LEASE_MS", path: "jobs.leaseMs" },
  backendJobMaxMs: {
    schema: z
      .int()
      .min(1_000)
      .max(7 * 86_400_000),
    env: "DELETEGATE_BACKEND_JOB_MAX_MS",
    path: "jobs.backendJobMaxMs",
  },
  sessionIdleMs: {
    schema: z
      .int()
      .min(1_000)
      .max(7 * 86_400_000),
    env: "DELETEGATE_SESSION_IDLE_MS",
    path: "http.sessionIdleMs",
  },
  maxSessions: { schema: positiveInt(100_000), env: "DELETEGATE_MAX_SESSIONS", path: "http.maxSessions" },
} as const;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The config file's schema (SPEC §3); each backend entry is checked by backendSchema of its kind. */
export const configSchema = z.strictObject({
  store: z
    .string()
    .regex(/^(memory|sqlite:.+|redis:\/\/.+)$/, 'must be "memory", "sqlite:<path>" or "redis://host:port"')
    .default("sqlite:./.deletegate/state.db"),
  auditLog: z.string().min(1).default("./.deletegate/audit.jsonl"),
  confirmation: z
    .strictObject({
      mode: z.enum(CONFIGURED_MODES).default("auto"),
      ttlSeconds: z.int().min(10).max(86_400).default(900),
      // The variable holding the key that seals 2026-07-28 confirmation states; omitted: generated into the store.
      stateKeyEnv: envName.optional(),
    })
    .default({ mode: "auto", ttlSeconds: 900 }),
  approval: approvalSchema.optional(),
  limits: z
    .strictObject({
      maxIdsPerCall: positiveInt(1_000_000).default(10_000),
      idFileRoots: z.array(z.string().refine(isAbsolute, "must be an absolute directory")).default([]),
      maxIdsPerFile: positiveInt(10_000_000).default(1_000_000),
    })
    .default({ maxIdsPerCall: 10_000, idFileRoots: [], maxIdsPerFile: 1_000_000 }),
  preview: z
    .strictObject({
      maxChecked: PREVIEW_MAX_CHECKED.default(1_000),
      staleShare: PREVIEW_STALE_SHARE.default(0.05),
    })
    .default({ maxChecked: 1_000, staleShare: 0.05 }),
  http: z
    .strictObject({
      tokens: z
        .array(
          z.strictObject({
            name: z.string().min(1),
            tokenEnv: envName,
          }),
        )
        .default([]),
      allowedHosts: z.array(hostName).min(1).optional(),
      sessionIdleMs: SETTINGS.sessionIdleMs.schema.default(1_800_000),
      maxSessions: SETTINGS.maxSessions.schema.default(1_000),
    })
    .default({ tokens: [], sessionIdleMs: 1_800_000, maxSessions: 1_000 }),
  jobs: z
    .strictObject({
      leaseMs: SETTINGS.leaseMs.schema.default(10_000),
      backendJobMaxMs: SETTINGS.backendJobMaxMs.schema.default(86_400_000),
    })
    .default({ leaseMs: 10_000, backendJobMaxMs: 86_400_000 }),
  retention: z.strictObject({ jobDays: positiveInt(36_500).default(90) }).default({ jobDays: 90 }),
  log: z.strictObject({ level: z.enum(LOG_LEVELS).default("info") }).default({ level: "info" }),
  backends: z
    .record(backendName, backendEntry)
    .refine((value) => Object.keys(value).length > 0, "must name at least one backend"),
});

type BackendFileConfig = z.output<ReturnType<typeof backendSchema>>;

export interface Config {
  path: string;
  store: string;
  auditLog: string;
  confirmation: { mode: ConfiguredMode; ttlSeconds: number; stateKeyEnv?: string };
  /** The master key of 2026-07-28 confirmation states, from `confirmation.stateKeyEnv`; null: kept in the store. */
  requestStateKey: string | null;
  /** Who approves jobs in approval mode (SPEC §3, §10); null when no backend uses it. */
  approval: ApprovalConfig | null;
  limits: {
    maxIdsPerCall: number;
    /** Directories `ids_file` may read from, each resolved with realpath at load; empty: ids_file is off. */
    idFileRoots: string[];
    maxIdsPerFile: number;
  };
  /** The defaults of every backend's `preview` (each BackendConfig holds its own, resolved). */
  preview: PreviewConfig;
  http: {
    tokens: { name: string; tokenEnv: string; token: string }[];
    /**
     * The names a request's Host header may carry (DNS rebinding, SPEC §9), lower-case; null: the default (loopback
     * names, the bind address and the host of approval.publicUrl).
     */
    allowedHosts: string[] | null;
    /** An HTTP session unused this long is closed. */
    sessionIdleMs: number;
    /** HTTP sessions open at once. */
    maxSessions: number;
  };
  /** How long a job's holder keeps it without renewing; how long a backend job may stay unfinished. */
  jobs: { leaseMs: number; backendJobMaxMs: number };
  /** Finished jobs are removed with their batches after this many days. */
  retention: { jobDays: number };
  log: { level: (typeof LOG_LEVELS)[number] };
  backends: Record<string, BackendConfig>;
  /** Problems that do not stop this command (e.g. an HTTP token variable unset outside --http). */
  warnings: string[];
}

export interface ApprovalConfig {
  approvers: { name: string; passwordHash: string }[];
  required: number;
  ttlSeconds: number;
  /** The origin people's browsers reach the console at; null: the server's own address. */
  publicUrl: string | null;
  /** Webhooks, each with its signing secret resolved from the environment. Never log the secret. */
  notify: { url: string; secretEnv: string; secret: string }[];
}

export interface ParseOptions {
  /** `--http` needs every http.tokens variable set; elsewhere a missing one is a warning (SPEC §3). */
  httpTokensRequired?: boolean;
  /**
   * The directory relative `store` and `auditLog` paths resolve against: loadConfig passes the config file's own,
   * so a config works whatever directory its process starts in. Omitted: they stay relative (to the cwd).
   */
  baseDir?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join(".") || "(root)";
}

/** A zod issue in an operator's words: what the key must be. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      if (issue.message.endsWith("received undefined")) return "is required";
      return issue.expected === "int" ? "must be an integer" : `must be ${issue.expected}`;
    case "too_big": {
      const max = String(issue.maximum);
      if (issue.origin === "string") return `must be at most ${max} characters`;
      if (issue.origin === "array") return `must have at most ${max} items`;
      return `must be ${issue.inclusive === false ? "<" : "≤"} ${max}`;
    }
    case "too_small": {
      const min = String(issue.minimum);
      if ((issue.origin === "string" || issue.origin === "array") && min === "1") return "must not be empty";
      if (issue.origin === "string") return `must be at least ${min} characters`;
      if (issue.origin === "array") return `must have at least ${min} items`;
      return `must be ${issue.inclusive === false ? ">" : "≥"} ${min}`;
    }
    case "invalid_value":
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}`;
    case "invalid_key":
      return issue.issues[0]?.message ?? "is not a valid key";
    default:
      return issue.message;
  }
}

function issuesMessage(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string {
  return issues
    .map((issue) => {
      const path = [...prefix, ...issue.path];
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => `${formatPath([...path, key])}: unknown key`).join("\n");
      }
      return `${formatPath(path)}: ${describeIssue(issue)}`;
    })
    .join("\n");
}

/** Validates a parsed JSON value; `env` supplies the secrets named by credentialEnv/tokenEnv. */
export function parseConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  path = "(inline)",
  options: ParseOptions = {},
): Config {
  const names = (raw as { backends?: unknown } | null)?.backends;
  if (names && typeof names === "object" && Object.hasOwn(names, "__proto__")) {
    throw new ConfigError("backends.__proto__: is not a valid backend name");
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(issuesMessage(parsed.error.issues));
  const file = parsed.data;
  const problems: string[] = [];
  const backends: Record<string, BackendConfig> = {};

  for (const [name, entry] of Object.entries(file.backends)) {
    const kind = BACKEND_KINDS[(entry as { kind: string }).kind] as BackendKind;
    const result = backendSchema(kind).safeParse(entry);
    if (!result.success) {
      problems.push(issuesMessage(result.error.issues, ["backends", name]));
      continue;
    }
    const value: BackendFileConfig = result.data;
    const baseUrl = value.baseUrl ?? kind.defaultBaseUrl;
    if (!baseUrl) {
      problems.push(`backends.${name}.baseUrl: is required for kind ${kind.kind}`);
      continue;
    }
    const credential = env[value.credentialEnv];
    if (!credential) {
      problems.push(`backends.${name}.credentialEnv: environment variable ${value.credentialEnv} is not set`);
      continue;
    }
    const options: Record<string, unknown> = {};
    for (const key of Object.keys(kind.configShape)) options[key] = (value as Record<string, unknown>)[key];
    backends[name] = {
      name,
      kind: kind.kind,
      baseUrl: baseUrl.replace(/\/+$/, ""),
      credentialEnv: value.credentialEnv,
      credential,
      allowTargets: value.allowTargets ?? null,
      readOnly: value.readOnly,
      maxItemsPerJob: value.maxItemsPerJob,
      maxItemsPerDay: value.maxItemsPerDay ?? null,
      minReasonLength: value.minReasonLength,
      batchSize: Math.min(
        value.maxBatchSize ?? kind.defaultBatchSize ?? kind.maxBatchSize,
        kind.maxBatchSize,
      ),
      concurrency: value.concurrency ?? kind.defaults.concurrency,
      requestsPerSecond: value.requestsPerSecond ?? kind.defaults.requestsPerSecond,
      timeoutMs: value.timeoutMs,
      maxAttempts: value.maxAttempts,
      confirmation: value.confirmation ?? null,
      preview: { ...file.preview, ...value.preview },
      options,
    };
  }

  const warnings: string[] = [];
  const tokens = file.http.tokens.flatMap((token, index) => {
    const secret = env[token.tokenEnv];
    if (!secret) {
      const problem = `http.tokens.${index}.tokenEnv: environment variable ${token.tokenEnv} is not set`;
      if (options.httpTokensRequired) problems.push(problem);
      else warnings.push(`${problem} (only --http uses it)`);
      return [];
    }
    return [{ ...token, token: secret }];
  });

  // Approval mode needs people to approve: refused without them, whichever backend asks for it.
  for (const backend of Object.values(backends)) {
    const mode = configuredMode(file, backend);
    if (mode === "approval" && !file.approval) {
      const key = backend.confirmation ? `backends.${backend.name}.confirmation` : "confirmation.mode";
      problems.push(`approval: is required (with approvers) because ${key} is approval`);
      break;
    }
  }
  const notify = (file.approval?.notify ?? []).flatMap((hook, index) => {
    const secret = env[hook.secretEnv];
    if (!secret) {
      problems.push(`approval.notify.${index}.secretEnv: environment variable ${hook.secretEnv} is not set`);
      return [];
    }
    return [{ ...hook, secret }];
  });

  // The environment wins over the file for these (SPEC §3), checked against the same ranges.
  const settings = {
    leaseMs: file.jobs.leaseMs,
    backendJobMaxMs: file.jobs.backendJobMaxMs,
    sessionIdleMs: file.http.sessionIdleMs,
    maxSessions: file.http.maxSessions,
  };
  for (const [key, setting] of Object.entries(SETTINGS) as [
    keyof typeof SETTINGS,
    (typeof SETTINGS)[keyof typeof SETTINGS],
  ][]) {
    const raw = env[setting.env];
    if (raw === undefined || raw === "") continue;
    const parsed = setting.schema.safeParse(Number(raw));
    if (/^\d+$/.test(raw) && parsed.success) settings[key] = parsed.data;
    else {
      const why = /^\d+$/.test(raw)
        ? describeIssue(parsed.error?.issues[0] as z.core.$ZodIssue)
        : "must be an integer";
      problems.push(`${setting.env} (overrides ${setting.path}): ${why}`);
    }
  }
  let logLevel = file.log.level;
  const envLevel = env.DELETEGATE_LOG_LEVEL;
  if (envLevel) {
    const parsed = z.enum(LOG_LEVELS).safeParse(envLevel);
    if (parsed.success) logLevel = parsed.data;
    else problems.push(`DELETEGATE_LOG_LEVEL (overrides log.level): must be one of ${LOG_LEVELS.join(", ")}`);
  }

  const idFileRoots = realRoots(file.limits.idFileRoots, problems);
  const requestStateKey = stateKey(file.confirmation.stateKeyEnv, env, problems);
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return {
    path,
    store: options.baseDir === undefined ? file.store : storeBeside(file.store, options.baseDir),
    auditLog:
      options.baseDir === undefined || file.auditLog === "stderr"
        ? file.auditLog
        : resolve(options.baseDir, file.auditLog),
    confirmation: file.confirmation,
    requestStateKey,
    approval: file.approval
      ? {
          approvers: file.approval.approvers,
          required: file.approval.required,
          ttlSeconds: file.approval.ttlSeconds,
          publicUrl: file.approval.publicUrl?.replace(/\/+$/, "") ?? null,
          notify,
        }
      : null,
    limits: { ...file.limits, idFileRoots },
    preview: file.preview,
    http: {
      tokens,
      allowedHosts: file.http.allowedHosts ?? null,
      sessionIdleMs: settings.sessionIdleMs,
      maxSessions: settings.maxSessions,
    },
    jobs: { leaseMs: settings.leaseMs, backendJobMaxMs: settings.backendJobMaxMs },
    retention: file.retention,
    log: { level: logLevel },
    backends,
    warnings,
  };
}

/** A `sqlite:<path>` store with its relative path resolved against `baseDir`; other stores as they are. */
function storeBeside(store: string, baseDir: string): string {
  const file = store.startsWith("sqlite:") ? store.slice("sqlite:".length) : null;
  // better-sqlite3's in-memory name is not a path.
  if (file === null || file === ":memory:") return store;
  return `sqlite:${resolve(baseDir, file)}`;
}

/** The state key from its variable: 32 bytes, base64. The value never appears in a message. */
function stateKey(name: string | undefined, env: NodeJS.ProcessEnv, problems: string[]): string | null {
  if (name === undefined) return null;
  const value = env[name];
  if (!value) {
    problems.push(`confirmation.stateKeyEnv: environment variable ${name} is not set`);
    return null;
  }
  if (!/^[A-Za-z0-9+/]{43}=$/.test(value) || Buffer.from(value, "base64").length !== 32) {
    problems.push(
      `confirmation.stateKeyEnv: ${name} must hold 32 random bytes in base64 (openssl rand -base64 32)`,
    );
    return null;
  }
  return value;
}

/**
 * Each `limits.idFileRoots` directory as its real path (symlinks resolved), so a file's real path is compared with
 * real roots; a root that is missing or not a directory is a config error.
 */
function realRoots(roots: readonly string[], problems: string[]): string[] {
  return roots.flatMap((root, index) => {
    try {
      const real = realpathSync(root);
      if (statSync(real).isDirectory()) return [real];
      problems.push(`limits.idFileRoots.${index}: ${root} is not a directory`);
    } catch {
      problems.push(`limits.idFileRoots.${index}: ${root} does not exist or cannot be read`);
    }
    return [];
  });
}

/** The largest tool-call message a transport takes: room for maxIdsPerCall ids of up to ~600 bytes each. */
export function maxMessageBytes(config: Pick<Config, "limits">): number {
  return 1024 * 1024 + config.limits.maxIdsPerCall * 600;
}

/**
 * The most JSON values (see transports/http-body.ts jsonValues) an HTTP message may hold: maxIdsPerCall ids and
 * 10,000 for everything else, far more than any tool call or client message needs.
 */
export function maxMessageValues(config: Pick<Config, "limits">): number {
  return config.limits.maxIdsPerCall + 10_000;
}

/** The config path: --config, else $DELETEGATE_CONFIG, else ./deletegate.config.json. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.DELETEGATE_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv, options: ParseOptions = {}): Config {
  if (!existsSync(path)) throw new ConfigError(`${path}: config file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseConfig(raw, env, path, { baseDir: dirname(resolve(path)), ...options });
}

/** The confirmation mode an operator configured for a backend: its own, else `confirmation.mode`. */
export function configuredMode(config: Pick<Config, "confirmation">, backend: BackendConfig): ConfiguredMode {
  return backend.confirmation ?? config.confirmation.mode;
}
