// What `deletegate init` writes, value by value: from its flag, else asked, else the default (or exit 2 when a
// required value is missing and nobody can be asked).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BACKEND_KINDS, type BackendKind } from "../backends/index.js";
import { CONFIGURED_MODES, type ConfiguredMode, DEFAULT_CONFIG_PATH } from "../config.js";
import { flagOf, type InitFlags } from "./flags.js";
import { PromptClosed, type Prompter } from "./prompt.js";
import {
  type ApproverAnswer,
  DEFAULT_CREDENTIAL_ENV,
  type KindKey,
  kindKeyProblem,
  kindKeys,
  kindNamed,
  type StarterAnswers,
} from "./starter-config.js";

/** A value init cannot use, or a file it will not overwrite: said on stderr, exit 2. */
export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InitError";
  }
}

/**
 * Who answers: `all` asks for every value no flag gave (a person at a terminal, no --kind); `required` asks only for
 * required values that are missing (a terminal, some flags); `none` asks nothing (--yes, or no terminal).
 */
export type AskMode = "all" | "required" | "none";

export interface AnswerSources {
  flags: InitFlags;
  ask: AskMode;
  prompter: Prompter;
  /** Whether a person types the passwords at a terminal (then each is asked twice), or they come as stdin lines. */
  terminal: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  hashPassword: (password: string) => Promise<string>;
}

const BACKEND_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function httpUrlProblem(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? null : "must be an http(s) URL";
  } catch {
    return "must be an http(s) URL";
  }
}

/** `check`'s verdict on a flag's value, as an InitError naming the flag. */
function checked(flag: string, value: string, check: (value: string) => string | null): string {
  const problem = check(value);
  if (problem) throw new InitError(`--${flag} ${problem} (got "${value}")`);
  return value;
}

const MODE_LINES = [
  "Confirmation modes (who says yes to a delete):",
  "  token     the dry run returns a one-time token; the agent can confirm by itself (scripted workflows)",
  "  human     the client shows a form and a person types the number of ids; a client under the agent's",
  "            control can answer it",
  "  approval  approvers confirm in the web console with their own passwords: the only mode the agent",
  "            cannot satisfy",
  "  auto      human when the client supports forms, else token",
];

export class AnswerCollector {
  constructor(private readonly sources: AnswerSources) {}

  private get flags(): InitFlags {
    return this.sources.flags;
  }

  /** Asks when the mode allows it for a value that is `required` or not; null when nobody is asked. */
  private async maybeAsk(
    required: boolean,
    question: string,
    options: { fallback?: string; check?: (answer: string) => string | null },
  ): Promise<string | null> {
    const { ask, prompter } = this.sources;
    if (ask === "all" || (ask === "required" && required)) return prompter.ask(question, options);
    return null;
  }

  /** The config file's absolute path; refused at once when the file exists (checked again, atomically, at write). */
  async configPath(): Promise<string> {
    const given = this.flags.config ?? this.sources.env.DELETEGATE_CONFIG;
    const path =
      given ??
      (await this.maybeAsk(false, "Config file to write", { fallback: DEFAULT_CONFIG_PATH })) ??
      DEFAULT_CONFIG_PATH;
    const absolute = resolve(this.sources.cwd, path);
    if (existsSync(absolute)) {
      throw new InitError(
        `${absolute} already exists; init never overwrites a config (choose another --config)`,
      );
    }
    return absolute;
  }

  async kind(): Promise<BackendKind> {
    const names = Object.keys(BACKEND_KINDS);
    const problem = (name: string) => (kindNamed(name) ? null : `must be one of ${names.join(", ")}`);
    const name =
      this.flags.kind !== undefined
        ? checked("kind", this.flags.kind, problem)
        : await this.maybeAsk(true, `Backend kind (${names.join(", ")})`, { check: problem });
    if (name === null) throw new InitError(`--kind is required: one of ${names.join(", ")}`);
    return kindNamed(name) as BackendKind;
  }

  async backendName(kind: BackendKind): Promise<string> {
    const problem = (name: string) =>
      BACKEND_NAME.test(name)
        ? null
        : "must be 1..64 letters, digits, . _ - (starting with a letter or digit)";
    if (this.flags.name !== undefined) return checked("name", this.flags.name, problem);
    return (await this.maybeAsk(false, "Backend name", { fallback: kind.kind, check: problem })) ?? kind.kind;
  }

