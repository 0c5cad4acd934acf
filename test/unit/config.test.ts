// Config: defaults, secrets from the environment, and errors that name the key path (SPEC §3).

import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { type Config, ConfigError, parseConfig } from "../../src/config.js";

const SECRET = "sk-live-SECRET-4b1d-9f7e";
const ENV = { SPLENDOR_TOKEN: SECRET };

function splendorEntry(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: "splendor",
    baseUrl: "https://api.withsplendor.com",
    credentialEnv: "SPLENDOR_TOKEN",
    tenantId: "acme",
    ...extra,
  };
}

function withBackend(extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}): unknown {
  return { ...top, backends: { "splendor-prod": splendorEntry(extra) } };
}

/** The ConfigError message for `raw`; fails the test when the config is accepted. */
function configError(raw: unknown, env: NodeJS.ProcessEnv = ENV): string {
  let config: Config;
  try {
    config = parseConfig(raw, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`expected a ConfigError, got ${JSON.stringify(Object.keys(config))}`);
}

describe("settings the environment overrides (SPEC §3)", () => {
  const top = {
    jobs: { leaseMs: 2_000, backendJobMaxMs: 60_000 },
    http: { sessionIdleMs: 5_000, maxSessions: 7 },
    retention: { jobDays: 30 },
    log: { level: "warn" },
  };

  it("reads them from the file, and the environment wins", () => {
    const fromFile = parseConfig(withBackend({}, top), ENV);
    expect(fromFile.jobs).toEqual({ leaseMs: 2_000, backendJobMaxMs: 60_000 });
    expect(fromFile.http).toMatchObject({ sessionIdleMs: 5_000, maxSessions: 7 });
    expect(fromFile.retention).toEqual({ jobDays: 30 });
    expect(fromFile.log).toEqual({ level: "warn" });
    const env = {
      ...ENV,
      DELETEGATE_LEASE_MS: "900",
      DELETEGATE_BACKEND_JOB_MAX_MS: "5000",
      DELETEGATE_SESSION_IDLE_MS: "3000",
      DELETEGATE_MAX_SESSIONS: "2",
      DELETEGATE_LOG_LEVEL: "debug",
    };
    const overridden = parseConfig(withBackend({}, top), env);
    expect(overridden.jobs).toEqual({ leaseMs: 900, backendJobMaxMs: 5_000 });
    expect(overridden.http).toMatchObject({ sessionIdleMs: 3_000, maxSessions: 2 });
    expect(overridden.log).toEqual({ level: "debug" });
  });

  it("checks a variable against the key's range and names both", () => {
    expect(configError(withBackend(), { ...ENV, DELETEGATE_LEASE_MS: "100" })).toBe(
      "DELETEGATE_LEASE_MS (overrides jobs.leaseMs): must be ≥ 300",
    );
    expect(configError(withBackend(), { ...ENV, DELETEGATE_MAX_SESSIONS: "lots" })).toBe(
      "DELETEGATE_MAX_SESSIONS (overrides http.maxSessions): must be an integer",
    );
    expect(configError(withBackend(), { ...ENV, DELETEGATE_LOG_LEVEL: "loud" })).toContain(
      "DELETEGATE_LOG_LEVEL (overrides log.level): must be one of",
    );
    expect(configError(withBackend({}, { jobs: { leaseMs: 10 } }))).toBe("jobs.leaseMs: must be ≥ 300");
    expect(configError(withBackend({}, { retention: { jobDays: 0 } }))).toBe(
      "retention.jobDays: must be ≥ 1",
    );
  });
});

describe("parseConfig defaults", () => {
  it("fills every omitted key with the SPEC §3 default", () => {
    const config = parseConfig(withBackend(), ENV);
    expect(config).toEqual({
      path: "(inline)",
      store: "sqlite:./.deletegate/state.db",
      auditLog: "./.deletegate/audit.jsonl",
      confirmation: { mode: "auto", ttlSeconds: 900 },
      requestStateKey: null,
      approval: null,
      limits: { maxIdsPerCall: 10_000, idFileRoots: [], maxIdsPerFile: 1_000_000 },
      preview: { maxChecked: 1_000, staleShare: 0.05 },
      http: { tokens: [], allowedHosts: null, sessionIdleMs: 1_800_000, maxSessions: 1_000 },
      jobs: { leaseMs: 10_000, backendJobMaxMs: 86_400_000 },
      retention: { jobDays: 90 },
      log: { level: "info" },
      backends: {
        "splendor-prod": {
          name: "splendor-prod",
          kind: "splendor",
          baseUrl: "https://api.withsplendor.com",
          credentialEnv: "SPLENDOR_TOKEN",
          credential: SECRET,
          allowTargets: null,
          readOnly: false,
          maxItemsPerJob: 100_000,
          maxItemsPerDay: null,
          minReasonLength: 10,
          batchSize: 1024,
          concurrency: 4,
          requestsPerSecond: 10,
          timeoutMs: 30_000,
          maxAttempts: 5,
          confirmation: null,
          preview: { maxChecked: 1_000, staleShare: 0.05 },
          options: { tenantId: "acme" },
        },
      },
      warnings: [],
    });
  });

  it("keeps given values, strips a trailing slash from baseUrl and records the path", () => {
    const config = parseConfig(
      withBackend(
        {
          baseUrl: "http://127.0.0.1:9000/",
          allowTargets: ["app-logs", "crm-*"],
          readOnly: true,
          maxItemsPerJob: 5000,
          maxItemsPerDay: 20_000,
          minReasonLength: 0,
          maxBatchSize: 100,
          concurrency: 2,
          requestsPerSecond: 0.5,
          timeoutMs: 1000,
          maxAttempts: 1,
        },
        {
          store: "memory",
          auditLog: "stderr",
          confirmation: { mode: "token", ttlSeconds: 60 },
          limits: { maxIdsPerCall: 1_000_000 },
        },
      ),
      ENV,
      "/etc/deletegate.json",
    );
    expect(config.path).toBe("/etc/deletegate.json");
    expect(config.store).toBe("memory");
    expect(config.auditLog).toBe("stderr");
    expect(config.confirmation).toEqual({ mode: "token", ttlSeconds: 60 });
    expect(config.limits).toEqual({ maxIdsPerCall: 1_000_000, idFileRoots: [], maxIdsPerFile: 1_000_000 });
    expect(config.backends["splendor-prod"]).toMatchObject({
      baseUrl: "http://127.0.0.1:9000",
      allowTargets: ["app-logs", "crm-*"],
      readOnly: true,
      maxItemsPerJob: 5000,
      maxItemsPerDay: 20_000,
      minReasonLength: 0,
      batchSize: 100,
      concurrency: 2,
      requestsPerSecond: 0.5,
      timeoutMs: 1000,
      maxAttempts: 1,
    });
  });

  it("resolves idFileRoots with realpath and refuses relative, missing and non-directory roots", () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "deletegate-roots-")));
    mkdirSync(join(dir, "ids"));
    symlinkSync(join(dir, "ids"), join(dir, "link"));
    writeFileSync(join(dir, "file.txt"), "x");
    try {
      const limits = parseConfig(
        withBackend({}, { limits: { idFileRoots: [join(dir, "link")] } }),
        ENV,
      ).limits;
      expect(limits.idFileRoots).toEqual([join(dir, "ids")]);
      expect(configError(withBackend({}, { limits: { idFileRoots: ["ids"] } }))).toBe(
        "limits.idFileRoots.0: must be an absolute directory",
      );
      expect(configError(withBackend({}, { limits: { idFileRoots: [join(dir, "missing")] } }))).toBe(
        `limits.idFileRoots.0: ${join(dir, "missing")} does not exist or cannot be read`,
      );
      expect(configError(withBackend({}, { limits: { idFileRoots: [join(dir, "file.txt")] } }))).toBe(
        `limits.idFileRoots.0: ${join(dir, "file.txt")} is not a directory`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads the state key from confirmation.stateKeyEnv, refusing a missing or malformed one without showing it", () => {
    const key = Buffer.alloc(32, 9).toString("base64");
    const withKey = withBackend({}, { confirmation: { stateKeyEnv: "DG_STATE_KEY" } });
    expect(parseConfig(withKey, { ...ENV, DG_STATE_KEY: key }).requestStateKey).toBe(key);
    expect(parseConfig(withBackend(), ENV).requestStateKey).toBeNull();
    expect(configError(withKey)).toBe(
      "confirmation.stateKeyEnv: environment variable DG_STATE_KEY is not set",
    );
    for (const bad of ["short-key-value", Buffer.alloc(16, 1).toString("base64"), `${key.slice(0, -2)}!=`]) {
      let message = "";
      try {
        parseConfig(withKey, { ...ENV, DG_STATE_KEY: bad });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^confirmation\.stateKeyEnv: DG_STATE_KEY must hold 32 random bytes in base64/);
      expect(message).not.toContain(bad);
    }
  });

  it("takes preview defaults at the top level and a backend's own keys over them", () => {
    const config = parseConfig(
      withBackend({ preview: { staleShare: 0.2 } }, { preview: { maxChecked: 50_000 } }),
      ENV,
    );
    expect(config.preview).toEqual({ maxChecked: 50_000, staleShare: 0.05 });
    expect(config.backends["splendor-prod"]?.preview).toEqual({ maxChecked: 50_000, staleShare: 0.2 });
    expect(configError(withBackend({}, { preview: { maxChecked: 100_001 } }))).toBe(
      "preview.maxChecked: must be ≤ 100000",
    );
    expect(configError(withBackend({ preview: { staleShare: 1.5 } }))).toBe(
      "backends.splendor-prod.preview.staleShare: must be ≤ 1",
    );
    expect(configError(withBackend({}, { limits: { maxIdsPerFile: 0 } }))).toBe(
      "limits.maxIdsPerFile: must be ≥ 1",
    );
  });

  it("respects a lower maxBatchSize and accepts the kind's cap itself", () => {
    expect(parseConfig(withBackend({ maxBatchSize: 1 }), ENV).backends["splendor-prod"]?.batchSize).toBe(1);
    expect(parseConfig(withBackend({ maxBatchSize: 1024 }), ENV).backends["splendor-prod"]?.batchSize).toBe(
      1024,
    );
  });

  it("accepts the memory and sqlite store forms", () => {
    for (const store of ["memory", "sqlite:/var/lib/dg.db"]) {
      expect(parseConfig(withBackend({}, { store }), ENV).store).toBe(store);
    }
  });

  it("reads http tokens from their env vars", () => {
    const config = parseConfig(
      withBackend({}, { http: { tokens: [{ name: "ci-agent", tokenEnv: "DG_CI" }] } }),
      {
        ...ENV,
        DG_CI: "tok-ci-0123",
      },
    );
    expect(config.http.tokens).toEqual([{ name: "ci-agent", tokenEnv: "DG_CI", token: "tok-ci-0123" }]);
  });
});

