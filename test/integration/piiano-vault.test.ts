// Piiano Vault end to end: the built server over stdio against the Vault simulator, all-or-nothing bulk deletes included.
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import {
  type PiianoVaultSimulator,
  type PiianoVaultSimulatorOptions,
  startPiianoVaultSimulator,
} from "../../tools/simulators/piiano-vault.js";
import {
  CLI,
  errorText,
  planAndExecute,
  readAudit,
  type Session,
  startSession,
  structured,
  tempDir,
  waitForJob,
  writeBackendsConfig,
} from "./harness.js";

const KEY = "pvault-sim-key-4c2e81";
const REASON = "DSR-2291: erase the data subject's records";
const BULK_PATH = /^\/api\/pvlt\/1\.0\/data\/collections\/[^/]+\/bulk\/objects(\?|$)/;

/** A deterministic UUID per (group, n), e.g. uuid(7, 3) → 00000007-0000-4000-8000-000000000003. */
function uuid(group: number, n: number): string {
  return `${group.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

function uuids(group: number, count: number): string[] {
  return Array.from({ length: count }, (_, index) => uuid(group, index));
}

let sim: PiianoVaultSimulator | undefined;
let session: Session | undefined;

afterEach(async () => {
  await session?.close();
  await sim?.close();
  session = undefined;
  sim = undefined;
});

async function setUp(
  simOptions: Omit<PiianoVaultSimulatorOptions, "apiKey">,
  backend: Record<string, unknown> = {},
  env: Record<string, string> = { PIIANO_API_KEY: KEY },
) {
  sim = await startPiianoVaultSimulator({ apiKey: KEY, ...simOptions });
  const config = writeBackendsConfig(tempDir(), {
    vault: {
      kind: "piiano-vault",
      baseUrl: sim.url,
      credentialEnv: "PIIANO_API_KEY",
      allowTargets: ["customers", "pii-*"],
      ...backend,
    },
  });
  session = await startSession(config.path, { env });
  return { sim, session, auditLog: config.auditLog };
}

async function run(ids: string[], target: Record<string, unknown> = { collection: "customers" }) {
  const own = session as Session;
  const { plan, job } = await planAndExecute(own, { backend: "vault", target, ids, reason: REASON });
  const { job: final } = await waitForJob(own, job.job_id, 60_000);
  return { plan, job: final };
}

interface BulkRequest {
  query: URLSearchParams;
  ids: string[];
  status: number;
  headers: Record<string, unknown>;
  time: number;
}

/** The bulk delete requests the simulator received, with their query and ids. */
function bulkRequests(): BulkRequest[] {
  return (sim as PiianoVaultSimulator).requests
    .filter((request) => BULK_PATH.test(request.path))
    .map((request) => ({
      query: new URL(request.path, "http://sim").searchParams,
      ids: (request.body as { id: string }[]).map((entry) => entry.id),
      status: request.status,
      headers: request.headers,
      time: request.time,
    }));
}

describe("piiano-vault over stdio", () => {
  it("deletes 2,500 objects in batches of 1,000 by default, each once, with bearer, reason=Other and adhoc_reason", async () => {
    const ids = uuids(1, 2_500);
    const { sim, session, auditLog } = await setUp({ collections: { customers: { active: ids } } });

    const listed = structured(await session.call("list_backends"));
    expect(listed.backends[0]).toMatchObject({
      name: "vault",
      kind: "piiano-vault",
      target_fields: ["collection", "archived"],
      max_batch_size: 1000,
    });

    const { plan, job } = await run(ids);
    expect(plan.counts).toEqual({
      received: 2_500,
      unique: 2_500,
      duplicates: 0,
      invalid: 0,
      to_delete: 2_500,
    });
    expect(plan.batches).toEqual({ count: 3, size: 1000 });
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 2_500, deleted: 2_500, not_found: 0, failed: 0, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 3, failed: 0, in_flight: 0 });
    expect(job.backend_jobs).toEqual([]);

    // The kind's semantics reach the agent in the dry run and the job.
    expect(plan.notes).toHaveLength(4);
    expect(plan.notes.join(" ")).toContain("all-or-nothing");
    expect(job.notes).toEqual(plan.notes);

    const requests = bulkRequests();
    expect(requests.map((request) => request.ids.length).sort()).toEqual([1000, 1000, 500]);
    for (const request of requests) {
      expect(request.status).toBe(200);
      expect([...request.query.entries()]).toEqual([
        ["reason", "Other"],
        ["adhoc_reason", REASON],
      ]);
      expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(request.headers["x-tenant-id"]).toBeUndefined();
    }
    const received = sim.received("customers");
    expect(received.size).toBe(2_500);
    expect([...received.values()].every((count) => count === 1)).toBe(true);
    expect(sim.deleted("customers")).toEqual(new Set(ids));
    expect(sim.violations).toEqual([]);

    const batchLines = readAudit(auditLog).filter((line) => line.event === "batch.completed");
    expect(batchLines).toHaveLength(3);
    for (const line of batchLines)
      expect(line).toMatchObject({ http_status: 200, backend_ref: "reason=Other" });

    // A collection outside allowTargets and a non-UUID are refused before anything is sent.
    const refused = await session.call("dry_run_delete", {
      backend: "vault",
      target: { collection: "billing" },
      ids: [uuid(9, 1)],
      reason: REASON,
    });
    expect(errorText(refused)).toMatch(/^TARGET_NOT_ALLOWED: /);
    const invalid = await session.call("dry_run_delete", {
      backend: "vault",
      target: { collection: "customers" },
      ids: ["cust-42"],
      reason: REASON,
    });
    expect(errorText(invalid)).toMatch(/^NO_VALID_IDS: .*"cust-42": must be a UUID/);
    expect(bulkRequests()).toHaveLength(3);
  });

  it("one not-found id in a batch of 1,000 → 999 deleted, 1 not found, in 2 requests: the failed bulk and the resend", async () => {
    const existing = uuids(2, 999);
    const missing = uuid(2, 5_000);
    const ids = [...existing.slice(0, 400), missing, ...existing.slice(400)];
    const { sim, auditLog } = await setUp({ collections: { customers: { active: existing } } });

    const { job } = await run(ids);
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 1000, deleted: 999, not_found: 1, failed: 0, pending: 0 });
    // The batch's audit line names all 1,000 ids, the not-found one too, not just the resend's 999.
    const completed = readAudit(auditLog).filter((line) => line.event === "batch.completed");
    expect(completed).toHaveLength(1);
    expect(completed[0]?.ids).toEqual(ids);
    expect(completed[0]?.counts).toEqual({ deleted: 999, not_found: 1, failed: 0 });
    expect(job.batches).toEqual({ total: 1, done: 1, failed: 0, in_flight: 0 });
    expect(job.failed_ids).toEqual([]);

    const requests = bulkRequests();
    expect(requests).toHaveLength(2);
    expect(requests[0]?.ids).toEqual(ids);
    expect(requests[1]?.ids).toEqual(existing);
    expect(requests.map((request) => request.status)).toEqual([200, 200]);
    // The first bulk deleted nothing (all-or-nothing); the resend deleted the 999, each exactly once.
    expect(sim.deleted("customers")).toEqual(new Set(existing));
    const received = sim.received("customers");
    expect(received.get(missing)).toBe(1);
    expect(existing.every((id) => received.get(id) === 2)).toBe(true);
    expect(sim.violations).toEqual([]);
  });

  it("an object failing with another error fails alone with Vault's message; the rest are deleted → partially_failed", async () => {
    const existing = uuids(3, 12);
    const locked = existing[2] as string;
    const missing = uuid(3, 999);
    const ids = [...existing.slice(0, 7), missing, ...existing.slice(7)];
    const { sim } = await setUp(
      {
        collections: { customers: { active: existing } },
        failIds: { [locked]: "Object is locked by a legal hold." },
      },
      // One attempt: resending the rest of an all-or-nothing request must not use one up.
      { maxBatchSize: 5, maxAttempts: 1 },
    );

    const { job } = await run(ids);
    expect(job.status).toBe("partially_failed");
    expect(job.counts).toEqual({ total: 13, deleted: 11, not_found: 1, failed: 1, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 3, failed: 0, in_flight: 0 });
    expect(job.failed_ids).toEqual([{ id: locked, error: "Object is locked by a legal hold. (PV3299)" }]);

    // 3 batches (5, 5, 3 ids); the first two each had one failing object and were resent without it.
    const requests = bulkRequests();
    expect(requests).toHaveLength(5);
    const sizes = requests.map((request) => request.ids.length).sort((a, b) => a - b);
    expect(sizes).toEqual([3, 4, 4, 5, 5]);
    expect(requests.every((request) => request.ids.length <= 5)).toBe(true);
    expect(sim.deleted("customers")).toEqual(new Set(existing.filter((id) => id !== locked)));
    expect(sim.objects("customers").active).toEqual(new Set([locked]));
    expect(sim.violations).toEqual([]);
  });

  it("accessReason DataSubjectRequest sends no adhoc_reason; archived targets send options=archived; X-Tenant-Id from tenantId", async () => {
    const active = uuids(4, 5);
    const archived = uuids(5, 5);
    const { sim } = await setUp(
      { tenantId: "tenant-42", collections: { "pii-users": { active, archived } } },
      { accessReason: "DataSubjectRequest", tenantId: "tenant-42" },
    );

    const { job } = await run([...archived, active[0] as string], {
      collection: "pii-users",
      archived: true,
    });
    expect(job.target).toEqual({ collection: "pii-users", archived: true });
    expect(job.status).toBe("succeeded");
    // The active object is not archived, so the vault reports it not found and leaves it alone.
    expect(job.counts).toEqual({ total: 6, deleted: 5, not_found: 1, failed: 0, pending: 0 });
    expect(sim.objects("pii-users")).toEqual({ active: new Set(active), archived: new Set() });

    const requests = bulkRequests();
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      expect([...request.query.entries()]).toEqual([
        ["reason", "DataSubjectRequest"],
        ["options", "archived"],
      ]);
      expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(request.headers["x-tenant-id"]).toBe("tenant-42");
    }

    const { job: activeJob } = await run(active.slice(1), { collection: "pii-users" });
    expect(activeJob.counts).toEqual({ total: 4, deleted: 4, not_found: 0, failed: 0, pending: 0 });
    const last = bulkRequests().at(-1);
    expect([...(last?.query.entries() ?? [])]).toEqual([["reason", "DataSubjectRequest"]]);
    expect(last?.headers["x-tenant-id"]).toBe("tenant-42");
    expect(sim.violations).toEqual([]);
  });

  it("a lower configured maxBatchSize is respected: no request exceeds a deployment's page size of 200", async () => {
    const ids = uuids(6, 450);
    const { sim } = await setUp(
      { maxPageSize: 200, collections: { customers: { active: ids } } },
      { maxBatchSize: 200 },
    );
    const { plan, job } = await run(ids);
    expect(plan.batches).toEqual({ count: 3, size: 200 });
    expect(job.counts).toEqual({ total: 450, deleted: 450, not_found: 0, failed: 0, pending: 0 });
    expect(
      bulkRequests()
        .map((request) => request.ids.length)
        .sort((a, b) => a - b),
    ).toEqual([50, 200, 200]);
    expect(sim.deleted("customers")).toEqual(new Set(ids));
    expect(sim.violations).toEqual([]);
  });

  it("503 (PV1009) with Retry-After and 429 are retried; the job succeeds with each object deleted once", async () => {
    const ids = uuids(7, 20);
    const { sim: vault } = await setUp({ collections: { customers: { active: ids } } }, { maxBatchSize: 10 });
    vault.faults.add({ route: "bulk-delete", fault: { type: "status", status: 503, retryAfterSeconds: 1 } });
    vault.faults.add({ route: "bulk-delete", fault: { type: "status", status: 429 } });
    const { job } = await run(ids);
    expect(job.status).toBe("succeeded");
    expect(job.counts).toEqual({ total: 20, deleted: 20, not_found: 0, failed: 0, pending: 0 });
    const requests = bulkRequests();
    expect(requests.map((request) => request.status)).toEqual([503, 429, 200, 200]);
    // The batch that met the 503 waited for its Retry-After (1 s) before it was sent again.
    const [first] = requests;
    const resent = requests.slice(1).find((request) => request.ids.join() === first?.ids.join());
    expect(resent?.status).toBe(200);
    expect((resent?.time ?? 0) - (first?.time ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect([...vault.received("customers").values()].every((count) => count === 1)).toBe(true);
    expect(vault.deleted("customers")).toEqual(new Set(ids));
    expect(vault.violations).toEqual([]);
  });

  it("an unknown collection (404 PV1004) fails each batch at once, without retries", async () => {
    const { session } = await setUp({ collections: { customers: { active: [] } } }, { maxBatchSize: 5 });
    const { job } = await run(uuids(8, 10), { collection: "pii-gone" });
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 10, deleted: 0, not_found: 0, failed: 10, pending: 0 });
    expect(bulkRequests()).toHaveLength(2);
    expect(job.failed_ids[0].error).toBe(
      "HTTP 404: Collection pii-gone is not found or the caller has no permission. [PV1004: collection not found, or the API key may not access it]",
    );
    expect(session.stderr()).not.toContain(KEY);
  });

  it("a 401 fails every batch at once with a clear message; the key appears nowhere", async () => {
    const wrongKey = "pvault-wrong-key-90ab";
    const { session, auditLog } = await setUp(
      { collections: { customers: { active: uuids(9, 30) } } },
      { maxBatchSize: 10, maxAttempts: 5 },
      { PIIANO_API_KEY: wrongKey },
    );
    const { plan, job } = await run(uuids(9, 30));
    expect(job.status).toBe("failed");
    expect(job.counts).toEqual({ total: 30, deleted: 0, not_found: 0, failed: 30, pending: 0 });
    expect(job.batches).toEqual({ total: 3, done: 0, failed: 3, in_flight: 0 });
    // One request per batch: no retry of a 401.
    expect(bulkRequests()).toHaveLength(3);
    expect(bulkRequests().every((request) => request.headers.authorization === `Bearer ${wrongKey}`)).toBe(
      true,
    );
    expect(job.failed_ids[0].error).toBe(
      "HTTP 401: The caller is not authenticated: invalid API key. [PV1005: the API key was rejected]",
    );
    const everything = [
      JSON.stringify(plan),
      JSON.stringify(job),
      JSON.stringify(structured(await session.call("list_delete_jobs", {}))),
      JSON.stringify(readAudit(auditLog)),
      session.stderr(),
    ].join("\n");
    expect(everything).toContain("PV1005");
    expect(everything).not.toContain(wrongKey);
    expect(everything).not.toContain(KEY);
  });
});

describe("piiano-vault config", () => {
  it("check-config names backends.<name>.accessReason when it is not one of Vault's reasons", () => {
    const dir = tempDir();
    const base = { kind: "piiano-vault", baseUrl: "http://127.0.0.1:9", credentialEnv: "PIIANO_API_KEY" };
    const check = (backend: Record<string, unknown>) => {
      const { path } = writeBackendsConfig(dir, { "vault-eu": { ...base, ...backend } });
      return spawnSync(process.execPath, [CLI, "check-config", "--config", path], {
        env: { PATH: process.env.PATH ?? "", PIIANO_API_KEY: KEY },
        encoding: "utf8",
        timeout: 15_000,
      });
    };
    const bad = check({ accessReason: "JustBecause" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("CONFIG_INVALID: backends.vault-eu.accessReason: must be one of");
    expect(bad.stderr).toContain('"DataSubjectRequest"');

    const good = check({ accessReason: "DataSubjectRequest", tenantId: "t-1" });
    expect(good.status).toBe(0);
    expect(good.stdout).toContain("vault-eu (piiano-vault)");
    expect(good.stdout).not.toContain(KEY);
  });
});