  async baseUrl(kind: BackendKind): Promise<string> {
    if (this.flags.baseUrl !== undefined) return checked("base-url", this.flags.baseUrl, httpUrlProblem);
    const fallback = kind.defaultBaseUrl ?? undefined;
    const asked = await this.maybeAsk(fallback === undefined, `Base URL of the ${kind.kind} API`, {
      fallback,
      check: httpUrlProblem,
    });
    const url = asked ?? fallback;
    if (url === undefined)
      throw new InitError(`--base-url is required for kind ${kind.kind}: it has no public API`);
    return url;
  }

  /** The kind's own keys: flags for another kind's keys are refused, not ignored. */
  async kindOptions(kind: BackendKind): Promise<Record<string, string>> {
    const keys = kindKeys(kind);
    for (const key of Object.keys(this.flags.kindOptions)) {
      if (!keys.some((entry) => entry.key === key))
        throw new InitError(`--${flagOf(key)} does not apply to kind ${kind.kind}`);
    }
    const options: Record<string, string> = {};
    for (const entry of keys) {
      const value = await this.kindOption(kind, entry);
      if (value !== null) options[entry.key] = value;
    }
    return options;
  }

  private async kindOption(kind: BackendKind, entry: KindKey): Promise<string | null> {
    const flag = flagOf(entry.key);
    const given = this.flags.kindOptions[entry.key];
    if (given !== undefined) return checked(flag, given, (value) => kindKeyProblem(entry, value));
    const choices = entry.choices ? ` (${entry.choices.join(", ")})` : "";
    const optional = entry.required || entry.fallback ? "" : " (optional, Enter to skip)";
    const asked = await this.maybeAsk(entry.required, `${kind.kind} ${entry.key}${choices}${optional}`, {
      fallback: entry.fallback ?? undefined,
      check: (value) => (value === "" && !entry.required ? null : kindKeyProblem(entry, value)),
    });
    if (asked === null && entry.required) throw new InitError(`--${flag} is required for kind ${kind.kind}`);
    return asked === null || asked === "" ? null : asked;
  }

  async allowTargets(kind: BackendKind): Promise<string[]> {
    const field = kind.targetFields[0];
    if (kind.targetSchema === null || field === undefined) {
      if (this.flags.allowTargets !== undefined)
        throw new InitError(`--allow-target does not apply to kind ${kind.kind}: it has no target`);
      return [];
    }
    if (this.flags.allowTargets !== undefined) {
      for (const pattern of this.flags.allowTargets) checked("allow-target", pattern, nonEmpty);
      return this.flags.allowTargets;
    }
    const asked = await this.maybeAsk(
      false,
      `Allowed ${field} patterns, comma-separated, * for any run of characters (Enter: every ${field})`,
      { fallback: "" },
    );
    return splitList(asked ?? "");
  }

  async credentialEnv(kind: BackendKind): Promise<string> {
    const problem = (name: string) => (ENV_NAME.test(name) ? null : "must be an environment variable name");
    if (this.flags.credentialEnv !== undefined)
      return checked("credential-env", this.flags.credentialEnv, problem);
    const fallback =
      DEFAULT_CREDENTIAL_ENV[kind.kind] ?? `${kind.kind.toUpperCase().replace(/\W/g, "_")}_KEY`;
    return (
      (await this.maybeAsk(false, "Environment variable that will hold its key", {
        fallback,
        check: problem,
      })) ?? fallback
    );
  }

  async mode(): Promise<ConfiguredMode> {
    const problem = (mode: string) =>
      (CONFIGURED_MODES as readonly string[]).includes(mode)
        ? null
        : `must be one of ${CONFIGURED_MODES.join(", ")}`;
    if (this.flags.confirmation !== undefined)
      return checked("confirmation", this.flags.confirmation, problem) as ConfiguredMode;
    if (this.sources.ask === "all") this.sources.prompter.say(MODE_LINES.join("\n"));
    const asked = await this.maybeAsk(false, `Confirmation mode (${CONFIGURED_MODES.join(", ")})`, {
      fallback: "auto",
      check: problem,
    });
    return (asked ?? "auto") as ConfiguredMode;
  }