describe("parseConfig errors name the key path", () => {
  it("refuses maxBatchSize above the kind's cap", () => {
    expect(configError(withBackend({ maxBatchSize: 1025 }))).toBe(
      "backends.splendor-prod.maxBatchSize: must be ≤ 1024",
    );
  });

  it("refuses an unknown key at the top level", () => {
    expect(configError(withBackend({}, { storage: "memory" }))).toBe("storage: unknown key");
  });

  it("refuses an unknown key inside a backend and inside nested objects", () => {
    expect(configError(withBackend({ batchSize: 10 }))).toBe("backends.splendor-prod.batchSize: unknown key");
    expect(configError(withBackend({}, { limits: { maxIds: 5 } }))).toBe("limits.maxIds: unknown key");
    expect(configError(withBackend({}, { confirmation: { mode: "token", ttl: 5 } }))).toBe(
      "confirmation.ttl: unknown key",
    );
  });

  it("refuses wrong types", () => {
    expect(configError(withBackend({ readOnly: "no" }))).toBe(
      "backends.splendor-prod.readOnly: must be boolean",
    );
    expect(configError(withBackend({ concurrency: "4" }))).toBe(
      "backends.splendor-prod.concurrency: must be number",
    );
    expect(configError(withBackend({ allowTargets: "crm-*" }))).toBe(
      "backends.splendor-prod.allowTargets: must be array",
    );
    expect(configError(withBackend({}, { limits: { maxIdsPerCall: "10" } }))).toBe(
      "limits.maxIdsPerCall: must be number",
    );
  });

  it("refuses limits.maxIdsPerCall outside 1..1,000,000", () => {
    expect(configError(withBackend({}, { limits: { maxIdsPerCall: 0 } }))).toBe(
      "limits.maxIdsPerCall: must be ≥ 1",
    );
    expect(configError(withBackend({}, { limits: { maxIdsPerCall: 1_000_001 } }))).toBe(
      "limits.maxIdsPerCall: must be ≤ 1000000",
    );
    expect(parseConfig(withBackend({}, { limits: { maxIdsPerCall: 1 } }), ENV).limits.maxIdsPerCall).toBe(1);
  });

  it("refuses other out-of-range values", () => {
    expect(configError(withBackend({ timeoutMs: 600_001 }))).toBe(
      "backends.splendor-prod.timeoutMs: must be ≤ 600000",
    );
    expect(configError(withBackend({ concurrency: 0 }))).toBe(
      "backends.splendor-prod.concurrency: must be ≥ 1",
    );
    expect(configError(withBackend({}, { confirmation: { ttlSeconds: 5 } }))).toBe(
      "confirmation.ttlSeconds: must be ≥ 10",
    );
  });

  it("names the missing credential variable", () => {
    const expected = "backends.splendor-prod.credentialEnv: environment variable SPLENDOR_TOKEN is not set";
    expect(configError(withBackend(), {})).toBe(expected);
    expect(configError(withBackend(), { SPLENDOR_TOKEN: "" })).toBe(expected);
  });

  it("refuses an unknown kind and a missing kind, naming every registered kind", () => {
    const kinds = Object.keys(BACKEND_KINDS);
    expect(kinds.length).toBeGreaterThan(0);
    expect(configError({ backends: { x: { kind: "dropbox", baseUrl: "https://a.example" } } })).toBe(
      `backends.x.kind: must be one of ${kinds.join(", ")}`,
    );
    expect(configError({ backends: { x: { baseUrl: "https://a.example" } } })).toBe(
      `backends.x.kind: must be one of ${kinds.join(", ")}`,
    );
    expect(configError({ backends: { x: "splendor" } })).toBe("backends.x: must be an object");
  });

  it("refuses splendor without tenantId, naming backends.<name>.tenantId", () => {
    const entry = splendorEntry();
    delete entry.tenantId;
    expect(configError({ backends: { "splendor-prod": entry } })).toMatch(
      /^backends\.splendor-prod\.tenantId: /,
    );
  });

  it("refuses a bad store string", () => {
    for (const store of ["postgres://db", "sqlite:", "redis://", "Memory"]) {
      expect(configError(withBackend({}, { store }))).toBe(
        'store: must be "memory", "sqlite:<path>" or "redis://host:port"',
      );
    }
  });

  it("refuses a bad baseUrl and a bad credentialEnv name", () => {
    expect(configError(withBackend({ baseUrl: "ftp://files.example" }))).toBe(
      "backends.splendor-prod.baseUrl: must be an http(s) URL",
    );
    expect(configError(withBackend({ credentialEnv: "1-TOKEN" }))).toBe(
      "backends.splendor-prod.credentialEnv: must be an environment variable name",
    );
  });

  it("refuses an http token whose env var is missing for --http, naming the variable; elsewhere warns", () => {
    const raw = withBackend({}, { http: { tokens: [{ name: "ci", tokenEnv: "DG_CI" }] } });
    let message = "";
    try {
      parseConfig(raw, ENV, "(inline)", { httpTokensRequired: true });
    } catch (error) {
      message = (error as ConfigError).message;
    }
    expect(message).toBe("http.tokens.0.tokenEnv: environment variable DG_CI is not set");
    const stdio = parseConfig(raw, ENV);
    expect(stdio.http.tokens).toEqual([]);
    expect(stdio.warnings).toEqual([
      "http.tokens.0.tokenEnv: environment variable DG_CI is not set (only --http uses it)",
    ]);
  });

  it("refuses a config without backends", () => {
    expect(configError({ backends: {} })).toBe("backends: must name at least one backend");
  });

  it("lists every problem of every backend, one per line", () => {
    expect(
      configError({
        backends: {
          a: splendorEntry({ maxBatchSize: 5000 }),
          b: splendorEntry({ credentialEnv: "NOPE_TOKEN" }),
        },
      }),
    ).toBe(
      "backends.a.maxBatchSize: must be ≤ 1024\nbackends.b.credentialEnv: environment variable NOPE_TOKEN is not set",
    );
  });
});

