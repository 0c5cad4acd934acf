// How `deletegate init` gets one value: its flag, else a question when someone can answer, else its default.
import type { z } from "zod";
import { httpUrl } from "../config.js";
import type { InitFlags } from "./flags.js";
import type { Prompter } from "./prompt.js";

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

/** A check of one value by a schema of the config's: its first problem, or null when the config would take it. */
export function schemaProblem(schema: z.ZodType): (value: string) => string | null {
  return (value) => schema.safeParse(value).error?.issues[0]?.message ?? null;
}

/** Why `text` is not an http(s) URL (as the config's URLs must be), or null when it is. */
export const httpUrlProblem = schemaProblem(httpUrl);

/** `check`'s verdict on a flag's value, as an InitError naming the flag. */
export function checked(flag: string, value: string, check: (value: string) => string | null): string {
  const problem = check(value);
  if (problem) throw new InitError(`--${flag} ${problem} (got "${value}")`);
  return value;
}

/** Gets values from the flags and, where the ask mode allows, from the person; the collectors build on it. */
export class Asker {
  constructor(readonly sources: AnswerSources) {}

  get flags(): InitFlags {
    return this.sources.flags;
  }

  /** Asks when the mode allows it for a value that is `required` or not; null when nobody is asked. */
  async maybeAsk(
    required: boolean,
    question: string,
    options: { fallback?: string; check?: (answer: string) => string | null },
  ): Promise<string | null> {
    const { ask, prompter } = this.sources;
    if (ask === "all" || (ask === "required" && required)) return prompter.ask(question, options);
    return null;
  }
}

/** "must not be empty" for a blank answer. */
export function nonEmpty(text: string): string | null {
  return text.trim() === "" ? "must not be empty" : null;
}

/** A comma-separated answer as its non-empty items. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
