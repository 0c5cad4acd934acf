// Questions for `deletegate init`: asked on stderr (stdout carries the result), answered on stdin, a password
// without echo. The streams are injected so tests can answer without a terminal.
import { createInterface, type Interface } from "node:readline";
import { Writable } from "node:stream";

export interface PromptStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
}

/** The person ended the questions (Ctrl-C, or end of input): nothing is written. */
export class PromptClosed extends Error {
  constructor(readonly why: "interrupted" | "end of input") {
    super(why === "interrupted" ? "interrupted" : "input ended before every question was answered");
    this.name = "PromptClosed";
  }
}

export class Prompter {
  private muted = false;
  private closed: PromptClosed | null = null;
  private readonly rl: Interface;
  /** Lines in order, buffered: piped answers that arrive before their question are kept, not dropped. */
  private readonly lines: AsyncIterator<string>;
  private readonly interrupted: Promise<never>;

  constructor(private readonly streams: PromptStreams) {
    // Prompts and echo go through this stream, so a password's echo can be held back while its prompt is shown.
    const echo = new Writable({
      write: (chunk, _encoding, done) => {
        if (!this.muted) streams.output.write(chunk);
        done();
      },
    });
    // On a terminal readline reads key by key (raw mode, so the terminal itself echoes nothing) and echoes
    // through `echo`; elsewhere it reads lines. No history: it would keep a password, and the up arrow at a later
    // question would show it.
    this.rl = createInterface({
      input: streams.input,
      output: echo,
      terminal: streams.input.isTTY === true,
      historySize: 0,
    });
    this.lines = this.rl[Symbol.asyncIterator]();
    this.interrupted = new Promise<never>((_, reject) => {
      this.rl.once("SIGINT", () => reject(new PromptClosed("interrupted")));
    });
    this.interrupted.catch(() => undefined);
  }

  private async line(prompt: string): Promise<string> {
    if (this.closed) throw this.closed;
    this.rl.setPrompt(prompt);
    this.rl.prompt();
    try {
      const next = await Promise.race([this.lines.next(), this.interrupted]);
      if (next.done) throw new PromptClosed("end of input");
      return next.value;
    } catch (error) {
      if (error instanceof PromptClosed) {
        this.closed = error;
        this.rl.close();
      }
      throw error;
    }
  }

  /** Asks until `check` accepts the answer (an empty answer takes `fallback` when there is one). */
  async ask(
    question: string,
    options: { fallback?: string; check?: (answer: string) => string | null } = {},
  ): Promise<string> {
    const shown = options.fallback ? `${question} [${options.fallback}]: ` : `${question}: `;
    for (;;) {
      const typed = (await this.line(shown)).trim();
      const answer = typed === "" && options.fallback !== undefined ? options.fallback : typed;
      const problem = options.check?.(answer) ?? null;
      if (problem === null) return answer;
      this.streams.output.write(`  ${problem}\n`);
    }
  }

  /** Asks for a secret without echoing it: only the prompt and a line break reach the output. */
  async askSecret(question: string): Promise<string> {
    this.streams.output.write(`${question}: `);
    this.muted = true;
    try {
      return await this.line("");
    } finally {
      this.muted = false;
      this.streams.output.write("\n");
    }
  }

  /** Writes a line of explanation between questions. */
  say(text: string): void {
    this.streams.output.write(`${text}\n`);
  }

  close(): void {
    this.closed ??= new PromptClosed("end of input");
    this.rl.close();
  }
}
