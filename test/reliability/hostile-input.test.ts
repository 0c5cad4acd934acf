import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { ERROR_CODES } from "../../src/gate/errors.js";
import { JOB_STATUSES } from "../../src/jobs/store.js";
import { processMemoryKb } from "../../tools/bench/stats.js";
import { FIXTURES, type KindFixture } from "../../tools/simulators/index.js";
import {
  type Session,
  startSession,
  structured,
  tempDir,
  writeBackendsConfig,
} from "../integration/harness.js";
import { recordTrial } from "./report.js";

/** Fixed, so a failing input can be replayed; recorded in the trial figures. */
const SEED = 5_003;
const RUNS = {
  list_backends: 300,
  dry_run_delete: 1_000,
  execute_delete: 600,
  get_delete_job: 400,
  list_delete_jobs: 400,
  cancel_delete_job: 400,
} as const;
/**
 * The server may grow this much over the whole run and no more. 1 MB strings make V8 grow its heap by
 * 110–140 MB here, and it levels off there (4,000 inputs: about 217 MB in all); the bound leaves room for a
 * slower CI machine and still catches growth per input.
 */
const RSS_BOUND_KB = 256 * 1024;
/** An error text longer than this echoes too much of what it was given. */
const MAX_ERROR_TEXT = 2_000;
const REFUSAL_CODES = ERROR_CODES.filter((code) => code !== "INTERNAL_ERROR") as readonly string[];

/** Each kind's key, by the variable its backend's credentialEnv names. */
const KEYS: Record<string, string> = Object.fromEntries(
  FIXTURES.map((fixture) => [fixture.credentialEnv, `sim-${fixture.kind}-key-hostile-71c2`]),
);
const SECRETS = Object.values(KEYS);

// ---- the world: a backend per kind, its allowed targets and the ids each kind takes (from the kinds' fixtures) ----

type Kind = KindFixture;
const BACKENDS: Record<string, Kind> = Object.fromEntries(
  FIXTURES.map((fixture) => [fixture.hostile.backend, fixture]),
);
const NAMES = Object.keys(BACKENDS);

/** Targets each backend accepts (allowTargets below); anything else the generators make is hostile. */
function goodTargets(kind: Kind): (Record<string, unknown> | undefined | null)[] {
  // For kinds without a target, "none" is absent, null or {}.
  return kind.targets.length > 0 ? kind.targets : [undefined, null, {}];
}

/** Per targeted kind: the target field, the glob prefix of its allowTargets, and its exact allowed name. */
function allowed(kind: Kind): [string, string, string] {
  const field = BACKEND_KINDS[kind.kind]?.targetFields[0];
  const glob = kind.allowTargets?.find((name) => name.endsWith("*"));
  const exact = kind.allowTargets?.find((name) => !name.includes("*"));
  if (!field || !glob || !exact) throw new Error(`${kind.kind}: allowTargets needs an exact name and a glob`);
  return [field, glob.slice(0, -1), exact];
}

/** A value that travels as JSON text and is parsed afresh per call, so its `__proto__` keys are own keys. */
class RawJson {
  constructor(readonly text: string) {}
}

/** Ids each kind takes, unicode and numbers included; hostile ids are never among them. */
function validIdsOf(kind: Kind): (string | number)[] {
  return kind.hostile.ids;
}

/** The id a good id becomes at plan time: numbers to strings, trimmed, then the kind's normal form (UUIDs lower-cased). */
function normalizedId(kind: Kind, id: string | number): string {
  const text = typeof id === "number" ? String(id) : id.trim();
  return BACKEND_KINDS[kind.kind]?.normalizeId?.(text) ?? text;
}

const MB = 1 << 20;
const HUGE = ["h".repeat(MB), "é".repeat(MB / 2), "😀".repeat(MB / 4), `${"a".repeat(MB - 1)}\u0000`];
const LONE_SURROGATES = ["\ud800", "a\udc00b", "\udbff\udbff", "x\ud83d"];
const GLOBS = ["*", "**", "?", "[a-z]", "{a,b}", "rec-*", "rec-?", "rec-[0-9]", "ds_*", "ds_{a,b}", "kb-**"];
const CONTROLS = [
  "\u0000",
  "rec\u0000",
  "rec\u0007x",
  "\u001b[31mred",
  "rec\u007f",
  "rec\u0085",
  "\u202erec",
  "r\u2066ec",
  // Invisible formatting and line/paragraph separators (Cf, Zl, Zp): they display as other text.
  "rec\u200b",
  "r\ufeffec",
  "rec\u2028x",
  "rec\u2029x",
  "rec\u00adx",
];

