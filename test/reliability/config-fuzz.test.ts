// Config fuzzing (issue 5 point 3): a valid config mutated by fast-check — wrong types, missing and unknown keys,
// out-of-range numbers, bad URLs, unknown kinds, prototype keys, empty strings, unset credential variables. Each mutation
// knows the key it breaks: the loader must refuse with CONFIG_INVALID naming that key, and accept what stays valid;
// `check-config` must exit 1 and the server exit 2 with the same message.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BACKEND_KINDS, type BackendKind } from "../../src/backends/index.js";
import { ConfigError, parseConfig } from "../../src/config.js";
import { type KeyRule, type KindFixture, TEXT_KEY } from "../../tools/simulators/fixture.js";
import { FIXTURES } from "../../tools/simulators/index.js";
import { CLI, tempDir } from "../integration/harness.js";
import { recordTrial } from "./report.js";

const SEED = 5_013;
const DIRECT_RUNS = 2_000;
const CHECK_CONFIG_RUNS = 30;
const SERVER_RUNS = 12;

// ---- the base config: one backend per registered kind, named and shaped by the kind's fixture ----

const [FIRST] = FIXTURES as [KindFixture, ...KindFixture[]];

function adapterOf(fixture: KindFixture): BackendKind {
  const kind = BACKEND_KINDS[fixture.kind];
  if (!kind) throw new Error(`no adapter for the ${fixture.kind} fixture`);
  return kind;
}

const ENV: Record<string, string> = {
  ...Object.fromEntries(
    FIXTURES.map((fixture, index) => [fixture.credentialEnv, `cfg-${fixture.kind}-secret-${index + 1}`]),
  ),
  DELETEGATE_TOKEN_CI: `cfg-http-token-${FIXTURES.length + 1}`,
};

/** The first backend sets every common key, so each is fuzzed from a value that is set as well as from absent. */
const EVERY_COMMON_KEY = {
  readOnly: false,
  maxItemsPerJob: 100_000,
  maxItemsPerDay: 1_000_000,
  minReasonLength: 10,
  maxBatchSize: adapterOf(FIRST).maxBatchSize,
  concurrency: 4,
  requestsPerSecond: 10,
  timeoutMs: 30_000,
  maxAttempts: 5,
};

function baseConfig(): Record<string, unknown> {
  return {
    store: "memory",
    auditLog: "stderr",
    confirmation: { mode: "token", ttlSeconds: 900 },
    limits: { maxIdsPerCall: 10_000 },
    http: { tokens: [{ name: "ci-agent", tokenEnv: "DELETEGATE_TOKEN_CI" }] },
    backends: Object.fromEntries(
      FIXTURES.map((fixture) => [
        fixture.configFuzz.backend,
        {
          kind: fixture.kind,
          credentialEnv: fixture.credentialEnv,
          ...fixture.configFuzz.entry,
          ...(fixture === FIRST ? EVERY_COMMON_KEY : {}),
        },
      ]),
    ),
  };
}

// ---- what each key takes: valid values and values of the wrong type or out of range ----

const int = (min: number, max: number): KeyRule => ({
  good: [min, max, Math.floor((min + max) / 2)],
  bad: [
    min - 1,
    max + 1,
    1.5,
    `${min}`,
    null,
    true,
    [],
    {},
    Number.NaN,
    Number.POSITIVE_INFINITY,
    1e308,
    -1e308,
  ],
});
const positive = (max: number): KeyRule => ({
  good: [0.5, 1, max],
  bad: [0, -1, max + 1, "1", null, false, Number.NaN, Number.POSITIVE_INFINITY, []],
});
const bool: KeyRule = { good: [true, false], bad: ["true", 1, 0, null, "yes", []] };
const text: KeyRule = TEXT_KEY;
const envName: KeyRule = {
  good: [],
  bad: ["", "1ABC", "A-B", "A B", "$HOME", `${FIRST.credentialEnv}\n`, 5, null, [], {}],
};
const url: KeyRule = {
  good: ["http://127.0.0.1:8080", "https://api.example.com/v1/"],
  bad: [
    "ftp://files.example.com",
    "not a url",
    "",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "http//x",
    5,
    null,
  ],
};
const section: KeyRule = { good: [], bad: ["x", 5, [], null, true] };

