// dry_run_delete with ids_file over stdio: every format gives the plan `ids` would, only files under
// limits.idFileRoots are read (no hard link to a file elsewhere), a path that would display as other text is
// refused, a file of one endless line is refused without taking the server down, the plan and its audit lines name
// the file and its sha256, and a million ids from a file stay within the scale goal's memory.
import { createHash } from "node:crypto";
import { once } from "node:events";
import {
  createWriteStream,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processMemoryKb } from "../../tools/bench/stats.js";
import { type SplendorSimulator, startSplendorSimulator } from "../../tools/simulators/splendor.js";
import {
  deleteRequests,
  errorText,
  readAudit,
  type Session,
  SPLENDOR_TENANT,
  SPLENDOR_TOKEN,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeConfig,
} from "./harness.js";

const REASON = "Erasure list from ticket DSR-2291 (CSV export)";
const TARGET = { dataset_id: "crm-contacts" };
/** The scale goal of BENCHMARKS.md: 1M ids in one job, peak RSS of the server. */
const SCALE_GOAL_MB = 200;

let sim: SplendorSimulator;
let session: Session;
let configPath: string;
let auditLog: string;
let root: string;
let outside: string;

beforeAll(async () => {
  sim = await startSplendorSimulator({ token: SPLENDOR_TOKEN, tenantId: SPLENDOR_TENANT });
  const dir = tempDir();
  root = join(dir, "erasure-lists");
  outside = join(dir, "elsewhere");
  mkdirSync(root);
  mkdirSync(outside);
  const config = writeConfig(dir, sim.url, {
    limits: { idFileRoots: [root], maxIdsPerFile: 1_000_000 },
    backend: { maxItemsPerJob: 1_000_000 },
  });
  auditLog = config.auditLog;
  configPath = config.path;
  session = await startSession(config.path, { clientName: "file-agent" });
});
afterAll(async () => {
  await session?.close();
  await sim?.close();
});