/** Strings, numbers, booleans, null, arrays and objects: what arrives where a field's type is wrong. */
const anyJson = fc.jsonValue({ maxDepth: 4 });
const unicodeText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(...LONE_SURROGATES, ...CONTROLS, "\u200b", "\ufeff", "‮"),
);
const hugeString = fc.constantFrom(...HUGE);
/** Nested objects as deep as a client may send, and own `__proto__`/`constructor`/`prototype` keys via JSON.parse. */
const nested = fc.integer({ min: 20, max: 200 }).map((depth) => {
  let value: unknown = "deep";
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value };
  return value;
});
const protoObjects = fc
  .constantFrom(
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"prototype":{}}',
    '{"__proto__":null}',
    '{"toString":"x","valueOf":1}',
  )
  .map((text) => JSON.parse(text) as unknown);
const wrongValue = fc.oneof(
  { weight: 6, arbitrary: anyJson },
  { weight: 3, arbitrary: unicodeText },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: nested },
  { weight: 2, arbitrary: protoObjects },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, true, false, null),
  },
);

const CYRILLIC: Record<string, string> = { a: "а", e: "е", o: "о", c: "с", p: "р" };
/** The name with its first a/e/o/c/p swapped for the Cyrillic letter that looks the same. */
function lookAlike(name: string): string {
  return name.replace(/[aeocp]/, (letter) => CYRILLIC[letter] as string);
}

/** Hostile names: prototype members, case and whitespace look-alikes, globs, traversal, controls, huge. */
const hostileName = (real: string[]) =>
  fc.oneof(
    fc.constantFrom(
      "__proto__",
      "constructor",
      "prototype",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "",
      " ",
      "../../../../etc/passwd",
      "..\\..\\windows",
      "%2e%2e%2f",
      "null",
      "undefined",
      "NaN",
      ...GLOBS,
      ...CONTROLS,
      ...LONE_SURROGATES,
    ),
    fc
      .constantFrom(...real)
      .chain((name) =>
        fc.constantFrom(
          name.toUpperCase(),
          ` ${name}`,
          `${name} `,
          `${name}\t`,
          `${name}\n`,
          `${name}*`,
          name.replace(/.$/, "?"),
          `${name}\u0000`,
          `${name}\u200b`,
          lookAlike(name),
        ),
      ),
    hugeString,
  );

/** Extra top-level arguments, never one of the tool's own `fields`; a `dry_run: true` on execute_delete must not read as permission. */
const extraKeys = (fields: readonly string[]) =>
  fc
    .dictionary(
      fc.oneof(
        fc.constantFrom("constructor", "prototype", "toString", "dry_run", "force", "job_id", "ids"),
        fc.string(),
      ),
      anyJson,
      { minKeys: 1, maxKeys: 3 },
    )
    .map((extra) => Object.fromEntries(Object.entries(extra).filter(([key]) => !fields.includes(key))));

/** `arbitrary` once in `1 + nullWeight` draws, else null. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, nullWeight: number) =>
  fc.oneof({ weight: nullWeight, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });

// ---- the property harness: run, judge, count ----

interface Tally {
  inputs: number;
  refused: Record<string, number>;
  accepted: number;
  lost: number;
  examples: string[];
}

const newTally = (): Tally => ({ inputs: 0, refused: {}, accepted: 0, lost: 0, examples: [] });

/** The input as JSON, each long string cut, so a failure names it readably. */
function describeInput(args: unknown): string {
  const text =
    JSON.stringify(args, (_key, value) =>
      typeof value === "string" && value.length > 60
        ? `${value.slice(0, 40)}…(${value.length} chars)`
        : value,
    ) ?? String(args);
  return text.length > 1_000 ? `${text.slice(0, 1_000)}…` : text;
}

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
}

let session: Session;
let sims: { name: string; url: string; requests: unknown[]; close(): Promise<void> }[] = [];
let pid: number;
const rss: number[] = [];
/** Confirmation tokens of the plans made in beforeAll: never to be echoed. */
let tokens: string[] = [];
let plans: { plan_id: string; token: string; backend: string }[] = [];