const COMMON: Record<string, KeyRule> = {
  baseUrl: url,
  credentialEnv: envName,
  readOnly: bool,
  maxItemsPerJob: int(1, 100_000_000),
  maxItemsPerDay: int(1, 1_000_000_000),
  minReasonLength: int(0, 1024),
  concurrency: int(1, 64),
  requestsPerSecond: positive(10_000),
  timeoutMs: int(10, 600_000),
  maxAttempts: int(1, 20),
};
const TARGETED: Record<string, KeyRule> = {
  allowTargets: { good: [["a"], ["x-*", "y"]], bad: [[], [""], "app-logs", [5], null, {}, [null]] },
};
/** Backend name → the kind's hard cap on maxBatchSize. */
const CAPS: Record<string, number> = Object.fromEntries(
  FIXTURES.map((fixture) => [fixture.configFuzz.backend, adapterOf(fixture).maxBatchSize]),
);
/** Backend name → its kind's own keys: allowTargets for kinds with targets, then the fixture's rules. */
const KIND_KEYS: Record<string, Record<string, KeyRule>> = Object.fromEntries(
  FIXTURES.map((fixture) => [
    fixture.configFuzz.backend,
    { ...(adapterOf(fixture).targetSchema ? TARGETED : {}), ...fixture.configFuzz.keys },
  ]),
);
/** Backends of kinds without targets. */
const TARGETLESS = FIXTURES.filter((fixture) => adapterOf(fixture).targetSchema === null).map(
  (fixture) => fixture.configFuzz.backend,
);
/** A backend entry that needs nothing but kind and credentialEnv. */
const MINIMAL = FIXTURES.find((fixture) => Object.keys(fixture.configFuzz.entry).length === 0) ?? FIRST;

const ROOT: Record<string, KeyRule> = {
  store: {
    good: ["memory", "sqlite:/tmp/x.db", "redis://127.0.0.1:6379"],
    bad: ["", "sqlite:", "postgres://x", "redis:/x", "MEMORY", 5, null],
  },
  auditLog: { good: ["stderr", "/tmp/audit.jsonl"], bad: ["", 5, null, []] },
  confirmation: section,
  "confirmation.mode": { good: ["token", "human", "auto"], bad: ["Token", "", "auto ", 5, null] },
  "confirmation.ttlSeconds": int(10, 86_400),
  limits: section,
  "limits.maxIdsPerCall": int(1, 1_000_000),
  http: section,
  "http.tokens": { good: [[]], bad: ["x", {}, [5], null, [null]] },
  "http.tokens.0.name": text,
  "http.tokens.0.tokenEnv": envName,
  backends: { good: [], bad: ["x", 5, [], null, {}] },
};

/** One change to the base config, and the key path the loader must name (null: the config stays valid). */
interface Mutation {
  describe: string;
  apply(config: Record<string, unknown>, env: Record<string, string>): unknown;
  key: string | null;
}

function parent(config: Record<string, unknown>, path: string[]): Record<string, unknown> {
  let node: unknown = config;
  for (const part of path.slice(0, -1)) node = (node as Record<string, unknown>)[part];
  return node as Record<string, unknown>;
}

/** Sets `path` to `value` as an own property (so a `__proto__` key stays a key). */
function setAt(path: string[], value: unknown) {
  return (config: Record<string, unknown>) => {
    Object.defineProperty(parent(config, path), path.at(-1) as string, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return config;
  };
}

function deleteAt(path: string[]) {
  return (config: Record<string, unknown>) => {
    delete parent(config, path)[path.at(-1) as string];
    return config;
  };
}

const show = (value: unknown) =>
  typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value);

/** Every key's bad and good values, as mutations with the key each names. */
function keyMutations(): Mutation[] {
  const mutations: Mutation[] = [];
  const addRule = (path: string[], rule: KeyRule) => {
    const key = path.join(".");
    for (const value of rule.bad)
      mutations.push({ describe: `${key} = ${show(value)}`, apply: setAt(path, value), key });
    for (const value of rule.good)
      mutations.push({ describe: `${key} = ${show(value)} (valid)`, apply: setAt(path, value), key: null });
  };
  for (const [key, rule] of Object.entries(ROOT)) addRule(key.split("."), rule);
  for (const name of Object.keys(CAPS)) {
    const cap = CAPS[name] as number;
    addRule(["backends", name], section);
    for (const [key, rule] of Object.entries({ ...COMMON, ...KIND_KEYS[name] }))
      addRule(["backends", name, key], rule);
    addRule(["backends", name, "maxBatchSize"], { good: [1, cap], bad: [0, cap + 1, 2.5, "1", null] });
    // Only a misspelt or made-up kind: another real kind would make other keys wrong instead.
    addRule(["backends", name, "kind"], {
      good: [],
      bad: [
        `${FIRST.kind}r`,
        `${FIRST.kind.charAt(0).toUpperCase()}${FIRST.kind.slice(1)}`,
        "",
        "__proto__",
        "toString",
        "constructor",
        5,
        null,
      ],
    });
  }
  // allowTargets cannot apply to a kind without targets.
  for (const name of TARGETLESS)
    mutations.push({
      describe: `backends.${name}.allowTargets on a kind without targets`,
      apply: setAt(["backends", name, "allowTargets"], ["x"]),
      key: `backends.${name}.allowTargets`,
    });
  return mutations;
}

