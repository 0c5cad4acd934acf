// What `deletegate init` writes, value by value: from its flag, else asked, else the default (or exit 2 when a
// required value is missing and nobody can be asked).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BACKEND_KINDS, type BackendKind, kindNamed } from "../backends/index.js";
import {
  backendName,
  CONFIGURED_MODES,
  type ConfiguredMode,
  DEFAULT_CONFIG_PATH,
  envName,
} from "../config.js";
import { ApprovalCollector } from "./approval-answers.js";
import { Asker, checked, httpUrlProblem, InitError, nonEmpty, schemaProblem, splitList } from "./asking.js";
import { flagOf } from "./flags.js";
import { type KindKey, kindKeyProblem, kindKeys, modeLines, type StarterAnswers } from "./starter-config.js";

export class AnswerCollector extends Asker {
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
    const problem = schemaProblem(backendName);
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
    const problem = schemaProblem(envName);
    if (this.flags.credentialEnv !== undefined)
      return checked("credential-env", this.flags.credentialEnv, problem);
    const fallback = kind.credentialEnv;
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
    if (this.sources.ask === "all") {
      this.sources.prompter.say(
        ["Confirmation modes (who says yes to a delete):", ...modeLines("  ")].join("\n"),
      );
    }
    const asked = await this.maybeAsk(false, `Confirmation mode (${CONFIGURED_MODES.join(", ")})`, {
      fallback: "auto",
      check: problem,
    });
    return (asked ?? "auto") as ConfiguredMode;
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
    const approval = await new ApprovalCollector(this.sources).collect(mode);
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