function rssKb(): number {
  return processMemoryKb(pid).rss;
}

/** Why the result is wrong for an input that must be refused, or null. */
function refusalProblem(result: CallToolResult, tally: Tally): string | null {
  const text = textOf(result);
  if (result.isError !== true) return `not refused: ${describeInput(result.structuredContent)}`;
  const match = /^([A-Z_]+): (\S[\s\S]*)$/.exec(text);
  if (!match) return `no CODE: message: ${describeInput(text)}`;
  const code = match[1] as string;
  if (!REFUSAL_CODES.includes(code)) return `code ${code}: ${describeInput(text)}`;
  if (text.length > MAX_ERROR_TEXT) return `${text.length}-character error text`;
  if ([...SECRETS, ...tokens].some((secret) => text.includes(secret))) return "secret in the error text";
  tally.refused[code] = (tally.refused[code] ?? 0) + 1;
  return null;
}

/** Runs a property over `arbitrary`; `judge` returns a problem or null. Counts every input, never stops early. */
async function runProperty<T>(
  tool: string,
  arbitrary: fc.Arbitrary<T>,
  numRuns: number,
  judge: (input: T, tally: Tally) => Promise<string | null>,
): Promise<Tally & { seconds: number; rssBefore: number; rssAfter: number; rssMax: number }> {
  const tally = newTally();
  const rssBefore = rssKb();
  let rssMax = rssBefore;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (input) => {
      tally.inputs++;
      let problem: string | null;
      try {
        problem = await judge(input, tally);
      } catch (error) {
        problem = `call failed: ${(error as Error).message.slice(0, 300)}`;
      }
      if (problem) {
        tally.lost++;
        if (tally.examples.length < 5) tally.examples.push(`${tool}: ${problem} ← ${describeInput(input)}`);
      }
      if (tally.inputs % 50 === 0) {
        const now = rssKb();
        rss.push(now);
        rssMax = Math.max(rssMax, now);
      }
      return true;
    }),
    { seed: SEED, numRuns, endOnFailure: true },
  );
  // Still serving, still alive, and nothing reached a backend.
  const backends = structured(await session.call("list_backends")).backends as unknown[];
  if (backends.length !== NAMES.length) {
    tally.lost++;
    tally.examples.push(`list_backends answered ${backends.length} backends afterwards`);
  }
  try {
    process.kill(pid, 0);
  } catch {
    tally.lost++;
    tally.examples.push("the server process died");
  }
  for (const sim of sims) {
    if (sim.requests.length > 0) {
      tally.lost += sim.requests.length;
      tally.examples.push(`${sim.requests.length} request(s) reached ${sim.name}`);
    }
  }
  const rssAfter = rssKb();
  rss.push(rssAfter);
  return {
    ...tally,
    seconds: (Date.now() - started) / 1000,
    rssBefore,
    rssAfter,
    rssMax: Math.max(rssMax, rssAfter),
  };
}

