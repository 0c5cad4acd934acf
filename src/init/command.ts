// `deletegate init`: collects the answers, writes the starter config (never over an existing file), prints the snippets.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { DEFAULT_CONSOLE_ORIGIN } from "../config.js";
import { AnswerCollector } from "./answers.js";
import { type AskMode, InitError } from "./asking.js";
import { initUsage, parseInitFlags } from "./flags.js";
import { PromptClosed, Prompter } from "./prompt.js";
import { clientSnippets, NPX_ALLOW_SCRIPTS, PACKAGE_NAME, shellQuote } from "./snippets.js";
import { type StarterAnswers, starterConfig, starterConfigProblem } from "./starter-config.js";

export interface InitIO {
  /** The arguments after `init`. */
  args: string[];
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  /** Questions and errors. */
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether a person answers at a terminal; default: stdin is a TTY. */
  terminal?: boolean;
  hashPassword: (password: string) => Promise<string>;
}

function askMode(terminal: boolean, yes: boolean, kindGiven: boolean): AskMode {
  if (!terminal || yes) return "none";
  return kindGiven ? "required" : "all";
}

/** What to run next and where the state goes, before the snippets. */
function summary(configPath: string, answers: StarterAnswers): string {
  const lines = [
    `wrote ${configPath}: backend ${answers.backendName} (${answers.kind.kind} at ${answers.baseUrl}), ` +
      `confirmation ${answers.mode}`,
    `store and audit log: ${answers.stateDir} (created at the first start)`,
    "",
    `Check it, with the backend's key in ${answers.credentialEnv}:`,
    `  npx -y ${NPX_ALLOW_SCRIPTS} ${PACKAGE_NAME} check-config --config ${shellQuote(configPath)}`,
  ];
  if (answers.mode === "approval") {
    const origin = answers.publicUrl ?? DEFAULT_CONSOLE_ORIGIN;
    lines.push(
      "",
      `Approvers sign in at ${origin}/console/: with a stdio client, run the console beside it on the same store:`,
      `  npx -y ${NPX_ALLOW_SCRIPTS} ${PACKAGE_NAME} console --config ${shellQuote(configPath)}`,
    );
  }
  return lines.join("\n");
}

/** Runs `deletegate init`; resolves to the exit status. */
export async function runInit(io: InitIO): Promise<number> {
  const fail = (message: string, code: number) => {
    io.stderr.write(`deletegate init: ${message}\n`);
    return code;
  };
  let flags: ReturnType<typeof parseInitFlags>;
  try {
    flags = parseInitFlags(io.args);
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${initUsage()}`, 2);
  }
  if (flags.help) {
    io.stdout.write(`${initUsage()}\n`);
    return 0;
  }
  const terminal = io.terminal ?? io.stdin.isTTY === true;
  const prompter = new Prompter({ input: io.stdin, output: io.stderr });
  const collector = new AnswerCollector({
    flags,
    ask: askMode(terminal, flags.yes, flags.kind !== undefined),
    prompter,
    terminal,
    cwd: io.cwd,
    env: io.env,
    hashPassword: io.hashPassword,
  });
  let collected: Awaited<ReturnType<AnswerCollector["collect"]>>;
  try {
    collected = await collector.collect();
  } catch (error) {
    if (error instanceof InitError) return fail(error.message, 2);
    if (error instanceof PromptClosed)
      return fail(`${error.message}; nothing written`, error.why === "interrupted" ? 130 : 2);
    throw error;
  } finally {
    prompter.close();
  }
  const { configPath, answers } = collected;
  const config = starterConfig(answers);
  // The server's own parser has the last word: init never writes a config that check-config would refuse.
  const problem = starterConfigProblem(config, answers.credentialEnv);
  if (problem) return fail(`the config would be invalid, nothing written:\n${problem}`, 2);
  try {
    mkdirSync(dirname(configPath), { recursive: true });
    // `wx`: a file that appeared since the first check is not overwritten either. Approver hashes: owner only.
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`, {
      flag: "wx",
      mode: answers.approvers.length > 0 ? 0o600 : 0o644,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return fail(`${configPath} already exists; init never overwrites a config`, 2);
    return fail(`cannot write ${configPath}: ${(error as Error).message}`, 1);
  }
  io.stdout.write(
    `${summary(configPath, answers)}\n\n${clientSnippets({ configPath, credentialEnvs: [answers.credentialEnv] })}\n`,
  );
  return 0;
}
