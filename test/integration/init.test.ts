// `deletegate init` through the built CLI: from flags, then check-config on what it wrote; no overwrite; bad flags;
// passwords from stdin (real scrypt); and a person answering at a real pseudo-terminal (util-linux `script`).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyPassword } from "../../src/approval/password.js";
import { CLI, tempDir } from "./harness.js";

function run(args: string[], options: { cwd?: string; input?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    input: options.input ?? "",
    env: { PATH: process.env.PATH ?? "", ...options.env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `deletegate init --config <path>` at a real pseudo-terminal (`script`); its output is what the screen shows. */
function atTerminal(dir: string, path: string) {
  const child = spawn(
    "script",
    ["-q", "-e", "-c", `"${process.execPath}" "${CLI}" init --config "${path}"`, "/dev/null"],
    {
      env: { PATH: process.env.PATH ?? "", TERM: "dumb", HOME: dir },
    },
  );
  let screen = "";
  child.stdout.on("data", (chunk: Buffer) => {
    screen += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.on("close", done));
  let from = 0;
  /** Waits for `text` on the screen (after what was already answered), then types `keys`. */
  const typeAfter = async (text: string, keys: string) => {
    const deadline = Date.now() + 15_000;
    while (screen.indexOf(text, from) < 0) {
      if (Date.now() > deadline) {
        child.kill();
        throw new Error(`no "${text}" on the screen:\n${screen}`);
      }
      await new Promise((done) => setTimeout(done, 20));
    }
    from = screen.indexOf(text, from) + text.length;
    child.stdin.write(keys);
  };
  return { child, screen: () => screen, exited, typeAfter };
}

describe("deletegate init", () => {
  it("from flags writes a config that check-config accepts from another directory, and prints the snippets", () => {
    const dir = tempDir();
    const init = run(["init", "--kind", "splendor", "--tenant-id", "acme", "--allow-target", "app-logs"], {
      cwd: dir,
    });
    expect(init.code, init.stderr).toBe(0);
    const path = join(dir, "deletegate.config.json");
    expect(init.stdout).toContain(`wrote ${path}`);
    const desktop = init.stdout.slice(init.stdout.indexOf("{", init.stdout.indexOf("== Claude Desktop")));
    const entry = JSON.parse(desktop.slice(0, desktop.indexOf("\n}\n") + 2)).mcpServers.deletegate;
    expect(entry).toEqual({
      command: "npx",
      args: ["-y", "--allow-scripts=better-sqlite3", "deletegate", "--config", path],
      env: { SPLENDOR_TOKEN: "<your SPLENDOR_TOKEN>" },
    });
    expect(init.stdout).toContain(
      "warning: The HTTP token variables (http.tokens[].tokenEnv) are not needed for stdio",
    );

    // Run from elsewhere: the absolute paths in the file do not depend on the cwd.
    const check = run(["check-config", "--config", path], { cwd: tempDir(), env: { SPLENDOR_TOKEN: "k" } });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(`store: sqlite:${join(dir, ".deletegate", "state.db")}`);
    expect(check.stdout).toContain(`audit log: ${join(dir, ".deletegate", "audit.jsonl")}`);
    expect(check.stdout).toContain("splendor (splendor) https://api.withsplendor.com");
    expect(check.stdout).toContain("config OK");
  });

  it("never overwrites an existing file (exit 2), and refuses a bad flag with its usage (exit 2)", () => {
    const dir = tempDir();
    const path = join(dir, "deletegate.config.json");
    writeFileSync(path, '{"mine": true}');
    const again = run(["init", "--kind", "moorcheh", "--config", path]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(
      `deletegate init: ${path} already exists; init never overwrites a config (choose another --config)\n`,
    );
    expect(readFileSync(path, "utf8")).toBe('{"mine": true}');

    const flag = run(["init", "--kind", "moorcheh", "--frobnicate"], { cwd: dir });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("--frobnicate");
    expect(flag.stderr).toContain("deletegate init — write a starter config");
    expect(flag.stdout).toBe("");
    const misplaced = run(["--config", path, "init"]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain("init comes first");
    const help = run(["init", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--credential-env VAR");
    expect(run(["--help"]).stdout).toContain("deletegate init [flags]");
  });

  it("approval: passwords as stdin lines become scrypt hashes that verify; no password anywhere else", async () => {
    const dir = tempDir();
    const init = run(
      [
        "init",
        "--kind",
        "moorcheh",
        "--confirmation",
        "approval",
        "--approver",
        "alice",
        "--approver",
        "bob",
      ],
      { cwd: dir, input: "alice-Secret-1\nbob-Secret-2\n" },
    );
    expect(init.code, init.stderr).toBe(0);
    const path = join(dir, "deletegate.config.json");
    const text = readFileSync(path, "utf8");
    expect(`${text}${init.stdout}${init.stderr}`).not.toMatch(/Secret-\d/);
    // Approver hashes are readable by their owner only.
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const [alice, bob] = JSON.parse(text).approval.approvers;
    expect(await verifyPassword("alice-Secret-1", alice.passwordHash)).toBe(true);
    expect(await verifyPassword("bob-Secret-2", bob.passwordHash)).toBe(true);
    expect(await verifyPassword("bob-Secret-2", alice.passwordHash)).toBe(false);
    const check = run(["check-config", "--config", path], { env: { MOORCHEH_API_KEY: "k" } });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain("approval: 1 of 2 approver(s) (alice, bob)");
  });

  it("asks a person at a pseudo-terminal, without echoing the password", async () => {
    const dir = tempDir();
    const path = join(dir, "dg.json");
    const { screen, exited, typeAfter } = atTerminal(dir, path);
    // Each answer is typed once its question is on the screen, as a person would.
    const steps: [string, string][] = [
      ["Backend kind (", "langsmith"],
      ["Backend name [langsmith]: ", ""],
      ["Base URL of the langsmith API [https://api.smith.langchain.com]: ", "http://127.0.0.1:8703"],
      ["langsmith tenantId (optional, Enter to skip): ", ""],
      ["Environment variable that will hold its key [LANGSMITH_API_KEY]: ", "LS_KEY"],
      ["Confirmation mode (token, human, approval, auto) [auto]: ", "approval"],
      ["Approver names, comma-separated: ", "carol"],
      ["Password for approver carol: ", "Pty-Secret-77"],
      ["Password for approver carol, again: ", "Pty-Secret-77"],
      ["Console origin for approvers' browsers", ""],
      ["Directory for the store and audit log [", ""],
    ];
    for (const [question, answer] of steps) await typeAfter(question, `${answer}\r`);
    expect(await exited).toBe(0);
    expect(screen()).not.toContain("Pty-Secret-77");
    expect(screen()).toContain(
      `wrote ${path}: backend langsmith (langsmith at http://127.0.0.1:8703), confirmation approval`,
    );
    expect(existsSync(path)).toBe(true);
    const config = JSON.parse(readFileSync(path, "utf8"));
    expect(config.backends.langsmith).toEqual({
      kind: "langsmith",
      baseUrl: "http://127.0.0.1:8703",
      credentialEnv: "LS_KEY",
    });
    expect(await verifyPassword("Pty-Secret-77", config.approval.approvers[0].passwordHash)).toBe(true);
    const check = run(["check-config", "--config", path], { env: { LS_KEY: "k" } });
    expect(check.code, check.stderr).toBe(0);
  });

  it("Ctrl-C at a question ends it with exit 130 and writes nothing", async () => {
    const dir = tempDir();
    const path = join(dir, "dg.json");
    const { screen, exited, typeAfter } = atTerminal(dir, path);
    await typeAfter("Backend kind (", "moorcheh\r");
    await typeAfter("Backend name [moorcheh]: ", "\x03");
    expect(await exited).toBe(130);
    expect(screen()).toContain("deletegate init: interrupted; nothing written");
    expect(existsSync(path)).toBe(false);
  });
});