/** `accepted` says what the legitimate calls among the inputs were, e.g. "legitimate dry runs …". */
function record(
  tool: string,
  what: string,
  result: Awaited<ReturnType<typeof runProperty>>,
  accepted = "accepted",
) {
  const codes = Object.entries(result.refused)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${code} ${count}`)
    .join(", ");
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  recordTrial({
    area: "hostile input",
    trial: `${tool}: ${what}`,
    runs: result.inputs,
    unit: "inputs",
    lost: result.lost,
    figures:
      `seed ${SEED}; ${result.inputs} inputs: ${result.inputs - result.accepted - result.lost} refused (${codes || "none"})` +
      `${result.accepted ? `, ${result.accepted} ${accepted}` : ""}; ` +
      `0 INTERNAL_ERROR allowed, ${sims.reduce((sum, sim) => sum + sim.requests.length, 0)} backend requests; ` +
      `server RSS ${mb(result.rssBefore)} → ${mb(result.rssAfter)} MB (max ${mb(result.rssMax)}); ${result.seconds.toFixed(1)} s`,
  });
  expect(result.examples, result.examples.join("\n")).toEqual([]);
  expect(result.lost).toBe(0);
}

beforeAll(async () => {
  // Holding nothing: no request may reach them.
  for (const fixture of FIXTURES) {
    const sim = await fixture.start({ secret: KEYS[fixture.credentialEnv] as string });
    sims.push({ name: fixture.kind, url: sim.url, requests: sim.requests, close: () => sim.close() });
  }
  const config = writeBackendsConfig(
    tempDir(),
    Object.fromEntries(
      FIXTURES.map((fixture, index) => [
        fixture.hostile.backend,
        {
          kind: fixture.kind,
          baseUrl: sims[index]?.url,
          credentialEnv: fixture.credentialEnv,
          ...fixture.keys,
          ...(fixture.allowTargets ? { allowTargets: fixture.allowTargets } : {}),
        },
      ]),
    ),
  );
  // info, not debug: the property runs make thousands of calls.
  session = await startSession(config.path, {
    clientName: "hostile-agent",
    env: { ...KEYS, DELETEGATE_LOG_LEVEL: "info" },
  });
  pid = session.pid() as number;
  rss.push(rssKb());
  // Real plans, one per backend, whose ids and tokens the execute_delete property forges and swaps.
  for (const [backend, kind] of Object.entries(BACKENDS)) {
    const target = goodTargets(kind)[0];
    const plan = structured(
      await session.call("dry_run_delete", {
        backend,
        ...(target ? { target } : {}),
        ids: validIdsOf(kind).slice(0, 2),
        reason: "Hostile-input suite: a plan to forge against",
      }),
    );
    plans.push({ plan_id: plan.plan_id, token: plan.confirmation.token, backend });
  }
  tokens = plans.map((plan) => plan.token);
});

afterAll(async () => {
  await session?.close();
  for (const sim of sims) await sim.close();
  sims = [];
  plans = [];
});

describe("hostile tool input: always a coded refusal, never a crash, nothing sent", () => {
  it("list_backends refuses every argument it does not take", async () => {
    const arbitrary = fc.oneof(
      extraKeys([]),
      fc.dictionary(fc.string({ unit: "binary", minLength: 1 }), wrongValue, { minKeys: 1, maxKeys: 4 }),
      protoObjects.filter((value) => Object.keys(value as object).length > 0) as fc.Arbitrary<
        Record<string, unknown>
      >,
    );
    const result = await runProperty("list_backends", arbitrary, RUNS.list_backends, async (args, tally) => {
      // The SDK drops a top-level own `__proto__` key while parsing the request; what is left is what is judged.
      const effective = Object.keys(args).filter((key) => key !== "__proto__");
      const answer = await session.call("list_backends", args);
      if (effective.length === 0) {
        tally.accepted++;
        return answer.isError ? `refused an empty call: ${textOf(answer)}` : null;
      }
      return refusalProblem(answer, tally);
    });
    record(
      "list_backends",
      "extra and unknown arguments (wrong types, prototype keys, unicode, 1 MB)",
      result,
      "calls left without arguments once the SDK dropped a top-level __proto__ key, answered normally",
    );
  });

  it("dry_run_delete refuses hostile backends, targets, ids and reasons, and never plans a hostile id", async () => {
    type Field<T> = { value: T | undefined; good: boolean };
    /** The dry run's hostile part: one field at a time, so every layer of checks is reached, or several at once. */
    type Focus = "backend" | "target" | "ids" | "reason" | "extra" | "several";
    const field =
      (name: Focus) =>
      <T>(focus: Focus, good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>, missingIsGood = false) => {
        const goodField = good.map((value) => ({ value, good: true }) as Field<unknown>);
        const badField = fc.oneof(
          { weight: 4, arbitrary: bad.map((value) => ({ value, good: false }) as Field<unknown>) },
          { weight: 1, arbitrary: fc.constant({ value: undefined, good: missingIsGood } as Field<unknown>) },
        );
        if (focus === name) return badField;
        if (focus === "several") return fc.oneof(goodField, badField);
        return goodField;
      };
    const hostileIds = fc.oneof(
      fc.constantFrom(
        "",
        "   ",
        "\t",
        ...GLOBS,
        ...CONTROLS,
        ...LONE_SURROGATES,
        "z".repeat(4097),
        1e21,
        -1e300,
      ),
      fc.constant(Number.MAX_SAFE_INTEGER + 2),
      // Rarer than the rest: a few megabytes per call are enough, and the memory bound stays about leaks.
      {
        weight: 1,
        arbitrary: fc.oneof({ weight: 3, arbitrary: fc.constant("z".repeat(5_000)) }, hugeString),
      },
    );
    /** Another kind's target: a kind without one must refuse it. */
    const foreignTargets = FIXTURES.flatMap((fixture) => fixture.targets.slice(0, 1));
    const hostileTarget = (kind: Kind) => {
      const good = goodTargets(kind).find((target) => target && Object.keys(target).length > 0);
      if (!good) {
        return fc.oneof(
          wrongValue,
          fc
            .constantFrom('{"__proto__":{}}', '{"constructor":"x"}', '{"prototype":{}}', "[]", "[{}]", '"x"')
            .map((text) => new RawJson(text)),
          fc.constantFrom(...foreignTargets),
        );
      }
      const [field, glob, exact] = allowed(kind);
      const inner = JSON.stringify(good).slice(1, -1);
      return fc.oneof(
        wrongValue,
        fc
          .oneof(
            hostileName([exact]),
            fc.constantFrom(
              `${glob}*`,
              `${glob}**`,
              `${glob}[a-z]*`,
              `${glob}{a,b}`,
              `${glob}?`,
              `${glob} x `,
              ` ${glob}x`,
              `${glob}x\t`,
              `${glob}\u202ex`,
              `${glob}x\u200b`,
              `${glob}\ufeffx`,
              `${glob}\ud800`,
              `${glob}\u0000`,
              `${glob}x\n`,
            ),
          )
          .map((value) => ({ ...good, [field]: value })),
        fc
          .constantFrom(
            `{"__proto__":{"polluted":true},${inner}}`,
            `{${inner},"__proto__":{"${field}":"${exact}"}}`,
            `{"__proto__":${JSON.stringify(good)}}`,
            `{${inner},"constructor":{"prototype":{"polluted":true}}}`,
            `{${inner},"prototype":"${exact}"}`,
            `{${inner},"toString":"${exact}"}`,
            `{"${field}":{"__proto__":"${exact}"}}`,
            `{"${field}":["${exact}"]}`,
            `{${inner},"extra":1}`,
            "[]",
            `[${JSON.stringify(good)}]`,
            JSON.stringify(JSON.stringify(good)),
          )
          .map((text) => new RawJson(text)),
      );
    };
    const focuses: Focus[] = ["backend", "target", "ids", "reason", "extra", "several"];
    const arbitrary = fc
      .tuple(fc.constantFrom(...NAMES), fc.constantFrom(...focuses))
      .chain(([name, focus]) => {
        const kind = BACKENDS[name] as Kind;
        const validIds = fc.constantFrom(...validIdsOf(kind));
        const wrongIds = fc.oneof(
          wrongValue.map((value) => ({ wrong: value })),
          fc.constant({ wrong: undefined }),
          fc
            .array(fc.oneof(wrongValue, validIds), { minLength: 1, maxLength: 5 })
            .filter((ids) => ids.some((id) => typeof id !== "string" && typeof id !== "number"))
            .map((ids) => ({ wrong: ids })),
          fc.constant({ wrong: Array.from({ length: 10_001 }, (_, n) => `rec-${n}`) }),
        );
        const ids =
          focus === "ids" || focus === "several"
            ? fc.oneof(
                fc.tuple(
                  fc.array(validIds, { maxLength: 6 }),
                  fc.array(hostileIds, { minLength: 1, maxLength: 6 }),
                ),
                wrongIds,
              )
            : // Hostile ids ride along with good ones in every other dry run: they must never be planned.
              fc.tuple(
                fc.array(validIds, { minLength: 1, maxLength: 6 }),
                fc.array(hostileIds, { maxLength: 4 }),
              );
        const extraArgs = extraKeys(["backend", "target", "ids", "reason"]);
        return fc.record({
          backend: field("backend")(focus, fc.constant(name), fc.oneof(hostileName(NAMES), wrongValue)),
          target: field("target")(
            focus,
            fc.constantFrom(...goodTargets(kind)),
            hostileTarget(kind),
            goodTargets(kind).includes(undefined),
          ),
          ids,
          reason: field("reason")(
            focus,
            fc.constantFrom(
              "Customer asked for erasure (ticket 4411)",
              "  GDPR erasure — ticket 7, see CRM  ",
              "Удалить по запросу клиента 😀",
              "מחיקה לפי בקשת לקוח 12345",
              "Line one of the reason\nline two\r\nand three",
              "r".repeat(1024),
            ),
            fc.oneof(
              wrongValue.filter((value) => typeof value !== "string" || value.trim().length < 10),
              fc.constantFrom(
                "",
                "too short",
                "   x   ",
                "r".repeat(1025),
                "a reason with NUL \u0000 inside",
                "a reason with a lone \ud800 surrogate",
                "\u202e a reason that displays reversed",
                "a reason with an escape \u001b[2J sequence",
                "a reason with a tab\there (Cc, not a line break)",
                "a reason\u2028with a line separator",
                "a reason with a zero\u200bwidth space",
              ),
              hugeString,
            ),
          ),
          extra:
            focus === "extra" ? extraArgs : focus === "several" ? sometimes(extraArgs, 1) : fc.constant(null),
          name: fc.constant(name),
        });
      });

    const result = await runProperty(
      "dry_run_delete",
      arbitrary,
      RUNS.dry_run_delete,
      async (input, tally) => {
        const kind = BACKENDS[input.name] as Kind;
        const args: Record<string, unknown> = { ...(input.extra ?? {}) };
        if (input.backend.value !== undefined) args.backend = input.backend.value;
        const target = input.target.value;
        if (target !== undefined) args.target = target instanceof RawJson ? JSON.parse(target.text) : target;
        // For kinds without a target, "none" is absent, null or {}, whichever generator made it.
        const targetGood = goodTargets(kind).includes(undefined)
          ? args.target === undefined ||
            args.target === null ||
            (typeof args.target === "object" &&
              !Array.isArray(args.target) &&
              Object.keys(args.target).length === 0)
          : input.target.good;
        const ids = input.ids as [(string | number)[], (string | number)[]] | { wrong: unknown };
        let goodIds: (string | number)[] = [];
        if (Array.isArray(ids)) {
          goodIds = ids[0];
          // Hostile ids interleaved with good ones, so a hostile id cannot hide by position.
          args.ids = interleave(ids[0], ids[1]);
        } else if (ids.wrong !== undefined) args.ids = ids.wrong;
        if (input.reason.value !== undefined) args.reason = input.reason.value;

        const extra = Object.keys(input.extra ?? {}).filter((key) => key !== "__proto__");
        const legitimate =
          extra.length === 0 &&
          input.backend.good &&
          targetGood &&
          input.reason.good &&
          Array.isArray(ids) &&
          goodIds.length > 0;
        const answer = await session.call("dry_run_delete", args);
        if (!legitimate) return refusalProblem(answer, tally);
        if (answer.isError) return `refused a legitimate dry run: ${textOf(answer).slice(0, 300)}`;
        tally.accepted++;
        const plan = answer.structuredContent as {
          counts: { received: number; to_delete: number };
          sample_ids: string[];
          invalid_ids: { id: string }[];
        };
        const wanted = new Set(goodIds.map((id) => normalizedId(kind, id)));
        const shown = (id: string) => (id.length > 200 ? `${id.slice(0, 200)}…(${id.length} chars)` : id);
        if (plan.counts.received !== (args.ids as unknown[]).length)
          return `received ${plan.counts.received}`;
        if (plan.counts.to_delete !== wanted.size)
          return `planned ${plan.counts.to_delete} ids, not the ${wanted.size} good ones`;
        if (plan.sample_ids.some((id) => ![...wanted].map(shown).includes(id)))
          return "a hostile id was planned";
        if (plan.invalid_ids.some((item) => [...wanted].map(shown).includes(item.id)))
          return "a good id was listed invalid";
        return null;
      },
    );
    record(
      "dry_run_delete",
      "wrong types, missing/extra fields, 1 MB and unicode strings, prototype keys in target, glob/control/look-alike ids and targets",
      result,
      "legitimate dry runs whose hostile ids were all listed invalid, none planned, nothing sent",
    );
  });

  it("execute_delete refuses forged, foreign and malformed plan ids and tokens, and runs nothing", async () => {
    const mutations = (token: string) => [
      token.toUpperCase(),
      `${token}x`,
      token.slice(0, -1),
      ` ${token}`,
      `${token}\n`,
      token.replace(/.$/, "*"),
      `${token}\u0000`,
      token.replace("dg_", "DG_"),
    ];
    const arbitrary = fc
      .record({
        plan: fc.oneof(
          { weight: 5, arbitrary: fc.nat(plans.length - 1).map((index) => ({ index })) },
          {
            weight: 2,
            arbitrary: fc
              .oneof(
                hostileName(plans.map((plan) => plan.plan_id)),
                wrongValue,
                fc.uuid().map((id) => `plan_${id}`),
                fc.constantFrom(undefined, "plan_*", "plan_?", "plan_[0-9a-f]*", "job_x", "../plans/x"),
              )
              .map((value) => ({ value })),
          },
        ),
        token: fc.oneof(
          { weight: 2, arbitrary: fc.constant({ own: true }) },
          { weight: 2, arbitrary: fc.nat(plans.length - 1).map((index) => ({ foreign: index })) },
          { weight: 2, arbitrary: fc.nat(7).map((mutation) => ({ mutation })) },
          fc
            .oneof(
              wrongValue,
              hugeString,
              fc.constantFrom(undefined, "", "dg_", "*", "dg_*"),
              fc.base64String({ minLength: 32, maxLength: 32 }).map((text) => `dg_${text}`),
            )
            .map((value) => ({ value })),
        ),
        wait: fc.oneof(
          {
            weight: 4,
            arbitrary: fc.constantFrom(undefined, 0, 0.5, 1).map((value) => ({ value, good: true })),
          },
          fc
            .oneof(fc.constantFrom(31, -1, -0.001, 1e308, "5", "0", null, true, [], {}), wrongValue)
            .filter((value) => typeof value !== "number" || value < 0 || value > 30)
            .map((value) => ({ value, good: false })),
        ),
        extra: sometimes(
          fc.oneof(
            extraKeys(["plan_id", "confirmation_token", "wait_seconds"]),
            fc.constant({ dry_run: true }),
            fc.constant({ confirm: true }),
          ),
          4,
        ),
      })
      // The one combination that would really run a plan is not hostile input; it is never generated.
      .filter(
        (input) =>
          !(
            "index" in input.plan &&
            "own" in input.token &&
            input.wait.good &&
            Object.keys(input.extra ?? {}).every((key) => key === "__proto__")
          ),
      );
    const result = await runProperty(
      "execute_delete",
      arbitrary,
      RUNS.execute_delete,
      async (input, tally) => {
        const plan = "index" in input.plan ? plans[input.plan.index] : undefined;
        const args: Record<string, unknown> = { ...(input.extra ?? {}) };
        const planId = plan ? plan.plan_id : (input.plan as { value: unknown }).value;
        if (planId !== undefined) args.plan_id = planId;
        const own = plan?.token ?? (plans[0]?.token as string);
        const token =
          "own" in input.token
            ? own
            : "foreign" in input.token
              ? plans[
                  input.token.foreign === (input.plan as { index?: number }).index
                    ? (input.token.foreign + 1) % plans.length
                    : input.token.foreign
                ]?.token
              : "mutation" in input.token
                ? mutations(own)[input.token.mutation]
                : input.token.value;
        if (token !== undefined) args.confirmation_token = token;
        if (input.wait.value !== undefined) args.wait_seconds = input.wait.value;
        return refusalProblem(await session.call("execute_delete", args), tally);
      },
    );
    record(
      "execute_delete",
      "forged/foreign/mutated plan ids and tokens, bad wait_seconds and extra arguments on real plans",
      result,
    );
  });

  const jobIds = () =>
    fc.oneof(
      { weight: 1, arbitrary: wrongValue },
      {
        weight: 3,
        arbitrary: hostileName([
          "job_00000000-0000-4000-8000-000000000000",
          ...plans.map((plan) => plan.plan_id),
        ]),
      },
      fc.uuid().map((id) => `job_${id}`),
      fc.constantFrom(
        undefined,
        "__proto__",
        "constructor",
        "../../../../etc/passwd",
        "job_../../x",
        "job:*",
        "*",
        "job_*",
        "job_[0-9]",
        ...plans.map((plan) => plan.plan_id),
      ),
    );
  const badInt = (min: number, max: number) =>
    fc
      .oneof(fc.constantFrom(min - 1, max + 1, 1.5, -0.5, 1e308, "1", null, true, [], {}), wrongValue)
      .filter(
        (value) => !(typeof value === "number" && Number.isInteger(value) && value >= min && value <= max),
      );
  const option = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>) =>
    fc.oneof(
      {
        weight: 2,
        arbitrary: fc.oneof(fc.constant(undefined), good).map((value) => ({ value, good: true })),
      },
      { weight: 1, arbitrary: bad.map((value) => ({ value, good: false })) },
    );
  const withFields = (fields: Record<string, { value: unknown }>, extra: Record<string, unknown> | null) => {
    const args: Record<string, unknown> = { ...(extra ?? {}) };
    for (const [key, { value }] of Object.entries(fields)) if (value !== undefined) args[key] = value;
    return args;
  };

  it("get_delete_job refuses every job id (none exists) and malformed pages", async () => {
    const arbitrary = fc.record({
      job_id: jobIds().map((value) => ({ value })),
      failed_offset: option(fc.constantFrom(0, 5), badInt(0, Number.MAX_SAFE_INTEGER)),
      failed_limit: option(fc.constantFrom(0, 1000), badInt(0, 1000)),
      extra: sometimes(extraKeys(["job_id", "failed_offset", "failed_limit"]), 5),
    });
    const result = await runProperty(
      "get_delete_job",
      arbitrary,
      RUNS.get_delete_job,
      async (input, tally) => {
        const { extra, ...fields } = input;
        return refusalProblem(await session.call("get_delete_job", withFields(fields, extra)), tally);
      },
    );
    record(
      "get_delete_job",
      "job ids: prototype names, traversal, globs, plan ids, wrong types; bad pages",
      result,
    );
  });

  it("list_delete_jobs refuses bad statuses, limits and extra arguments", async () => {
    // Every status a job can have: the registry, not a copy of it.
    const statuses: string[] = [...JOB_STATUSES];
    const arbitrary = fc.record({
      status: option(
        fc.constantFrom(...statuses),
        fc.oneof(hostileName(statuses), wrongValue).filter((value) => !statuses.includes(value as string)),
      ),
      limit: option(fc.constantFrom(1, 20, 100), badInt(1, 100)),
      extra: sometimes(extraKeys(["status", "limit"]), 3),
    });
    const result = await runProperty(
      "list_delete_jobs",
      arbitrary,
      RUNS.list_delete_jobs,
      async (input, tally) => {
        const { extra, ...fields } = input;
        const answer = await session.call("list_delete_jobs", withFields(fields, extra));
        const extraKeysLeft = Object.keys(extra ?? {}).filter((key) => key !== "__proto__");
        if (fields.status.good && fields.limit.good && extraKeysLeft.length === 0) {
          tally.accepted++;
          if (answer.isError) return `refused a legitimate listing: ${textOf(answer).slice(0, 300)}`;
          const jobs = (answer.structuredContent as { jobs: unknown[] }).jobs;
          return jobs.length === 0 ? null : `${jobs.length} jobs listed, but nothing was ever executed`;
        }
        return refusalProblem(answer, tally);
      },
    );
    record(
      "list_delete_jobs",
      "statuses in other case/whitespace, globs, wrong types; bad limits",
      result,
      "valid listings, each empty",
    );
  });

  it("cancel_delete_job refuses every job id (none exists)", async () => {
    const arbitrary = fc.record({
      job_id: jobIds().map((value) => ({ value })),
      extra: sometimes(extraKeys(["job_id"]), 5),
    });
    const result = await runProperty(
      "cancel_delete_job",
      arbitrary,
      RUNS.cancel_delete_job,
      async (input, tally) => {
        const { extra, ...fields } = input;
        return refusalProblem(await session.call("cancel_delete_job", withFields(fields, extra)), tally);
      },
    );
    record("cancel_delete_job", "job ids: prototype names, traversal, globs, plan ids, wrong types", result);
  });

  it("keeps the server's memory bounded over every run", () => {
    const [first] = rss;
    const max = Math.max(...rss);
    recordTrial({
      area: "hostile input",
      trial: "server memory over all hostile-input properties",
      runs: rss.length,
      unit: "RSS samples",
      lost: max - (first as number) > RSS_BOUND_KB ? 1 : 0,
      figures: `VmRSS ${((first as number) / 1024).toFixed(0)} MB at start, max ${(max / 1024).toFixed(0)} MB, ${((rss.at(-1) as number) / 1024).toFixed(0)} MB at end; bound +${RSS_BOUND_KB / 1024} MB`,
    });
    expect(max - (first as number)).toBeLessThanOrEqual(RSS_BOUND_KB);
  });
});

/** Alternates the two lists' items, then the rest of the longer one. */
function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let n = 0; n < Math.max(a.length, b.length); n++) {
    if (n < a.length) out.push(a[n] as T);
    if (n < b.length) out.push(b[n] as T);
  }
  return out;
}
