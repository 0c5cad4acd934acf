// The client snippets `deletegate init` prints: each client's format, npx on the config's absolute path, no secret.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  claudeCodeCommand,
  claudeDesktopConfig,
  clientSnippets,
  cursorConfig,
  placeholder,
  STDIO_TOKEN_WARNING,
  shellQuote,
  vscodeConfig,
} from "../../src/init/snippets.js";

const SETUP = { configPath: "/srv/ops/deletegate.config.json", credentialEnvs: ["SPLENDOR_TOKEN"] };
const NPX = {
  command: "npx",
  args: ["-y", "--allow-scripts=better-sqlite3", "deletegate", "--config", SETUP.configPath],
};

/** The words a POSIX shell makes of `line`, one argument per printed line. */
function shellWords(line: string): string[] {
  const printed = spawnSync("sh", ["-c", `printf '%s\\n' ${line}`], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", SPLENDOR_TOKEN: "from-the-shell" },
  });
  expect(printed.status).toBe(0);
  return printed.stdout.replace(/\n$/, "").split("\n");
}

describe("client snippets", () => {
  it("Claude Desktop and Cursor: an mcpServers entry running npx -y deletegate with a placeholder key", () => {
    for (const build of [claudeDesktopConfig, cursorConfig]) {
      expect(build(SETUP)).toEqual({
        mcpServers: { deletegate: { ...NPX, env: { SPLENDOR_TOKEN: "<your SPLENDOR_TOKEN>" } } },
      });
    }
  });

  it("VS Code: servers with type stdio, and the key from a password input, never in the file", () => {
    expect(vscodeConfig({ ...SETUP, credentialEnvs: ["SPLENDOR_TOKEN", "PIIANO_API_KEY"] })).toEqual({
      inputs: [
        {
          type: "promptString",
          id: "splendor-token",
          description: "SPLENDOR_TOKEN for deletegate",
          password: true,
        },
        {
          type: "promptString",
          id: "piiano-api-key",
          description: "PIIANO_API_KEY for deletegate",
          password: true,
        },
      ],
      servers: {
        deletegate: {
          type: "stdio",
          ...NPX,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: VS Code's own ${input:id} syntax, literally
          env: { SPLENDOR_TOKEN: "${input:splendor-token}", PIIANO_API_KEY: "${input:piiano-api-key}" },
        },
      },
    });
  });

  it("Claude Code: one command line a shell reads back as the intended arguments", () => {
    const setup = { ...SETUP, configPath: "/Users/o'neil/My Configs/deletegate.config.json" };
    const line = claudeCodeCommand(setup);
    expect(line.startsWith("claude mcp add deletegate --transport stdio ")).toBe(true);
    // The key comes from the shell running the line; the printed line holds only the variable's name.
    expect(shellWords(line)).toEqual([
      "claude",
      "mcp",
      "add",
      "deletegate",
      "--transport",
      "stdio",
      "--env",
      "SPLENDOR_TOKEN=from-the-shell",
      "--",
      "npx",
      "-y",
      "--allow-scripts=better-sqlite3",
      "deletegate",
      "--config",
      setup.configPath,
    ]);
  });

  it("shellQuote leaves plain words bare and quotes everything else so it reads back unchanged", () => {
    expect(shellQuote("/srv/ops/deletegate.config.json")).toBe("/srv/ops/deletegate.config.json");
    for (const word of ["a b", "it's", "$HOME", "`x`", "*", 'a"b', ""]) {
      expect(shellWords(shellQuote(word))).toEqual([word]);
    }
  });

  it("the full text names every client, warns about HTTP token variables and holds no secret", () => {
    const text = clientSnippets(SETUP);
    for (const client of ["Claude Desktop", "Claude Code", "VS Code", "Cursor"])
      expect(text).toContain(`== ${client}`);
    expect(text).toContain(`warning: ${STDIO_TOKEN_WARNING}`);
    expect(STDIO_TOKEN_WARNING).toContain("http.tokens");
    expect(text).toContain(placeholder("SPLENDOR_TOKEN"));
    // Every JSON block is valid JSON and carries the absolute config path.
    const blocks = text.split("\n== ").slice(1);
    const json = blocks.filter((block) => !block.startsWith("Claude Code"));
    expect(json).toHaveLength(3);
    for (const block of json) {
      const body = block.slice(block.indexOf("\n{") + 1);
      expect(JSON.stringify(JSON.parse(body))).toContain(SETUP.configPath);
    }
  });
});