const REQUIRED: string[][] = [
  ["backends"],
  ...Object.keys(CAPS).flatMap((name) => [
    ["backends", name, "kind"],
    ["backends", name, "credentialEnv"],
  ]),
  // Kind keys without a default, e.g. Splendor's tenantId.
  ...FIXTURES.flatMap((fixture) =>
    Object.entries(adapterOf(fixture).configShape)
      .filter(([, schema]) => !schema.safeParse(undefined).success)
      .map(([key]) => ["backends", fixture.configFuzz.backend, key]),
  ),
  ["http", "tokens", "0", "name"],
  ["http", "tokens", "0", "tokenEnv"],
];

const SECTIONS: string[][] = [
  [],
  ["confirmation"],
  ["limits"],
  ["http"],
  ["http", "tokens", "0"],
  ...Object.keys(CAPS).map((name) => ["backends", name]),
];
const KNOWN_KEYS = new Set([
  ...Object.keys(ROOT),
  ...Object.keys(COMMON),
  "kind",
  "allowTargets",
  ...Object.values(BACKEND_KINDS).flatMap((kind) => Object.keys(kind.configShape)),
  "maxBatchSize",
  "mode",
  "ttlSeconds",
  "maxIdsPerCall",
  "tokens",
  "name",
  "tokenEnv",
]);

/** A mutation drawn by fast-check: a listed key change, a removed required key, an unknown key, an unset variable, a bad backend name. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...keyMutations()) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...REQUIRED).map((path) => ({
      describe: `${path.join(".")} removed`,
      apply: deleteAt(path),
      key: path.join("."),
    })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...SECTIONS),
        fc.oneof(
          fc.constantFrom(
            "__proto__",
            "constructor",
            "prototype",
            "toString",
            "hasOwnProperty",
            "readonly",
            "Kind",
          ),
          fc.string({ minLength: 1, maxLength: 20 }),
        ),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .filter(([, key]) => !KNOWN_KEYS.has(key))
      .map(([path, key, value]) => ({
        describe: `unknown key ${JSON.stringify(key)} in ${path.join(".") || "(root)"}`,
        apply: setAt([...path, key], value),
        key: [...path, key].join("."),
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...Object.keys(CAPS)),
        fc.constantFrom("UNSET_VAR", `${FIRST.credentialEnv}_OLD`),
      )
      .map(([name, variable]) => ({
        describe: `backends.${name}.credentialEnv names unset ${variable}`,
        apply: setAt(["backends", name, "credentialEnv"], variable),
        key: `backends.${name}.credentialEnv`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...Object.entries(ENV)).map(([variable]) => ({
      describe: `$${variable} unset`,
      apply: (config: Record<string, unknown>, env: Record<string, string>) => {
        delete env[variable];
        return config;
      },
      // Only --http needs an HTTP token's variable: elsewhere it is a warning, and the config is valid.
      key:
        variable === "DELETEGATE_TOKEN_CI"
          ? null
          : `backends.${Object.entries(baseConfig().backends as Record<string, { credentialEnv: string }>).find(([, backend]) => backend.credentialEnv === variable)?.[0]}.credentialEnv`,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("bad name", "-dash-first", "", "a".repeat(65), "ünïcode", "x/y", "__proto__")
      .map((name) => ({
        describe: `backend named ${JSON.stringify(name)}`,
        apply: setAt(["backends", name], {
          kind: MINIMAL.kind,
          credentialEnv: MINIMAL.credentialEnv,
          ...MINIMAL.configFuzz.entry,
        }),
        key: `backends.${name}`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom([], "config", 5, null).map((value) => ({
      describe: `the whole config is ${JSON.stringify(value)}`,
      apply: () => value,
      key: "(root)",
    })),
  },
);

interface Outcome {
  ok: boolean;
  message: string;
}

/** What was expected and what happened, as a problem or null. */
function judge(m: Mutation, outcome: Outcome, secrets: string[]): string | null {
  if (m.key === null)
    return outcome.ok ? null : `a valid change was refused: ${outcome.message.slice(0, 300)}`;
  if (outcome.ok) return "accepted";
  if (!outcome.message.includes(`${m.key}:`) && !outcome.message.includes(`${m.key}.`))
    return `the message does not name ${m.key}: ${outcome.message.slice(0, 300)}`;
  if (secrets.some((secret) => outcome.message.includes(secret))) return "a secret in the message";
  return null;
}

