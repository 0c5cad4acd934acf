// Audit integrity (issue 5 point 5): the built server writes a hash-chained audit log through dry runs, refusals,
// executed jobs and a restart; `deletegate audit verify` finds it intact, then names exactly the first broken line
// of each of 1,000 tampered copies (edited field, deleted line, forged inserted line, swapped lines): all checked by
// verifyAuditFile, the code behind the command, and 100 of them by the built CLI as a child process.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GENESIS_SHA256, sha256Hex, verifyAuditFile } from "../../src/audit/index.js";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  CLI,
  errorText,
  planAndExecute,
  range,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeConfig,
} from "../integration/harness.js";
import { recordTrial } from "./report.js";

const run = promisify(execFile);
const REASON = "Audit test: delete synthetic records";
const SEED = 20_261_122;
const TAMPERS_PER_KIND = 250;
/** Of each kind's tampers, these go through the CLI as a child process too (a spawn costs ~0.15 s of CPU). */
const CLI_TAMPERS_PER_KIND = 25;

/** A small seeded PRNG (mulberry32), so a failing tamper can be replayed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  /** An integer in [min, max]. */
  return (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
}

interface VerifyRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function verify(file: string, head?: string): Promise<VerifyRun> {
  const args = [CLI, "audit", "verify", file, ...(head ? ["--head", head] : [])];
  try {
    const { stdout, stderr } = await run(process.execPath, args);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** The line verify named: a number, "head" when the anchored line is missing, null when it said OK. */
function namedLine(result: VerifyRun): number | "head" | null {
  if (result.code === 0) return null;
  const line = /^BROKEN: line (\d+): /.exec(result.stdout);
  if (line) return Number(line[1]);
  return /^BROKEN: no line has sha256 /.test(result.stdout) ? "head" : null;
}

function linesOf(path: string): string[] {
  const text = readFileSync(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n");
}

/** One field of an audit line changed, keeping it valid JSON (a value of every JSON type can be picked). */
function editField(
  line: string,
  pick: (min: number, max: number) => number,
): { line: string; field: string } {
  const value = JSON.parse(line) as Record<string, unknown>;
  const fields = Object.keys(value);
  const field = fields[pick(0, fields.length - 1)] as string;
  const old = value[field];
  if (field === "prev_sha256") {
    const hex = old as string;
    value[field] = `${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}`;
  } else if (typeof old === "number") value[field] = old + 1;
  else if (typeof old === "string") value[field] = `${old}x`;
  else if (typeof old === "boolean") value[field] = !old;
  else if (old === null) value[field] = "forged";
  else if (Array.isArray(old)) value[field] = [...old, "forged-id"];
  else value[field] = { ...(old as object), forged: true };
  return { line: JSON.stringify(value), field };
}

let sim: SplendorSimulator;
let dir: string;
let auditLog: string;
let configPath: string;
const events = new Map<string, number>();
let firstRunLines = 0;

async function exerciseServer(session: Session, round: number): Promise<void> {
  for (let job = 0; job < 3; job++) {
    const { job: started } = await planAndExecute(session, {
      ids: range(250, `r${round}-j${job}-`),
      reason: REASON,
      target: { dataset_id: job === 0 ? "app-logs" : "crm-contacts" },
    });
    expect((await waitForJob(session, started.job_id)).job.status).toBe("succeeded");
  }
  // Refusals: a target outside allowTargets, a wrong token, an unknown plan; and a dry run never executed.
  const refused = await session.call("dry_run_delete", {
    backend: "splendor-test",
    target: { dataset_id: "billing" },
    ids: ["a"],
    reason: REASON,
  });
  expect(errorText(refused)).toMatch(/^TARGET_NOT_ALLOWED: /);
  const plan = structured(
    await session.call("dry_run_delete", {
      backend: "splendor-test",
      target: { dataset_id: "app-logs" },
      ids: range(30, `r${round}-idle-`),
      reason: REASON,
    }),
  );
  const wrong = await session.call("execute_delete", { plan_id: plan.plan_id, confirmation_token: "nope" });
  expect(wrong.isError).toBe(true);
  const missing = await session.call("execute_delete", {
    plan_id: "plan_missing",
    confirmation_token: "nope",
  });
  expect(missing.isError).toBe(true);
}

beforeAll(async () => {
  sim = await startSplendorSimulator({
    token: SPLENDOR_TOKEN,
    tenantId: SPLENDOR_TENANT,
    jobPendingMs: 20,
    jobRunningMs: 20,
  });
  dir = tempDir();
  const config = writeConfig(dir, sim.url, { backend: { maxBatchSize: 50 } });
  auditLog = config.auditLog;
  configPath = config.path;
  // Two server runs on the same audit file and store: the chain must go on across the restart.
  for (const round of [1, 2]) {
    const session = await startSession(configPath, { clientName: `audit-agent-${round}` });
    try {
      await exerciseServer(session, round);
    } finally {
      await session.close();
    }
    if (round === 1) firstRunLines = linesOf(auditLog).length;
  }
  for (const line of linesOf(auditLog)) {
    const event = (JSON.parse(line) as { event: string }).event;
    events.set(event, (events.get(event) ?? 0) + 1);
  }
}, 120_000);

afterAll(async () => {
  await sim?.close();
});

describe("audit log integrity", () => {
  it("the untampered log of two server runs verifies, and the chain goes on across the restart", async () => {
    const lines = linesOf(auditLog);
    const n = lines.length;
    expect(firstRunLines).toBeGreaterThan(10);
    expect(n).toBeGreaterThan(firstRunLines);
    for (const event of [
      "plan.created",
      "plan.refused",
      "delete.confirmed",
      "delete.refused",
      "job.started",
    ]) {
      expect(events.get(event) ?? 0).toBeGreaterThan(0);
    }
    expect(events.get("batch.completed")).toBe(2 * 3 * 5);
    expect(events.get("job.finished")).toBe(6);
    const restarted = JSON.parse(lines[firstRunLines] as string) as { seq: number; prev_sha256: string };
    expect(restarted).toMatchObject({
      seq: firstRunLines + 1,
      prev_sha256: sha256Hex(lines[firstRunLines - 1] as string),
    });
    expect((JSON.parse(lines[0] as string) as { prev_sha256: string }).prev_sha256).toBe(GENESIS_SHA256);

    const started = performance.now();
    const result = await verify(auditLog);
    const ms = Math.round(performance.now() - started);
    const last = sha256Hex(lines[n - 1] as string);
    const intact =
      result.code === 0 && result.stdout === `OK: ${n} lines, chain intact; last line's sha256 ${last}\n`;
    const anchored = await verify(auditLog, sha256Hex(lines[firstRunLines - 1] as string));
    const anchorFound = anchored.code === 0 && anchored.stdout.includes(`--head is line ${firstRunLines}`);
    recordTrial({
      area: "audit",
      trial:
        "verify the untampered audit log (dry runs, refusals, 6 jobs, a restart), with and without --head",
      runs: 2,
      unit: "verifies",
      lost: (intact ? 0 : 1) + (anchorFound ? 0 : 1),
      figures: `${n} lines (${firstRunLines} before the restart), chain intact, exit ${result.code}; --head found at line ${firstRunLines}; ${ms} ms`,
    });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toBe(`OK: ${n} lines, chain intact; last line's sha256 ${last}\n`);
    expect(anchored.code).toBe(0);
    expect(anchorFound).toBe(true);
  });

  it("1,000 tampered copies: verify exits 1 and names exactly the first broken line", async () => {
    const original = linesOf(auditLog);
    const n = original.length;
    const lastSha = sha256Hex(original[n - 1] as string);
    const pick = prng(SEED);
    const work = mkdtempSync(join(tmpdir(), "deletegate-tamper-"));
    type Kind = "edit" | "delete" | "insert" | "swap";
    interface Tamper {
      kind: Kind;
      what: string;
      lines: string[];
      /** The line verify must name; "head" when only the anchor can tell (the last line edited or removed). */
      expected: number | "head";
    }
    const tampers: Tamper[] = [];
    for (let i = 0; i < TAMPERS_PER_KIND; i++) {
      // An edited field of line k: seq or prev_sha256 break line k itself; any other field breaks the link to k+1.
      {
        const k = pick(1, n);
        const { line, field } = editField(original[k - 1] as string, pick);
        const lines = [...original];
        lines[k - 1] = line;
        const chainField = field === "seq" || field === "prev_sha256";
        tampers.push({
          kind: "edit",
          what: `line ${k} field ${field}`,
          lines,
          expected: chainField ? k : k === n ? "head" : k + 1,
        });
      }
      // A deleted line k: line k now holds seq k+1; the last line removed leaves a valid but shorter chain.
      {
        const k = pick(1, n);
        tampers.push({
          kind: "delete",
          what: `line ${k}`,
          lines: original.filter((_, index) => index !== k - 1),
          expected: k === n ? "head" : k,
        });
      }
      // A forged line before line k, built the way a forger who knows the scheme would: right seq, right hash.
      {
        const k = pick(1, n);
        const source = editField(original[pick(0, n - 1)] as string, pick).line;
        const forged = JSON.parse(source) as Record<string, unknown>;
        forged.seq = k;
        forged.prev_sha256 = k === 1 ? GENESIS_SHA256 : sha256Hex(original[k - 2] as string);
        const lines = [...original];
        lines.splice(k - 1, 0, JSON.stringify(forged));
        tampers.push({ kind: "insert", what: `before line ${k}`, lines, expected: k + 1 });
      }
      // Lines k and k+1 swapped: line k now holds seq k+1.
      {
        const k = pick(1, n - 1);
        const lines = [...original];
        [lines[k - 1], lines[k]] = [original[k] as string, original[k - 1] as string];
        tampers.push({ kind: "swap", what: `lines ${k} and ${k + 1}`, lines, expected: k });
      }
    }

    const started = performance.now();
    const missed: string[] = [];
    const byKind = new Map<Kind, { runs: number; cli: number; lost: number; head: number }>();
    const check = (
      tamper: Tamper,
      how: string,
      exit: number,
      named: number | "head" | null,
      output: string,
    ) => {
      if (exit === 1 && named === tamper.expected) return 0;
      missed.push(
        `${how}: ${tamper.kind} ${tamper.what}: expected ${tamper.expected}, exit ${exit}: ${output}`,
      );
      return 1;
    };
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < tampers.length; index = next++) {
        const tamper = tampers[index] as Tamper;
        const file = join(work, `tampered-${index}.jsonl`);
        writeFileSync(file, `${tamper.lines.join("\n")}\n`);
        // The anchor is the original last line, as an operator noted it; only the head cases need it.
        const head = tamper.expected === "head" ? lastSha : undefined;
        const stats = byKind.get(tamper.kind) ?? { runs: 0, cli: 0, lost: 0, head: 0 };
        byKind.set(tamper.kind, stats);
        stats.runs++;
        if (tamper.expected === "head") stats.head++;
        const verdict = verifyAuditFile(file, { head });
        const named = verdict.ok ? null : (verdict.line ?? "head");
        let lost = check(tamper, "verifyAuditFile", verdict.ok ? 0 : 1, named, JSON.stringify(verdict));
        if (stats.runs <= CLI_TAMPERS_PER_KIND) {
          stats.cli++;
          const result = await verify(file, head);
          lost = Math.max(
            lost,
            check(tamper, "CLI", result.code, namedLine(result), result.stdout + result.stderr),
          );
        }
        stats.lost += lost;
        rmSync(file);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    // Truncation is what the chain alone cannot see: the CLI says OK without the anchor and BROKEN with it.
    const cut = join(work, "cut.jsonl");
    writeFileSync(cut, `${original.slice(0, -1).join("\n")}\n`);
    const withoutHead = await verify(cut);
    const withHead = await verify(cut, lastSha);
    rmSync(work, { recursive: true, force: true });
    recordTrial({
      area: "audit",
      trial: "cut the last line off (truncation), verify with the anchor noted before (--head)",
      runs: 1,
      unit: "files",
      lost: withHead.code === 1 && namedLine(withHead) === "head" ? 0 : 1,
      figures: `without --head: exit ${withoutHead.code} (a valid shorter chain, the documented limit); with --head: exit ${withHead.code}`,
    });
    expect(withoutHead.code).toBe(0);
    expect(withHead.code).toBe(1);
    expect(namedLine(withHead)).toBe("head");

    const trials: Record<Kind, string> = {
      edit: "edit one field of a random line (any field, seq and prev_sha256 included)",
      delete: "delete a random line",
      insert: "insert a forged line with the right seq and prev_sha256 before a random line",
      swap: "swap two adjacent lines",
    };
    for (const [kind, trial] of Object.entries(trials) as [Kind, string][]) {
      const stats = byKind.get(kind) ?? { runs: 0, cli: 0, lost: 0, head: 0 };
      recordTrial({
        area: "audit",
        trial,
        runs: stats.runs,
        unit: "tampered copies",
        lost: stats.lost,
        figures:
          `${stats.runs - stats.lost}/${stats.runs} caught at the expected line (exit 1), ${stats.cli} of them through ` +
          `the built CLI as a child process; ${stats.head} on the last line, caught only with --head; ` +
          `${n}-line log, seed ${SEED}; all ${tampers.length} in ${seconds} s`,
      });
    }
    expect(missed).toEqual([]);
    expect([...byKind.values()].reduce((sum, stats) => sum + stats.runs, 0)).toBe(4 * TAMPERS_PER_KIND);
    expect([...byKind.values()].reduce((sum, stats) => sum + stats.cli, 0)).toBe(4 * CLI_TAMPERS_PER_KIND);
  });

  it("two servers appending to one audit file at once keep one intact chain (appends are serialised)", async () => {
    const shared = tempDir();
    const config = writeConfig(shared, sim.url, { store: "memory" });
    const a = await startSession(config.path, { clientName: "instance-a" });
    const b = await startSession(config.path, { clientName: "instance-b" });
    const ROUNDS = 40;
    try {
      // Both servers append at the same time, round after round.
      for (let i = 0; i < ROUNDS; i++) {
        await Promise.all(
          [a, b].map((session, index) =>
            session.call("dry_run_delete", {
              backend: "splendor-test",
              target: { dataset_id: "app-logs" },
              ids: [`shared-${i}-${index}`],
              reason: REASON,
            }),
          ),
        );
      }
    } finally {
      await a.close();
      await b.close();
    }
    const lines = linesOf(config.auditLog);
    const result = await verify(config.auditLog);
    const actors = new Set(lines.map((line) => (JSON.parse(line) as { actor: string }).actor));
    const intact = result.code === 0 && lines.length === 2 * ROUNDS;
    recordTrial({
      area: "audit",
      trial: "two servers appending to one audit file at once (stdio servers sharing a config)",
      runs: 2 * ROUNDS,
      unit: "lines",
      lost: intact ? 0 : 1,
      figures: `${lines.length} interleaved lines from ${actors.size} processes; verify exit ${result.code}: ${result.stdout.trim().slice(0, 80)}`,
    });
    expect(result.stdout).toMatch(new RegExp(`^OK: ${2 * ROUNDS} lines, chain intact`));
    expect(actors).toEqual(new Set(["instance-a", "instance-b"]));
    expect(existsSync(`${config.auditLog}.lock`)).toBe(false);
  });

  it('auditLog "stderr": the chain starts from genesis at each start', async () => {
    const alone = tempDir();
    const config = writeConfig(alone, sim.url, { store: "memory" });
    const file = JSON.parse(readFileSync(config.path, "utf8")) as Record<string, unknown>;
    writeFileSync(config.path, JSON.stringify({ ...file, auditLog: "stderr" }));
    const session = await startSession(config.path, { clientName: "stderr-agent" });
    try {
      for (let i = 0; i < 3; i++) {
        structured(
          await session.call("dry_run_delete", {
            backend: "splendor-test",
            target: { dataset_id: "app-logs" },
            ids: [`stderr-${i}`],
            reason: REASON,
          }),
        );
      }
    } finally {
      await session.close();
    }
    // The operational log shares stderr; its lines carry no chain fields.
    const chained = session
      .stderr()
      .split("\n")
      .filter((line) => line.includes('"prev_sha256"'));
    expect(chained).toHaveLength(3);
    const extracted = join(alone, "from-stderr.jsonl");
    writeFileSync(extracted, `${chained.join("\n")}\n`);
    const result = await verify(extracted);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK: 3 lines, chain intact/);
  });

  it("usage errors exit 2 with one line", async () => {
    const missing = await verify(join(dir, "no-such-audit.jsonl"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^deletegate: cannot read .*no-such-audit\.jsonl: ENOENT[^\n]*\n$/);
    expect(missing.stdout).toBe("");
    const noFile = await run(process.execPath, [CLI, "audit", "verify"]).catch((error) => error);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toBe("deletegate: usage: deletegate audit verify FILE [--head SHA256]\n");
    const badHead = await verify(auditLog, "abc");
    expect(badHead.code).toBe(2);
    const directory = await verify(dir);
    expect(directory.code).toBe(2);
  });
});
