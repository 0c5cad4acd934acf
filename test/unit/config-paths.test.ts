// Relative store and audit paths in a config file resolve against the file's own directory, not the process's cwd.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config.js";

const ENV = { SPLENDOR_TOKEN: "sk-test-paths" };
const BACKENDS = {
  "splendor-prod": {
    kind: "splendor",
    baseUrl: "https://api.withsplendor.com",
    credentialEnv: "SPLENDOR_TOKEN",
    tenantId: "acme",
  },
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` as ops/deletegate.config.json under a new temp dir; returns the file's path and its dir. */
function configFile(content: Record<string, unknown>): { path: string; dir: string } {
  const root = mkdtempSync(join(tmpdir(), "deletegate-paths-"));
  dirs.push(root);
  const dir = join(root, "ops");
  mkdirSync(dir);
  const path = join(dir, "deletegate.config.json");
  writeFileSync(path, JSON.stringify({ ...content, backends: BACKENDS }));
  return { path, dir };
}

describe("relative paths in a config file", () => {
  it("resolve against the config file's directory, whatever the cwd", () => {
    const { path, dir } = configFile({ store: "sqlite:./state/deletegate.db", auditLog: "logs/audit.jsonl" });
    // A relative --config path too: it is read from the cwd, and its directory is the base.
    for (const given of [path, relative(process.cwd(), path)]) {
      const config = loadConfig(given, ENV);
      expect(config.store).toBe(`sqlite:${join(dir, "state", "deletegate.db")}`);
      expect(config.auditLog).toBe(join(dir, "logs", "audit.jsonl"));
    }
  });

  it("apply to the defaults: a .deletegate/ beside the config file", () => {
    const { path, dir } = configFile({});
    const config = loadConfig(path, ENV);
    expect(config.store).toBe(`sqlite:${join(dir, ".deletegate", "state.db")}`);
    expect(config.auditLog).toBe(join(dir, ".deletegate", "audit.jsonl"));
  });

  it("leave absolute paths, stderr, memory, :memory: and redis:// as they are", () => {
    const absolute = configFile({
      store: "sqlite:/var/lib/deletegate/state.db",
      auditLog: "/var/log/dg.jsonl",
    });
    expect(loadConfig(absolute.path, ENV)).toMatchObject({
      store: "sqlite:/var/lib/deletegate/state.db",
      auditLog: "/var/log/dg.jsonl",
    });
    for (const store of ["memory", "sqlite::memory:", "redis://127.0.0.1:6379"]) {
      const { path } = configFile({ store, auditLog: "stderr" });
      expect(loadConfig(path, ENV)).toMatchObject({ store, auditLog: "stderr" });
    }
  });

  it("stay relative in an inline config, which has no file to be beside", () => {
    const config = parseConfig({ store: "sqlite:./s.db", auditLog: "./a.jsonl", backends: BACKENDS }, ENV);
    expect(config).toMatchObject({ store: "sqlite:./s.db", auditLog: "./a.jsonl" });
  });
});