  /** Approvers with their password hashes; flags of approval mode without it are refused. */
  async approval(
    mode: ConfiguredMode,
  ): Promise<{ approvers: ApproverAnswer[]; required: number; publicUrl: string | null }> {
    if (mode !== "approval") {
      const approvalFlags = {
        approvers: "approver",
        approvalsRequired: "approvals-required",
        publicUrl: "public-url",
      };
      for (const [key, flag] of Object.entries(approvalFlags)) {
        if (this.flags[key as keyof typeof approvalFlags] !== undefined)
          throw new InitError(`--${flag} goes with --confirmation approval`);
      }
      return { approvers: [], required: 1, publicUrl: null };
    }
    const names = await this.approverNames();
    const approvers: ApproverAnswer[] = [];
    for (const name of names) {
      approvers.push({ name, passwordHash: await this.sources.hashPassword(await this.password(name)) });
    }
    const countProblem = (text: string) =>
      /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= names.length
        ? null
        : `must be a whole number from 1 to ${names.length} (the number of approvers)`;
    let required = "1";
    if (this.flags.approvalsRequired !== undefined)
      required = checked("approvals-required", this.flags.approvalsRequired, countProblem);
    else if (names.length > 1)
      required =
        (await this.maybeAsk(false, "Distinct approvers a job needs", {
          fallback: "1",
          check: countProblem,
        })) ?? "1";
    const publicUrl =
      this.flags.publicUrl !== undefined
        ? checked("public-url", this.flags.publicUrl, httpUrlProblem)
        : await this.maybeAsk(
            false,
            "Console origin for approvers' browsers (Enter: http://127.0.0.1:8809, deletegate console)",
            { fallback: "", check: (text) => (text === "" ? null : httpUrlProblem(text)) },
          );
    return { approvers, required: Number(required), publicUrl: publicUrl || null };
  }

  private async approverNames(): Promise<string[]> {
    const problem = (names: string[]) => {
      if (names.length === 0) return "name at least one approver";
      if (names.some((name) => name === "" || name.length > 128)) return "a name has 1..128 characters";
      if (new Set(names).size !== names.length) return "name each approver once";
      return names.length > 100 ? "at most 100 approvers" : null;
    };
    if (this.flags.approvers !== undefined) {
      const names = this.flags.approvers.map((name) => name.trim());
      const why = problem(names);
      if (why) throw new InitError(`--approver: ${why}`);
      return names;
    }
    const asked = await this.maybeAsk(true, "Approver names, comma-separated", {
      check: (list) => problem(splitList(list)),
    });
    if (asked === null)
      throw new InitError("--approver NAME is required with --confirmation approval (repeat it for more)");
    return splitList(asked);
  }

  /** A password typed twice without echo at a terminal, else one line of stdin; only its hash is kept. */
  private async password(name: string): Promise<string> {
    const { prompter, terminal } = this.sources;
    try {
      for (;;) {
        const password = await prompter.askSecret(`Password for approver ${name}`);
        if (!terminal) {
          if (password === "")
            throw new InitError(`the password line for approver ${name} on stdin is empty`);
          return password;
        }
        if (password === "") {
          prompter.say("  the password must not be empty");
          continue;
        }
        if ((await prompter.askSecret(`Password for approver ${name}, again`)) === password) return password;
        prompter.say("  the two passwords differ; once more");
      }
    } catch (error) {
      if (error instanceof PromptClosed && error.why === "end of input" && !terminal)
        throw new InitError(
          `no password for approver ${name} on stdin: give one line per --approver, in order (never as a flag)`,
        );
      throw error;
    }
  }

  async stateDir(configPath: string): Promise<string> {
    const fallback = join(dirname(configPath), ".deletegate");
    const given =
      this.flags.stateDir ??
      (await this.maybeAsk(false, "Directory for the store and audit log", { fallback, check: nonEmpty })) ??
      fallback;
    return resolve(this.sources.cwd, checked("state-dir", given, nonEmpty));
  }

  /** Every answer, in the order a person is asked them. */
  async collect(): Promise<{ configPath: string; answers: StarterAnswers }> {
    const configPath = await this.configPath();
    const kind = await this.kind();
    const backendName = await this.backendName(kind);
    const baseUrl = await this.baseUrl(kind);
    const kindOptions = await this.kindOptions(kind);
    const allowTargets = await this.allowTargets(kind);
    const credentialEnv = await this.credentialEnv(kind);
    const mode = await this.mode();
    const approval = await this.approval(mode);
    const stateDir = await this.stateDir(configPath);
    return {
      configPath,
      answers: {
        kind,
        backendName,
        baseUrl,
        kindOptions,
        allowTargets,
        credentialEnv,
        mode,
        approvers: approval.approvers,
        approvalsRequired: approval.required,
        publicUrl: approval.publicUrl,
        stateDir,
      },
    };
  }
}

function nonEmpty(text: string): string | null {
  return text.trim() === "" ? "must not be empty" : null;
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
