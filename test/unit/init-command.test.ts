// `deletegate init` in-process with injected streams: the starter config per kind, the questions a person answers,
// and the refusals (missing values, bad values, an existing file, input that ends early).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { envName, loadConfig } from "../../src/config.js";
import { runInit } from "../../src/init/command.js";
import { kindKeys, starterConfig, starterConfigProblem } from "../../src/init/starter-config.js";
import { FIXTURES } from "../../tools/simulators/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "deletegate-init-"));
  dirs.push(dir);
  return dir;
}

/** A cheap stand-in for scrypt, so these tests stay fast; the CLI test uses the real one. */
const fakeHash = async (password: string) =>
  `scrypt$1024$8$1$${Buffer.from("salt-salt-salt-s").toString("base64url")}$${Buffer.from(password.padEnd(32, "_")).toString("base64url")}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs init with `args`; `answers` are typed lines (a person at a terminal when `terminal`). */
async function init(
  args: string[],
  options: { cwd?: string; answers?: string[]; terminal?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk) => {
    out += chunk;
  });
  stderr.on("data", (chunk) => {
    err += chunk;
  });
  stdin.end(options.answers ? `${options.answers.join("\n")}\n` : "");
  const code = await runInit({
    args,
    stdin,
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? tempDir(),
    terminal: options.terminal ?? false,
    hashPassword: fakeHash,
  });
  return { code, stdout: out, stderr: err };
}

function written(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8"));
}

describe("the registry", () => {
  it("gives every registered kind a credential variable of its own, which the config takes", () => {
    const variables = Object.values(BACKEND_KINDS).map((kind) => kind.credentialEnv);
    expect(new Set(variables).size).toBe(variables.length);
    for (const variable of variables) expect(envName.safeParse(variable).success, variable).toBe(true);
    for (const fixture of FIXTURES)
      expect(fixture.credentialEnv).toBe(BACKEND_KINDS[fixture.kind]?.credentialEnv);
  });

  it("reads each kind's own keys from its config schema", () => {
    const splendor = kindKeys(BACKEND_KINDS.splendor as never);
    expect(splendor.map(({ key, required }) => ({ key, required }))).toEqual([
      { key: "tenantId", required: true },
    ]);
    const piiano = kindKeys(BACKEND_KINDS["piiano-vault"] as never);
    const accessReason = piiano.find((entry) => entry.key === "accessReason");
    expect(accessReason).toMatchObject({ required: false, fallback: "Other" });
    expect(accessReason?.choices).toContain("DataSubjectRequest");
    expect(piiano.find((entry) => entry.key === "tenantId")).toMatchObject({
      required: false,
      choices: null,
    });
  });
});

describe("init from flags", () => {
  it("writes, for every kind, a config the server accepts, with absolute paths and no secret", async () => {
    for (const kind of Object.values(BACKEND_KINDS)) {
      const cwd = tempDir();
      const required = kindKeys(kind).filter((entry) => entry.required);
      const args = [
        "--kind",
        kind.kind,
        ...required.flatMap((entry) => [
          `--${entry.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
          "acme",
        ]),
        ...(kind.defaultBaseUrl ? [] : ["--base-url", "http://127.0.0.1:8705"]),
      ];
      const run = await init(args, { cwd });
      expect(run.code, `${kind.kind}: ${run.stderr}`).toBe(0);
      const path = join(cwd, "deletegate.config.json");
      const variable = kind.credentialEnv;
      const config = loadConfig(path, { [variable]: "key" });
      expect(config.store).toBe(`sqlite:${join(cwd, ".deletegate", "state.db")}`);
      expect(written(path).store).toBe(config.store);
      expect(written(path).auditLog).toBe(join(cwd, ".deletegate", "audit.jsonl"));
      expect(config.backends[kind.kind]).toMatchObject({ kind: kind.kind, credentialEnv: variable });
      expect(run.stdout).toContain(`"${path}"`);
      expect(run.stdout).toContain(`<your ${variable}>`);
    }
  });

  it("takes every flag: name, base URL, kind keys, targets, variable, mode, state dir", async () => {
    const cwd = tempDir();
    const run = await init(
      [
        "--config",
        "ops/dg.json",
        "--kind",
        "piiano-vault",
        "--name",
        "vault-eu",
        "--base-url",
        "https://vault.example:8123",
        "--access-reason",
        "DataSubjectRequest",
        "--tenant-id",
        "t1",
        "--allow-target",
        "customers",
        "--allow-target",
        "leads-*",
        "--credential-env",
        "VAULT_EU_KEY",
        "--confirmation",
        "token",
        "--state-dir",
        "state",
      ],
      { cwd },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(written(join(cwd, "ops", "dg.json"))).toEqual({
      store: `sqlite:${join(cwd, "state", "state.db")}`,
      auditLog: join(cwd, "state", "audit.jsonl"),
      confirmation: { mode: "token", ttlSeconds: 900 },
      backends: {
        "vault-eu": {
          kind: "piiano-vault",
          baseUrl: "https://vault.example:8123",
          credentialEnv: "VAULT_EU_KEY",
          accessReason: "DataSubjectRequest",
          tenantId: "t1",
          allowTargets: ["customers", "leads-*"],
        },
      },
    });
  });

  it("approval: each password from its stdin line, kept only as a hash", async () => {
    const cwd = tempDir();
    const run = await init(
      ["--kind", "subworkflow", "--confirmation", "approval", "--approver", "alice", "--approver", "bob"],
      { cwd, answers: ["alice-pw-1", "bob-pw-2"] },
    );
    expect(run.code, run.stderr).toBe(0);
    const text = readFileSync(join(cwd, "deletegate.config.json"), "utf8");
    expect(text).not.toContain("alice-pw-1");
    expect(run.stdout + run.stderr).not.toContain("pw-");
    const approval = written(join(cwd, "deletegate.config.json")).approval as Record<string, unknown>;
    expect(approval).toEqual({
      approvers: [
        { name: "alice", passwordHash: await fakeHash("alice-pw-1") },
        { name: "bob", passwordHash: await fakeHash("bob-pw-2") },
      ],
      required: 1,
    });
    expect(run.stdout).toContain("deletegate console --config");
  });

  it("refuses a missing required value, a bad value and flags that do not apply, writing nothing (exit 2)", async () => {
    const cases: [string[], string][] = [
      [[], "--kind is required: one of splendor, moorcheh, langsmith, subworkflow, piiano-vault"],
      [["--kind", "dropbox"], "--kind must be one of splendor, moorcheh"],
      [["--kind", "splendor"], "--tenant-id is required for kind splendor"],
      [["--kind", "piiano-vault"], "--base-url is required for kind piiano-vault"],
      [["--kind", "moorcheh", "--base-url", "ftp://x"], "--base-url must be an http(s) URL"],
      [["--kind", "moorcheh", "--tenant-id", "x"], "--tenant-id does not apply to kind moorcheh"],
      [
        ["--kind", "piiano-vault", "--base-url", "http://v", "--access-reason", "Fun"],
        "--access-reason must be one of",
      ],
      [["--kind", "langsmith", "--allow-target", "x"], "--allow-target does not apply to kind langsmith"],
      [
        ["--kind", "moorcheh", "--confirmation", "maybe"],
        "--confirmation must be one of token, human, approval, auto",
      ],
      [
        ["--kind", "moorcheh", "--credential-env", "MY-KEY"],
        "--credential-env must be an environment variable name",
      ],
      [["--kind", "moorcheh", "--name", "../x"], "--name must be 1..64 letters"],
      [["--kind", "moorcheh", "--approver", "alice"], "--approver goes with --confirmation approval"],
      [["--kind", "moorcheh", "--confirmation", "approval"], "--approver NAME is required"],
      [
        ["--kind", "moorcheh", "--confirmation", "approval", "--approver", "a"],
        "no password for approver a on stdin",
      ],
      [["--kind", "moorcheh", "--frobnicate"], "Unknown option '--frobnicate'"],
    ];
    for (const [args, message] of cases) {
      const cwd = tempDir();
      const run = await init(args, { cwd });
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toContain(message);
      expect(run.stdout).toBe("");
      expect(existsSync(join(cwd, "deletegate.config.json"))).toBe(false);
    }
    const cwd = tempDir();
    const approvers = await init(
      ["--kind", "moorcheh", "--confirmation", "approval", "--approver", "a", "--approvals-required", "2"],
      { cwd, answers: ["pw"] },
    );
    expect(approvers.code).toBe(2);
    expect(approvers.stderr).toContain("--approvals-required must be a whole number from 1 to 1");
    expect(existsSync(join(cwd, "deletegate.config.json"))).toBe(false);
  });

  it("never overwrites an existing file, the default path or DELETEGATE_CONFIG's", async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, "deletegate.config.json"), "{}");
    const run = await init(["--kind", "moorcheh"], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${join(cwd, "deletegate.config.json")} already exists`);
    expect(readFileSync(join(cwd, "deletegate.config.json"), "utf8")).toBe("{}");
    writeFileSync(join(cwd, "other.json"), "{}");
    const env = await init(["--kind", "moorcheh"], { cwd, env: { DELETEGATE_CONFIG: "other.json" } });
    expect(env.stderr).toContain("other.json already exists");
  });
});

describe("init with a person at a terminal", () => {
  it("asks for each value, taking defaults on Enter and asking again after a wrong answer", async () => {
    const cwd = tempDir();
    const run = await init([], {
      cwd,
      terminal: true,
      answers: [
        "", // config file: the default
        "splendr", // a typo: asked again
        "splendor",
        "logs", // backend name
        "", // base URL: the public API
        "", // tenantId is required: asked again
        "acme",
        "app-logs, crm-*", // allowed targets
        "", // variable: SPLENDOR_TOKEN
        "approval",
        "alice",
        "pw-one",
        "pw-typo", // the second entry differs: both asked again
        "pw-one",
        "pw-one",
        "https://console.example", // public URL
        "", // state dir: the default
      ],
    });
    expect(run.code, run.stderr).toBe(0);
    const kinds = Object.keys(BACKEND_KINDS).join(", ");
    expect(run.stderr).toContain(`Backend kind (${kinds}): `);
    expect(run.stderr).toContain(`  must be one of ${kinds}`);
    expect(run.stderr).toContain("splendor tenantId: ");
    expect(run.stderr).toContain("the two passwords differ; once more");
    expect(run.stderr).toContain("a client under the agent's");
    expect(run.stderr).not.toContain("pw-one");
    const config = written(join(cwd, "deletegate.config.json"));
    expect(config).toMatchObject({
      confirmation: { mode: "approval" },
      approval: { approvers: [{ name: "alice", passwordHash: await fakeHash("pw-one") }], required: 1 },
      backends: {
        logs: {
          kind: "splendor",
          baseUrl: "https://api.withsplendor.com",
          tenantId: "acme",
          credentialEnv: "SPLENDOR_TOKEN",
          allowTargets: ["app-logs", "crm-*"],
        },
      },
    });
    expect((config.approval as Record<string, unknown>).publicUrl).toBe("https://console.example");
  });

  it("with --kind asks only for the required values that are missing", async () => {
    const cwd = tempDir();
    const run = await init(["--kind", "splendor"], { cwd, terminal: true, answers: ["acme"] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe("splendor tenantId: ");
    expect(written(join(cwd, "deletegate.config.json"))).toMatchObject({
      confirmation: { mode: "auto" },
      backends: { splendor: { tenantId: "acme" } },
    });
  });

  it("--yes asks nothing, even at a terminal", async () => {
    const run = await init(["--kind", "splendor", "--yes"], { terminal: true, answers: ["acme"] });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("deletegate init: --tenant-id is required for kind splendor\n");
  });

  it("input that ends before the last question writes nothing (exit 2)", async () => {
    const cwd = tempDir();
    const run = await init([], { cwd, terminal: true, answers: ["", "moorcheh"] });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("input ended before every question was answered; nothing written");
    expect(existsSync(join(cwd, "deletegate.config.json"))).toBe(false);
  });
});

describe("the starter config", () => {
  it("is checked by the server's own parser before it is written", () => {
    const config = starterConfig({
      kind: BACKEND_KINDS.splendor as never,
      backendName: "s",
      baseUrl: "https://api.withsplendor.com",
      kindOptions: {},
      allowTargets: [],
      credentialEnv: "SPLENDOR_TOKEN",
      mode: "token",
      approvers: [],
      approvalsRequired: 1,
      publicUrl: null,
      stateDir: "/var/lib/deletegate",
    });
    expect(starterConfigProblem(config, "SPLENDOR_TOKEN")).toBe("backends.s.tenantId: is required");
  });
});
