// The approval part of `deletegate init`: approvers, each password (without echo, or a stdin line) kept only as
// its scrypt hash, how many must approve, and the console's origin.
import { approverName, type ConfiguredMode, DEFAULT_CONSOLE_ORIGIN, MAX_APPROVERS } from "../config.js";
import { Asker, checked, httpUrlProblem, InitError, schemaProblem, splitList } from "./asking.js";
import { PromptClosed } from "./prompt.js";
import type { ApproverAnswer } from "./starter-config.js";

export interface ApprovalAnswers {
  approvers: ApproverAnswer[];
  required: number;
  publicUrl: string | null;
}

const nameProblem = schemaProblem(approverName);

export class ApprovalCollector extends Asker {
  /** Approvers with their password hashes; flags of approval mode without it are refused. */
  async collect(mode: ConfiguredMode): Promise<ApprovalAnswers> {
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
            `Console origin for approvers' browsers (Enter: ${DEFAULT_CONSOLE_ORIGIN}, deletegate console)`,
            { fallback: "", check: (text) => (text === "" ? null : httpUrlProblem(text)) },
          );
    return { approvers, required: Number(required), publicUrl: publicUrl || null };
  }

  private async approverNames(): Promise<string[]> {
    const problem = (names: string[]) => {
      if (names.length === 0) return "name at least one approver";
      for (const name of names) {
        const why = nameProblem(name);
        if (why) return `approver ${JSON.stringify(name)}: ${why}`;
      }
      if (new Set(names).size !== names.length) return "name each approver once";
      return names.length > MAX_APPROVERS ? `at most ${MAX_APPROVERS} approvers` : null;
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
}