function prepare(m: Mutation) {
  const env = { ...ENV };
  const config = m.apply(baseConfig(), env);
  return { config, env };
}

describe("config fuzzing: CONFIG_INVALID naming the key", () => {
  it("the loader refuses every broken key by name and accepts every valid change", () => {
    let runs = 0;
    let valid = 0;
    const problems: string[] = [];
    const started = Date.now();
    fc.assert(
      fc.property(mutation, (m) => {
        runs++;
        if (m.key === null) valid++;
        const { config, env } = prepare(m);
        let outcome: Outcome;
        try {
          parseConfig(config, env, "fuzz.json");
          outcome = { ok: true, message: "" };
        } catch (error) {
          if (!(error instanceof ConfigError)) {
            problems.push(
              `${m.describe}: threw ${(error as Error).name}: ${(error as Error).message.slice(0, 200)}`,
            );
            return true;
          }
          outcome = { ok: false, message: error.message };
        }
        const problem = judge(m, outcome, Object.values(ENV));
        if (problem) problems.push(`${m.describe}: ${problem}`);
        return true;
      }),
      { seed: SEED, numRuns: DIRECT_RUNS },
    );
    const distinct = new Set(problems);
    recordTrial({
      area: "hostile input",
      trial:
        "config fuzzing, loader: wrong types, missing/unknown/prototype keys, out-of-range numbers, bad URLs and kinds, empty strings, unset variables",
      runs,
      unit: "configs",
      lost: problems.length,
      figures: `seed ${SEED}; ${runs - valid} broken configs refused with the key named, ${valid} valid changes accepted; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    });
    expect([...distinct].slice(0, 10)).toEqual([]);
    expect(problems.length).toBe(0);
  });

  it("check-config exits 1 and the server exits 2 with CONFIG_INVALID naming the key", () => {
    const dir = tempDir();
    let runs = 0;
    const problems: string[] = [];
    const started = Date.now();
    const exits: Record<string, number> = {};
    const broken = mutation.filter((m) => m.key !== null);
    const run = (m: Mutation, args: string[], wantExit: number) => {
      runs++;
      const { config, env } = prepare(m);
      const file = join(dir, `config-${runs}.json`);
      writeFileSync(file, JSON.stringify(config) ?? "null");
      const result = spawnSync(process.execPath, [CLI, ...args, "--config", file], {
        env: { PATH: process.env.PATH ?? "", ...env },
        encoding: "utf8",
        timeout: 20_000,
        input: "",
      });
      const label = `${args[0] ?? "server"} exit ${result.status}`;
      exits[label] = (exits[label] ?? 0) + 1;
      const stderr = result.stderr ?? "";
      if (result.status !== wantExit) {
        problems.push(`${m.describe}: ${label}, wanted ${wantExit}: ${stderr.slice(0, 200)}`);
        return;
      }
      if (!/^CONFIG_INVALID: /m.test(stderr)) {
        problems.push(`${m.describe}: no CONFIG_INVALID line: ${stderr.slice(0, 200)}`);
        return;
      }
      if (result.stdout !== "") problems.push(`${m.describe}: stdout is not empty`);
      const problem = judge(m, { ok: false, message: stderr }, Object.values(ENV));
      if (problem) problems.push(`${m.describe}: ${problem}`);
    };
    const sample = fc.sample(broken, { seed: SEED, numRuns: CHECK_CONFIG_RUNS + SERVER_RUNS });
    for (const m of sample.slice(0, CHECK_CONFIG_RUNS)) run(m, ["check-config"], 1);
    for (const m of sample.slice(CHECK_CONFIG_RUNS)) run(m, [], 2);
    recordTrial({
      area: "hostile input",
      trial: "config fuzzing, CLI: check-config and server start on broken configs",
      runs,
      unit: "configs",
      lost: problems.length,
      figures: `seed ${SEED}; ${Object.entries(exits)
        .map(([label, count]) => `${label} ×${count}`)
        .join(
          ", ",
        )}; CONFIG_INVALID naming the key every time; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    });
    expect(problems.slice(0, 10)).toEqual([]);
    expect(problems.length).toBe(0);
  });
});