function write(name: string, text: string, dir = root): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function dryRun(args: Record<string, unknown>) {
  return session.call("dry_run_delete", {
    backend: "splendor-test",
    target: TARGET,
    reason: REASON,
    ...args,
  });
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("ids_file formats", () => {
  // Each file names rec-1, rec-2 (twice) and rec-3: 4 received, 3 unique, 1 duplicate.
  const files: Record<string, string> = {
    "lines.txt": "rec-1\n rec-2 \n\nrec-2\r\nrec-3\n",
    "export.csv":
      'email,id,name\n"a@x.io",rec-1,"Ann, B"\nb@x.io,rec-2,"say ""hi"""\nc@x.io,rec-2,C\nd@x.io,"rec-3","multi\nline"\n',
    "noheader.csv": 'rec-1,2026-01-01\nrec-2,2026-01-02\nrec-2,x\n"rec-3",y\n',
    "ids.json": '[\n  "rec-1", "rec-2",\n  "rec-2", "rec-\\u0033"\n]\n',
    "ids.jsonl": '"rec-1"\n"rec-2"\n\n"rec-2"\n"rec-3"\n',
    "bom.txt": "\ufeffrec-1\nrec-2\nrec-2\nrec-3\n",
  };

  for (const [name, text] of Object.entries(files)) {
    it(`reads ${name} into the plan ids would make, and names the file and its sha256`, async () => {
      const path = write(name, text);
      const plan = structured(await dryRun({ ids_file: path }));
      expect(plan.counts).toEqual({ received: 4, unique: 3, duplicates: 1, invalid: 0, to_delete: 3 });
      expect([...plan.sample_ids].sort()).toEqual(["rec-1", "rec-2", "rec-3"]);
      expect(plan.ids_file).toBe(path);
      expect(plan.ids_file_sha256).toBe(sha256(path));
      const line = readAudit(auditLog).find(
        (entry) => entry.event === "plan.created" && entry.plan_id === plan.plan_id,
      );
      expect(line).toMatchObject({ ids_file: path, ids_file_sha256: sha256(path) });
    });
  }

  it("reads JSON numbers as the ids would be: numbers become strings, and a number past 2^53 is invalid", async () => {
    const path = write("numbers.json", "[1, 2, 2, 9007199254740993]");
    const plan = structured(
      await session.call("dry_run_delete", {
        backend: "splendor-test",
        target: TARGET,
        reason: REASON,
        ids_file: path,
      }),
    );
    expect(plan.counts).toEqual({ received: 4, unique: 3, duplicates: 1, invalid: 1, to_delete: 2 });
  });

  it("runs the file's plan as a job, and the confirmation's audit line names the file", async () => {
    const path = write("run.txt", "run-1\nrun-2\nrun-3\n");
    const plan = structured(await dryRun({ ids_file: path }));
    const job = structured(
      await session.call("execute_delete", {
        plan_id: plan.plan_id,
        confirmation_token: plan.confirmation.token,
      }),
    );
    expect((await waitForJob(session, job.job_id)).job.status).toBe("succeeded");
    const sent = deleteRequests(sim).flatMap(
      (request) => (request.body as { record_ids: string[] }).record_ids,
    );
    expect(sent.filter((id) => id.startsWith("run-")).sort()).toEqual(["run-1", "run-2", "run-3"]);
    const confirmed = readAudit(auditLog).find(
      (entry) => entry.event === "delete.confirmed" && entry.job_id === job.job_id,
    );
    expect(confirmed).toMatchObject({ ids_file: path, ids_file_sha256: sha256(path) });
  });
});

describe("ids_file refusals", () => {
  it("refuses paths outside the roots, .. out of a root, a symlink out of a root, a relative path and a directory", async () => {
    const secret = write("secret.txt", "rec-1\n", outside);
    symlinkSync(secret, join(root, "link-out.txt"));
    mkdirSync(join(root, "folder"), { recursive: true });
    const cases: [string, RegExp][] = [
      [secret, /outside/i],
      [join(outside, "missing.txt"), /outside/i],
      [join(root, "..", "elsewhere", "secret.txt"), /outside/i],
      [join(root, "link-out.txt"), /outside/i],
      ["erasure-lists/lines.txt", /absolute/i],
      [join(root, "folder"), /directory|not a regular file/i],
      [join(root, "missing.txt"), /not found|does not exist|no such/i],
    ];
    for (const [path, why] of cases) {
      const text = errorText(await dryRun({ ids_file: path }));
      expect(text, path).toMatch(/^INVALID_INPUT: /);
      expect(text, path).toMatch(why);
    }
    expect(
      readAudit(auditLog).some((entry) => entry.event === "plan.created" && entry.ids_file === secret),
    ).toBe(false);
  });

  it("refuses both ids and ids_file, neither, and a file over maxIdsPerFile", async () => {
    const path = write("two.txt", "rec-1\nrec-2\n");
    expect(errorText(await dryRun({ ids_file: path, ids: ["rec-1"] }))).toMatch(
      /^INVALID_INPUT: .*exactly one/,
    );
    expect(errorText(await dryRun({}))).toMatch(/^INVALID_INPUT: .*exactly one/);
    const big = join(root, "too-many.txt");
    const out = createWriteStream(big);
    for (let index = 0; index <= 1_000_000; index += 10_000)
      out.write(`${Array.from({ length: 10_000 }, (_, n) => `big-${index + n}`).join("\n")}\n`);
    out.end();
    await once(out, "finish");
    expect(errorText(await dryRun({ ids_file: big }))).toMatch(/^TOO_MANY_IDS: /);
  });
});

describe("ids_file refusals from a hostile agent that writes under the root", () => {
  it("refuses a hard link to a file elsewhere, and shows none of its ids", async () => {
    const secret = write("hard-secret.txt", "outside-1\noutside-2\n", outside);
    const hard = join(root, "hard.txt");
    linkSync(secret, hard);
    const text = errorText(await dryRun({ ids_file: hard }));
    expect(text).toMatch(/^INVALID_INPUT: .*hard link/);
    expect(text).not.toContain("outside-1");
  });

  it("refuses a path that would show a fake line in the person's form, before reading it", async () => {
    const name = "dsr.txt\u2028deletegate's note: the reviewer approved this list.txt";
    const path = write(name, "rec-1\n");
    const text = errorText(await dryRun({ ids_file: path }));
    expect(text).toMatch(/^INVALID_INPUT: /);
    expect(text).toContain("\\u2028");
    expect(text).not.toMatch(/[\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(
      readAudit(auditLog).some((entry) => entry.event === "plan.created" && entry.ids_file === path),
    ).toBe(false);
  });

  it("refuses a 2 GB sparse file, eight at once, and keeps answering", async () => {
    const sparse = join(root, "sparse.txt");
    writeFileSync(sparse, "");
    truncateSync(sparse, 2 ** 31);
    const texts = await Promise.all(
      Array.from({ length: 8 }, async () => errorText(await dryRun({ ids_file: sparse }))),
    );
    for (const text of texts) expect(text).toMatch(/^INVALID_INPUT: .*line 1 is longer than/);
    const plan = structured(await dryRun({ ids_file: write("after-sparse.txt", "rec-1\n") }));
    expect(plan.counts.to_delete).toBe(1);
  });
});

describe("a million ids from a file", () => {
  it("plans 1,000,000 ids in one dry run of a fresh server with its peak RSS within the scale goal", async () => {
    const path = join(root, "million.csv");
    const out = createWriteStream(path);
    out.write("id,requested_at\n");
    for (let start = 0; start < 1_000_000; start += 10_000) {
      const rows = Array.from(
        { length: 10_000 },
        (_, n) => `m-${String(start + n).padStart(8, "0")},2026-11-30`,
      );
      if (!out.write(`${rows.join("\n")}\n`)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    // A server of its own, so its peak is this dry run's, not an earlier test's.
    const fresh = await startSession(configPath, { clientName: "million-agent" });
    const plan = structured(
      await fresh.call("dry_run_delete", {
        backend: "splendor-test",
        target: TARGET,
        reason: REASON,
        ids_file: path,
      }),
    );
    const peakMb = processMemoryKb(fresh.pid() as number).peak / 1024;
    await fresh.close();
    expect(plan.counts).toEqual({
      received: 1_000_000,
      unique: 1_000_000,
      duplicates: 0,
      invalid: 0,
      to_delete: 1_000_000,
    });
    expect(peakMb, `peak RSS ${peakMb.toFixed(0)} MB`).toBeLessThanOrEqual(SCALE_GOAL_MB);
  }, 120_000);
});
