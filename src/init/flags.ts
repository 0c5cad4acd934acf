// `deletegate init`'s flags and their help text; kinds and their own keys come from the backend registry.
import { parseArgs } from "node:util";
import { BACKEND_KINDS, type BackendKind } from "../backends/index.js";
import { CONFIGURED_MODES, DEFAULT_CONFIG_PATH, DEFAULT_CONSOLE_ORIGIN } from "../config.js";
import { type KindKey, kindKeys, modeLines } from "./starter-config.js";

/** tenantId → tenant-id: the flag of a kind-specific key. */
export function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** Every kind-specific key of the registry, with each kind that has it and its entry there. */
function kindKeyFlags(): Map<string, { key: string; uses: { kind: BackendKind; entry: KindKey }[] }> {
  const flags = new Map<string, { key: string; uses: { kind: BackendKind; entry: KindKey }[] }>();
  for (const kind of Object.values(BACKEND_KINDS)) {
    for (const entry of kindKeys(kind)) {
      const flag = flagOf(entry.key);
      const found = flags.get(flag) ?? { key: entry.key, uses: [] };
      found.uses.push({ kind, entry });
      flags.set(flag, found);
    }
  }
  return flags;
}

const FIXED_OPTIONS = {
  config: { type: "string" },
  kind: { type: "string" },
  name: { type: "string" },
  "base-url": { type: "string" },
  "allow-target": { type: "string", multiple: true },
  "credential-env": { type: "string" },
  confirmation: { type: "string" },
  approver: { type: "string", multiple: true },
  "approvals-required": { type: "string" },
  "public-url": { type: "string" },
  "state-dir": { type: "string" },
  yes: { type: "boolean", short: "y" },
  help: { type: "boolean", short: "h" },
} as const;

export interface InitFlags {
  config?: string;
  kind?: string;
  name?: string;
  baseUrl?: string;
  allowTargets?: string[];
  credentialEnv?: string;
  confirmation?: string;
  approvers?: string[];
  approvalsRequired?: string;
  publicUrl?: string;
  stateDir?: string;
  yes: boolean;
  help: boolean;
  /** Kind-specific keys given as flags, by config key (tenantId, accessReason, …). */
  kindOptions: Record<string, string>;
}

/** Every flag `init` takes, without the leading `--` (the docs' table of them is checked against this). */
export function initFlagNames(): string[] {
  return [...Object.keys(FIXED_OPTIONS), ...kindKeyFlags().keys()];
}

/** The flags of `args` (everything after `init`); throws parseArgs' error for an unknown or malformed flag. */
export function parseInitFlags(args: string[]): InitFlags {
  const kindFlags = kindKeyFlags();
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    ...FIXED_OPTIONS,
  };
  for (const flag of kindFlags.keys()) options[flag] = { type: "string" };
  const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals.join(" ")}"`);
  const text = (name: string) => values[name] as string | undefined;
  const kindOptions: Record<string, string> = {};
  for (const [flag, { key }] of kindFlags) {
    const value = text(flag);
    if (value !== undefined) kindOptions[key] = value;
  }
  return {
    config: text("config"),
    kind: text("kind"),
    name: text("name"),
    baseUrl: text("base-url"),
    allowTargets: values["allow-target"] as string[] | undefined,
    credentialEnv: text("credential-env"),
    confirmation: text("confirmation"),
    approvers: values.approver as string[] | undefined,
    approvalsRequired: text("approvals-required"),
    publicUrl: text("public-url"),
    stateDir: text("state-dir"),
    yes: values.yes === true,
    help: values.help === true,
    kindOptions,
  };
}

/** `text` in lines of at most 110 columns, the first after a 28-column flag column, the rest indented to it. */
function helpEntry(flag: string, text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && 28 + line.length + 1 + word.length > 110) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.map((text, index) => `${(index === 0 ? `  ${flag}` : "").padEnd(28)}${text}`).join("\n");
}

function kindFlagLines(): string[] {
  return [...kindKeyFlags()].map(([flag, { key, uses }]) => {
    const kinds = uses.map(({ kind, entry }) => `${kind.kind}${entry.required ? " (required)" : ""}`);
    const entry = uses[0]?.entry;
    const choices = entry?.choices ? `: ${entry.choices.join(", ")}` : "";
    const fallback = entry?.fallback ? ` (default ${entry.fallback})` : "";
    return helpEntry(`--${flag} VALUE`, `${key} of ${kinds.join(", ")}${choices}${fallback}`);
  });
}

export function initUsage(): string {
  const kinds = Object.values(BACKEND_KINDS);
  const envDefaults = kinds.map((kind) => `${kind.kind} ${kind.credentialEnv}`).join(", ");
  const withoutPublicApi = kinds
    .filter((kind) => kind.defaultBaseUrl === null)
    .map((kind) => kind.kind)
    .join(", ");
  return `deletegate init — write a starter config, then print the client snippets that use it

Usage:
  deletegate init                      ask for each value (stdin a terminal)
  deletegate init --kind KIND [flags]  from flags; asks only for required values that are missing

Flags:
  --config FILE             where to write it (default: $DELETEGATE_CONFIG, else ${DEFAULT_CONFIG_PATH});
                            an existing file is never overwritten
  --kind KIND               the backend's kind: ${kinds.map((kind) => kind.kind).join(", ")}
  --name NAME               the backend's name in the config (default: the kind)
  --base-url URL            the backend's API (default: the kind's public API; ${withoutPublicApi} has none)
${kindFlagLines().join("\n")}
  --allow-target PATTERN    a target the agent may delete from (* matches any run of characters);
                            repeat for more; none: every target
${helpEntry("--credential-env VAR", `the variable that will hold the backend's key (default: ${envDefaults})`)}
  --confirmation MODE       ${CONFIGURED_MODES.join(" | ")} (default auto):
${modeLines(" ".repeat(30)).join("\n")}
  --approver NAME           approval: an approver; repeat for more. Each password is asked without echo, or
                            read from stdin, one line per approver in this order; only its scrypt hash is kept
  --approvals-required N    approval: distinct approvers a job needs (default 1)
  --public-url URL          approval: the origin people's browsers reach the console at
                            (default ${DEFAULT_CONSOLE_ORIGIN}, where deletegate console listens)
  --state-dir DIR           the store and audit log's directory (default: .deletegate/ beside the config file);
                            written as an absolute path
  --yes, -y                 ask nothing: defaults for what is missing, exit 2 for a missing required value
  --help, -h

The config gets absolute paths and the names of the variables that hold secrets, never a secret.
Exit status: 0 written, 2 a bad or missing value or an existing file, 130 interrupted.`;
}
