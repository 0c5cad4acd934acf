// docs/install.md names exactly the flags `deletegate init` takes, and its snippets are the ones init prints.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { initFlagNames } from "../../src/init/flags.js";
import {
  claudeCodeCommand,
  claudeDesktopConfig,
  cursorConfig,
  vscodeConfig,
} from "../../src/init/snippets.js";

const DOC = readFileSync(resolve(import.meta.dirname, "../../docs/install.md"), "utf8");
const SETUP = {
  configPath: "/home/me/deletegate/deletegate.config.json",
  credentialEnvs: ["SPLENDOR_TOKEN"],
};

/** The fenced blocks of `language` in the doc, in order. */
function blocks(language: string): string[] {
  return [...DOC.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, "g"))].map(
    (match) => match[1] as string,
  );
}

describe("docs/install.md", () => {
  it("lists every init flag in its table, and no other", () => {
    const start = DOC.indexOf("<!-- init-flags");
    const end = DOC.indexOf("<!-- /init-flags -->");
    expect(start).toBeGreaterThan(0);
    const table = DOC.slice(start, end);
    const documented = [...table.matchAll(/^\| `--([a-z-]+)/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(initFlagNames().sort());
  });

  it("shows the client snippets init prints, for its example path", () => {
    const json = blocks("json").map((block) => JSON.parse(block));
    expect(json).toContainEqual(claudeDesktopConfig(SETUP));
    expect(json).toContainEqual(vscodeConfig(SETUP));
    expect(json).toContainEqual(cursorConfig(SETUP));
    expect(blocks("sh").map((block) => block.trim())).toContain(claudeCodeCommand(SETUP));
  });
});
