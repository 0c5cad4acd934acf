// The config `deletegate init` writes, built from the operator's answers and checked by the same parser the server uses.
import { join } from "node:path";
import { z } from "zod";
import type { BackendKind } from "../backends/index.js";
import { ConfigError, type ConfiguredMode, parseConfig } from "../config.js";

/** What each confirmation mode means for who says yes, as init explains it (its help and its question). */
const MODE_MEANINGS: Readonly<Record<ConfiguredMode, readonly string[]>> = {
  token: ["the dry run returns a one-time token; the agent can confirm by itself"],
  human: [
    "the client shows a form and a person types the number of ids;",
    "a client under the agent's control can answer it",
  ],
  approval: [
    "approvers confirm in the web console with their own passwords:",
    "the only mode the agent cannot satisfy",
  ],
  auto: ["human when the client supports forms, else token"],
};

/** MODE_MEANINGS as lines, each mode's name in a column of its own, every line after `indent`. */
export function modeLines(indent: string): string[] {
  return Object.entries(MODE_MEANINGS).flatMap(([mode, lines]) =>
    lines.map((line, index) => `${indent}${(index === 0 ? mode : "").padEnd(10)}${line}`),
  );
}

/** One kind-specific config key (tenantId, accessReason, …) as `init` asks for it. */
export interface KindKey {
  key: string;
  /** No default and not optional: the config is refused without it. */
  required: boolean;
  /** The allowed values, for an enum key. */
  choices: readonly string[] | null;
  /** The value the config gets when the key is omitted. */
  fallback: string | null;
  schema: z.ZodType;
}

/** The kind's own keys, read from its config schema. */
export function kindKeys(kind: BackendKind): KindKey[] {
  return Object.entries(kind.configShape as Record<string, z.ZodType>).map(([key, schema]) => {
    const omitted = schema.safeParse(undefined);
    let inner: z.ZodType = schema;
    while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional)
      inner = inner.unwrap() as z.ZodType;
    return {
      key,
      required: !omitted.success,
      choices: inner instanceof z.ZodEnum ? (inner.options as string[]) : null,
      fallback: omitted.success && typeof omitted.data === "string" ? omitted.data : null,
      schema,
    };
  });
}

/** Why `value` is not a valid `key` of the kind, or null when it is. */
export function kindKeyProblem(entry: KindKey, value: string): string | null {
  if (entry.schema.safeParse(value).success) return null;
  if (entry.choices) return `must be one of ${entry.choices.join(", ")}`;
  return "is not valid";
}

export interface ApproverAnswer {
  name: string;
  /** Made by `hashPassword`; the password itself never reaches this module. */
  passwordHash: string;
}

export interface StarterAnswers {
  kind: BackendKind;
  backendName: string;
  baseUrl: string;
  /** Kind-specific keys with a value; omitted keys take the kind's default. */
  kindOptions: Record<string, string>;
  /** Target-name patterns; empty: every target. */
  allowTargets: string[];
  credentialEnv: string;
  mode: ConfiguredMode;
  approvers: ApproverAnswer[];
  approvalsRequired: number;
  publicUrl: string | null;
  /** Absolute: the store is `<stateDir>/state.db`, the audit log `<stateDir>/audit.jsonl`. */
  stateDir: string;
}

/** The config file's content: absolute paths, no secret (only the names of the variables that hold them). */
export function starterConfig(answers: StarterAnswers): Record<string, unknown> {
  const backend: Record<string, unknown> = {
    kind: answers.kind.kind,
    baseUrl: answers.baseUrl,
    credentialEnv: answers.credentialEnv,
    ...answers.kindOptions,
  };
  if (answers.allowTargets.length > 0) backend.allowTargets = answers.allowTargets;
  return {
    store: `sqlite:${join(answers.stateDir, "state.db")}`,
    auditLog: join(answers.stateDir, "audit.jsonl"),
    confirmation: { mode: answers.mode, ttlSeconds: 900 },
    ...(answers.mode === "approval"
      ? {
          approval: {
            approvers: answers.approvers,
            required: answers.approvalsRequired,
            ...(answers.publicUrl ? { publicUrl: answers.publicUrl } : {}),
          },
        }
      : {}),
    backends: { [answers.backendName]: backend },
  };
}

/**
 * Null when the server will accept `config` once its credential variable is set, else the parser's message (the
 * key path and what it must be). A placeholder stands for the secret: only the variable's name is checked here.
 */
export function starterConfigProblem(config: Record<string, unknown>, credentialEnv: string): string | null {
  try {
    parseConfig(config, { [credentialEnv]: "placeholder" });
    return null;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}