describe("parseConfig never reveals a secret", () => {
  it("keeps the credential out of errors on other keys", () => {
    const errors = [
      configError(withBackend({ maxBatchSize: 2048 })),
      configError(withBackend({ unknown: SECRET.slice(0, 3) })),
      configError(withBackend({}, { limits: { maxIdsPerCall: 0 } })),
      configError({ backends: { a: splendorEntry(), b: splendorEntry({ credentialEnv: "MISSING_ONE" }) } }),
    ];
    for (const message of errors) {
      expect(message.length).toBeGreaterThan(0);
      expect(message).not.toContain(SECRET);
      expect(message).not.toContain("SECRET-4b1d");
    }
  });

  it("keeps an http token out of errors on backends", () => {
    const message = configError(
      withBackend({ timeoutMs: 1 }, { http: { tokens: [{ name: "ci", tokenEnv: "DG_CI" }] } }),
      { ...ENV, DG_CI: "tok-ci-very-secret" },
    );
    expect(message).toBe("backends.splendor-prod.timeoutMs: must be ≥ 10");
    expect(message).not.toContain("tok-ci-very-secret");
  });
});

describe("messages an operator can act on", () => {
  it.each([
    [{ requestsPerSecond: 0 }, "backends.splendor-prod.requestsPerSecond: must be > 0"],
    [{ tenantId: undefined }, "backends.splendor-prod.tenantId: is required"],
    [{ tenantId: "" }, "backends.splendor-prod.tenantId: must not be empty"],
    [{ concurrency: 1.5 }, "backends.splendor-prod.concurrency: must be an integer"],
    [{ maxBatchSize: 200_000 }, "backends.splendor-prod.maxBatchSize: must be ≤ 1024"],
  ])("%j → %s", (extra, message) => {
    expect(configError(withBackend(extra))).toBe(message);
  });

  it("names the allowed confirmation modes and refuses __proto__ as a backend name", () => {
    expect(configError(withBackend({}, { confirmation: { mode: "maybe" } }))).toBe(
      'confirmation.mode: must be one of "token", "human", "approval", "auto"',
    );
    expect(configError(JSON.parse('{"backends":{"__proto__":{"kind":"splendor"}}}'))).toBe(
      "backends.__proto__: is not a valid backend name",
    );
    expect(configError({ backends: { "bad name": splendorEntry() } })).toBe(
      "backends.bad name: must be 1..64 letters, digits, . _ - (starting with a letter or digit)",
    );
  });
});

