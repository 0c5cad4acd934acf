// The questions of `deletegate init` at a terminal: a password is neither echoed nor kept where a later question
// can bring it back (readline's history, recalled with the up arrow).
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Prompter } from "../../src/init/prompt.js";

/** A terminal-like input (readline then reads key by key) and everything written to the person. */
function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true as const });
  let shown = "";
  const output = new PassThrough();
  output.on("data", (chunk: Buffer) => {
    shown += chunk.toString();
  });
  return { input, output, shown: () => shown };
}

describe("init's prompt at a terminal", () => {
  it("never shows a password again: not as typed, nor recalled with the up arrow at a later question", async () => {
    const tty = terminal();
    const prompter = new Prompter(tty);
    const secret = prompter.askSecret("Password for alice");
    tty.input.write("hunter2-secret\r");
    expect(await secret).toBe("hunter2-secret");
    const next = prompter.ask("Console origin", { fallback: "http://127.0.0.1:8809" });
    // The up arrow, then Enter: with the password in the history this would answer (and show) it.
    tty.input.write("\x1b[A");
    tty.input.write("\r");
    expect(await next).toBe("http://127.0.0.1:8809");
    prompter.close();
    expect(tty.shown()).not.toContain("hunter2");
  });
});
