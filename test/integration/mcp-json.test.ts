// The repo's mcp.json works from any directory (issue 15): expanded as Claude Code expands MCP configs, it starts
// the server on the demo config from a client started elsewhere (DELETEGATE_REPO set) and from the repo root.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the clients' ${VAR} syntax is the subject here
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { FIXTURES } from "../../tools/simulators/index.js";
import { tempDir } from "./harness.js";

const ROOT = resolve(import.meta.dirname, "../..");

interface Entry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Claude Code's expansion in MCP configs: `${VAR}` and `${VAR:-default}`; an unset `${VAR}` stays as written. */
function expand(text: string, env: Record<string, string | undefined>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback?: string) => {
      const value = env[name];
      if (value !== undefined && value !== "") return value;
      return fallback ?? whole;
    },
  );
}

function entry(env: Record<string, string | undefined>): Entry {
  const raw = JSON.parse(readFileSync(resolve(ROOT, "mcp.json"), "utf8")).mcpServers.deletegate as Entry;
  return {
    command: expand(raw.command, env),
    args: raw.args.map((arg) => expand(arg, env)),
    env: Object.fromEntries(Object.entries(raw.env).map(([key, value]) => [key, expand(value, env)])),
  };
}

async function backendsVia(server: Entry, cwd: string): Promise<string[]> {
  // `node` as a client finds it: on PATH.
  const transport = new StdioClientTransport({
    command: server.command,
    args: server.args,
    cwd,
    env: { PATH: process.env.PATH ?? "", ...server.env },
    stderr: "pipe",
  });
  const client = new Client({ name: "mcp-json-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: "list_backends", arguments: {} });
    expect(result.isError).toBeFalsy();
    return (result.structuredContent as { backends: { name: string }[] }).backends.map(
      (backend) => backend.name,
    );
  } finally {
    await client.close();
  }
}

describe("mcp.json", () => {
  it("expands as Claude Code does", () => {
    expect(expand("${A:-.}/x", {})).toBe("./x");
    expect(expand("${A:-.}/x", { A: "/repo" })).toBe("/repo/x");
    expect(expand("${A}/x", {})).toBe("${A}/x");
  });

  it("starts the demo server from another directory when DELETEGATE_REPO names the checkout", async () => {
    const server = entry({ DELETEGATE_REPO: ROOT });
    const elsewhere = tempDir();
    // The demo config's backends, one per kind in the simulators' registry (examples/ is written from it).
    expect(await backendsVia(server, elsewhere)).toEqual(FIXTURES.map((fixture) => fixture.demo.backend));
    // The demo's relative store and audit log land beside its config, not in the client's directory.
    const check = spawnSync(
      server.command,
      [server.args[0] as string, "check-config", ...server.args.slice(1)],
      {
        cwd: elsewhere,
        env: { PATH: process.env.PATH ?? "", ...server.env },
        encoding: "utf8",
      },
    );
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain(`store: sqlite:${resolve(ROOT, "examples/.deletegate/state.db")}`);
    expect(check.stdout).toContain(`audit log: ${resolve(ROOT, "examples/.deletegate/audit.jsonl")}`);
  });

  it("starts it from the repo root with nothing set", async () => {
    expect(await backendsVia(entry({}), ROOT)).toHaveLength(FIXTURES.length);
  });
});