describe("store and base URL", () => {
  it("uses the kind's public base URL when baseUrl is omitted", () => {
    const { baseUrl: _omitted, ...entry } = splendorEntry() as { baseUrl?: string };
    const config = parseConfig({ backends: { "splendor-prod": entry } }, ENV);
    expect(config.backends["splendor-prod"]?.baseUrl).toBe("https://api.withsplendor.com");
  });

  it("accepts a redis store", () => {
    const config = parseConfig(withBackend({}, { store: "redis://127.0.0.1:6379" }), ENV);
    expect(config.store).toBe("redis://127.0.0.1:6379");
  });
});

describe("allowTargets on kinds without a target", () => {
  it("is a config error naming the key, not a silently ignored restriction", () => {
    expect(
      configError({
        backends: {
          ls: { kind: "langsmith", credentialEnv: "SPLENDOR_TOKEN", allowTargets: ["anything"] },
        },
      }),
    ).toBe("backends.ls.allowTargets: kind langsmith has no target, so allowTargets cannot apply; remove it");
  });
});

describe("approval config (SPEC §3)", () => {
  // A well-formed hash (its password is irrelevant here).
  const HASH = `scrypt$32768$8$1$${"A".repeat(22)}$${"B".repeat(43)}`;
  const approval = (extra: Record<string, unknown> = {}) => ({
    approvers: [
      { name: "alice", passwordHash: HASH },
      { name: "bob", passwordHash: HASH },
    ],
    ...extra,
  });

  it("fills the defaults and resolves each webhook's secret from the environment", () => {
    const config = parseConfig(
      withBackend(
        { confirmation: "approval" },
        { approval: approval({ notify: [{ url: "http://127.0.0.1:9/hook", secretEnv: "HOOK_SECRET" }] }) },
      ),
      { ...ENV, HOOK_SECRET: "hook-secret-value" },
    );
    expect(config.approval).toEqual({
      approvers: approval().approvers,
      required: 1,
      ttlSeconds: 86_400,
      publicUrl: null,
      notify: [{ url: "http://127.0.0.1:9/hook", secretEnv: "HOOK_SECRET", secret: "hook-secret-value" }],
    });
    expect(config.backends["splendor-prod"]?.confirmation).toBe("approval");
  });

  it("refuses approval mode without approvers, naming the key that asks for it", () => {
    expect(configError(withBackend({ confirmation: "approval" }))).toBe(
      "approval: is required (with approvers) because backends.splendor-prod.confirmation is approval",
    );
    expect(configError(withBackend({}, { confirmation: { mode: "approval" } }))).toBe(
      "approval: is required (with approvers) because confirmation.mode is approval",
    );
  });

  it("refuses passwords in place of hashes, too many required, duplicate names and unset webhook secrets", () => {
    expect(
      configError(
        withBackend({}, { approval: approval({ approvers: [{ name: "a", passwordHash: "hunter2" }] }) }),
      ),
    ).toBe("approval.approvers.0.passwordHash: must be a hash made by `deletegate approver hash`");
    expect(configError(withBackend({}, { approval: approval({ required: 3 }) }))).toBe(
      "approval.required: must be at most the number of approvers",
    );
    expect(
      configError(
        withBackend(
          {},
          {
            approval: approval({
              approvers: [
                { name: "a", passwordHash: HASH },
                { name: "a", passwordHash: HASH },
              ],
            }),
          },
        ),
      ),
    ).toBe("approval.approvers.1.name: is not unique");
    expect(
      configError(
        withBackend(
          {},
          { approval: approval({ notify: [{ url: "http://127.0.0.1:9/", secretEnv: "UNSET_HOOK" }] }) },
        ),
      ),
    ).toBe("approval.notify.0.secretEnv: environment variable UNSET_HOOK is not set");
    const message = configError(
      withBackend({}, { approval: approval({ approvers: [{ name: "a", passwordHash: "hunter2" }] }) }),
    );
    expect(message).not.toContain("hunter2");
  });
});
