// Checks the Piiano Vault simulator against shared/backends/piiano-vault.md over real HTTP, so tests built on it can trust it.
import { afterEach, describe, expect, it } from "vitest";
import {
  type PiianoVaultSimulator,
  type PiianoVaultSimulatorOptions,
  startPiianoVaultSimulator,
} from "../../tools/simulators/piiano-vault.js";

const KEY = "sim-vault-key";
const BULK = "/api/pvlt/1.0/data/collections";

/** A deterministic UUID: `uuid(7)` → 00000000-0000-4000-8000-000000000007. */
function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

function uuids(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, index) => uuid(from + index));
}

let sims: PiianoVaultSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((sim) => sim.close()));
  sims = [];
});

async function start(opts: Partial<PiianoVaultSimulatorOptions> = {}): Promise<PiianoVaultSimulator> {
  const sim = await startPiianoVaultSimulator({
    apiKey: KEY,
    collections: { customers: { active: uuids(1, 5), archived: uuids(100, 3) } },
    ...opts,
  });
  sims.push(sim);
  return sim;
}

interface DeleteCall {
  collection?: string;
  query?: string;
  body?: unknown;
  headers?: Record<string, string>;
  method?: string;
}

async function bulkDelete(sim: PiianoVaultSimulator, call: DeleteCall = {}) {
  const query = call.query ?? "reason=Other&adhoc_reason=test%20cleanup";
  const res = await fetch(
    `${sim.url}${BULK}/${encodeURIComponent(call.collection ?? "customers")}/bulk/objects?${query}`,
    {
      method: call.method ?? "DELETE",
      headers: call.headers ?? { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: typeof call.body === "string" ? call.body : JSON.stringify(call.body ?? [{ id: uuid(1) }]),
    },
  );
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
  return { status: res.status, body: (await res.json()) as any };
}

const objects = (ids: string[]) => ids.map((id) => ({ id }));

describe("piiano vault simulator: auth and tenant", () => {
  it("answers 401 PV1005 without a bearer key or with a wrong one, deleting nothing", async () => {
    const sim = await start();
    const none = await bulkDelete(sim, { headers: { "content-type": "application/json" } });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({
      error_code: "PV1005",
      message: "The caller is not authenticated: missing bearer token.",
      context: {},
    });
    const wrong = await bulkDelete(sim, {
      headers: { authorization: "Bearer nope", "content-type": "application/json" },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error_code).toBe("PV1005");
    expect(sim.violations).toHaveLength(2);
    expect(sim.violations[0]).toContain("401 PV1005");
    expect(sim.deleted("customers").size).toBe(0);
    expect(sim.received("customers").size).toBe(0);
  });

  it("with a tenant configured, answers 403 PV1007 to a missing or foreign X-Tenant-Id", async () => {
    const sim = await start({ tenantId: "acme" });
    const missing = await bulkDelete(sim);
    expect(missing.status).toBe(403);
    expect(missing.body.error_code).toBe("PV1007");
    const foreign = await bulkDelete(sim, {
      headers: {
        authorization: `Bearer ${KEY}`,
        "content-type": "application/json",
        "x-tenant-id": "globex",
      },
    });
    expect(foreign.status).toBe(403);
    expect(sim.violations).toHaveLength(2);
    const good = await bulkDelete(sim, {
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-tenant-id": "acme" },
    });
    expect(good.status).toBe(200);
    expect(sim.violations).toHaveLength(2);
  });
});

describe("piiano vault simulator: query", () => {
  it("requires a valid reason, and adhoc_reason with Other", async () => {
    const sim = await start();
    const missing = await bulkDelete(sim, { query: "" });
    expect(missing).toEqual({
      status: 400,
      body: { error_code: "PV1001", message: "Access reason is missing.", context: {} },
    });
    const invalid = await bulkDelete(sim, { query: "reason=Curiosity" });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error_code).toBe("PV1002");
    const noAdhoc = await bulkDelete(sim, { query: "reason=Other" });
    expect(noAdhoc.status).toBe(400);
    expect(noAdhoc.body).toEqual({
      error_code: "PV1001",
      message: "Access reason is missing: adhoc_reason is required when reason is Other.",
      context: {},
    });
    expect(sim.violations).toHaveLength(3);
    expect(sim.received("customers").size).toBe(0);

    const dsr = await bulkDelete(sim, { query: "reason=DataSubjectRequest" });
    expect(dsr.status).toBe(200);
    expect(dsr.body).toEqual({ ok: true, results: [{ id: uuid(1), ok: true }] });
    expect(sim.violations).toHaveLength(3);
  });

  it("rejects unknown parameters, unsupported options and a non-boolean reload_cache", async () => {
    const sim = await start();
    for (const query of [
      "reason=Maintenance&force=1",
      "reason=Maintenance&options=unsafe",
      "reason=Maintenance&reload_cache=maybe",
      "reason=Maintenance&reason=Analytics",
    ]) {
      const answer = await bulkDelete(sim, { query });
      expect(answer.status).toBe(400);
      expect(answer.body.error_code).toBe("PV1000");
    }
    expect(sim.violations).toHaveLength(4);
    expect((await bulkDelete(sim, { query: "reason=Maintenance&reload_cache=true" })).status).toBe(200);
    expect(sim.violations).toHaveLength(4);
  });
});

describe("piiano vault simulator: collection, body and page size", () => {
  it("answers 404 PV1004 for an unknown collection: a documented answer, not a violation", async () => {
    const sim = await start();
    const answer = await bulkDelete(sim, { collection: "ghosts" });
    expect(answer).toEqual({
      status: 404,
      body: {
        error_code: "PV1004",
        message: "Collection ghosts is not found or the caller has no permission.",
        context: { collection: "ghosts" },
      },
    });
    expect(sim.violations).toEqual([]);
  });

  it("rejects bodies that are not a non-empty array of {id: uuid}, without duplicates", async () => {
    const sim = await start();
    const bodies: unknown[] = [
      { ids: [uuid(1)] },
      [],
      [{ id: "not-a-uuid" }],
      [{ id: uuid(1), name: "x" }],
      [{ id: uuid(1) }, { id: uuid(1).toUpperCase() }],
      "{broken",
    ];
    for (const body of bodies) {
      const answer = await bulkDelete(sim, { body });
      expect(answer.status).toBe(400);
      expect(answer.body.error_code).toBe("PV1000");
    }
    expect(sim.violations).toHaveLength(bodies.length);
    expect(sim.deleted("customers").size).toBe(0);
  });

  it("accepts the default max page size of 1000 and rejects 1001 with a violation", async () => {
    const sim = await start({ collections: { big: { active: uuids(1, 1001) } } });
    const over = await bulkDelete(sim, { collection: "big", body: objects(uuids(1, 1001)) });
    expect(over).toEqual({
      status: 400,
      body: {
        error_code: "PV1000",
        message: "The number of objects (1001) exceeds the maximum page size of 1000.",
        context: { max_page_size: 1000 },
      },
    });
    expect(sim.violations).toHaveLength(1);
    expect(sim.received("big").size).toBe(0);
    const full = await bulkDelete(sim, { collection: "big", body: objects(uuids(1, 1000)) });
    expect(full.status).toBe(200);
    expect(full.body.ok).toBe(true);
    expect(sim.deleted("big").size).toBe(1000);
    expect(sim.violations).toHaveLength(1);
  });

  it("honours a lower maxPageSize", async () => {
    const sim = await start({ maxPageSize: 3 });
    expect((await bulkDelete(sim, { body: objects(uuids(1, 4)) })).status).toBe(400);
    expect((await bulkDelete(sim, { body: objects(uuids(1, 3)) })).status).toBe(200);
    expect(sim.violations).toHaveLength(1);
  });

  it("answers 404 with a violation for paths outside the contract and 405 for other methods", async () => {
    const sim = await start();
    const res = await fetch(`${sim.url}/api/pvlt/1.0/data/collections/customers/objects`, {
      method: "DELETE",
    });
    expect(res.status).toBe(404);
    const post = await bulkDelete(sim, { method: "POST" });
    expect(post.status).toBe(405);
    expect(sim.violations).toHaveLength(2);
  });
});

describe("piiano vault simulator: all-or-nothing bulk delete", () => {
  it("deletes every object when all exist, each once; deleting again is not found", async () => {
    const sim = await start();
    const answer = await bulkDelete(sim, { body: objects(uuids(1, 3)) });
    expect(answer).toEqual({
      status: 200,
      body: { ok: true, results: uuids(1, 3).map((id) => ({ id, ok: true })) },
    });
    expect(sim.deleted("customers")).toEqual(new Set(uuids(1, 3)));
    expect(sim.objects("customers").active).toEqual(new Set(uuids(4, 2)));

    const again = await bulkDelete(sim, { body: objects([uuid(1)]) });
    expect(again.body).toEqual({
      ok: false,
      results: [
        {
          id: uuid(1),
          ok: false,
          error: { error_code: "PV3205", message: "The object is not found.", context: { id: uuid(1) } },
        },
      ],
    });
    expect(sim.received("customers").get(uuid(1))).toBe(2);
    expect(sim.violations).toEqual([]);
  });

  it("one missing object → ok: false, nothing deleted, results in request order", async () => {
    const sim = await start();
    const ids = [uuid(2), uuid(999), uuid(1)];
    const answer = await bulkDelete(sim, { body: objects(ids) });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      ok: false,
      results: [
        { id: uuid(2), ok: true },
        {
          id: uuid(999),
          ok: false,
          error: { error_code: "PV3205", message: "The object is not found.", context: { id: uuid(999) } },
        },
        { id: uuid(1), ok: true },
      ],
    });
    expect(sim.deleted("customers").size).toBe(0);
    expect(sim.objects("customers").active).toEqual(new Set(uuids(1, 5)));
    expect(sim.received("customers")).toEqual(
      new Map([
        [uuid(2), 1],
        [uuid(999), 1],
        [uuid(1), 1],
      ]),
    );
  });

  it("failIds make an existing object fail with that message; the map can change later", async () => {
    const sim = await start({ failIds: { [uuid(3)]: "Object is locked by a legal hold." } });
    const answer = await bulkDelete(sim, { body: objects([uuid(3), uuid(4)]) });
    expect(answer.body).toEqual({
      ok: false,
      results: [
        {
          id: uuid(3),
          ok: false,
          error: {
            error_code: "PV3299",
            message: "Object is locked by a legal hold.",
            context: { id: uuid(3) },
          },
        },
        { id: uuid(4), ok: true },
      ],
    });
    expect(sim.deleted("customers").size).toBe(0);
    sim.failIds.delete(uuid(3));
    expect((await bulkDelete(sim, { body: objects([uuid(3), uuid(4)]) })).body.ok).toBe(true);
    expect(sim.deleted("customers")).toEqual(new Set([uuid(3), uuid(4)]));
  });

  it("options=archived deletes archived objects only; without it archived objects are not found", async () => {
    const sim = await start();
    const activeAsArchived = await bulkDelete(sim, {
      query: "reason=Maintenance&options=archived",
      body: objects([uuid(1)]),
    });
    expect(activeAsArchived.body.ok).toBe(false);
    const archivedAsActive = await bulkDelete(sim, {
      query: "reason=Maintenance",
      body: objects([uuid(100)]),
    });
    expect(archivedAsActive.body.ok).toBe(false);
    expect(archivedAsActive.body.results[0].error.message).toBe("The object is not found.");
    const archived = await bulkDelete(sim, {
      query: "reason=Maintenance&options=archived",
      body: objects([uuid(100), uuid(101)]),
    });
    expect(archived.body.ok).toBe(true);
    expect(sim.objects("customers")).toEqual({
      active: new Set(uuids(1, 5)),
      archived: new Set([uuid(102)]),
    });
    expect(sim.deleted("customers")).toEqual(new Set([uuid(100), uuid(101)]));
  });

  it("compares ids as UUIDs, ignoring case", async () => {
    const sim = await start();
    const answer = await bulkDelete(sim, { body: objects([uuid(10).toUpperCase()]) });
    expect(answer.body.ok).toBe(false);
    const upper = "00000000-0000-4000-8000-00000000000A";
    const seeded = await start({ collections: { c: { active: [upper] } } });
    expect(
      (await bulkDelete(seeded, { collection: "c", body: objects([upper.toLowerCase()]) })).body,
    ).toEqual({
      ok: true,
      results: [{ id: upper.toLowerCase(), ok: true }],
    });
    expect(seeded.deleted("c")).toEqual(new Set([upper.toLowerCase()]));
  });
});

describe("piiano vault simulator: faults", () => {
  it("an injected 503 answers PV1009 with Retry-After and deletes nothing; the next request is normal", async () => {
    const sim = await start();
    sim.faults.add({ route: "bulk-delete", fault: { type: "status", status: 503, retryAfterSeconds: 2 } });
    const res = await fetch(`${sim.url}${BULK}/customers/bulk/objects?reason=Maintenance`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify(objects([uuid(1)])),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.json()).toEqual({
      error_code: "PV1009",
      message: "The operation timed out.",
      context: {},
    });
    expect(sim.deleted("customers").size).toBe(0);
    expect(sim.received("customers").size).toBe(0);
    expect((await bulkDelete(sim)).status).toBe(200);
    expect(sim.requests.map((request) => request.status)).toEqual([503, 200]);
    expect(sim.violations).toEqual([]);
  });

  it("a reset drops the connection without deleting; latency delays answers", async () => {
    const sim = await start({ latencyMs: 120 });
    sim.faults.add({ route: "bulk-delete", fault: { type: "reset" } });
    await expect(bulkDelete(sim)).rejects.toThrow();
    expect(sim.deleted("customers").size).toBe(0);
    const began = Date.now();
    expect((await bulkDelete(sim)).status).toBe(200);
    expect(Date.now() - began).toBeGreaterThanOrEqual(100);
  });
});

describe("piiano vault simulator: read (GET one object, props=id)", () => {
  const reasonQuery = "reason=Other&adhoc_reason=preview";
  async function get(
    sim: PiianoVaultSimulator,
    id: string,
    query = `${reasonQuery}&props=id`,
    collection = "customers",
  ) {
    const res = await fetch(`${sim.url}${BULK}/${collection}/objects/${id}?${query}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
    return { status: res.status, body: (await res.json()) as any };
  }

  it("answers an active object's id only; archived ones with options=archived only; a deleted one 404", async () => {
    const sim = await start();
    expect(await get(sim, uuid(1).toUpperCase())).toEqual({ status: 200, body: { id: uuid(1) } });
    expect((await get(sim, uuid(100))).status).toBe(404);
    expect(await get(sim, uuid(100), `${reasonQuery}&props=id&options=archived`)).toEqual({
      status: 200,
      body: { id: uuid(100) },
    });
    expect((await get(sim, uuid(1), `${reasonQuery}&props=id&options=archived`)).status).toBe(404);
    expect((await bulkDelete(sim, { body: objects([uuid(2)]) })).status).toBe(200);
    expect(await get(sim, uuid(2))).toEqual({
      status: 404,
      body: { error_code: "PV3205", message: "The object is not found.", context: { id: uuid(2) } },
    });
    expect((await get(sim, uuid(1), `${reasonQuery}&props=id`, "gone")).body.error_code).toBe("PV1004");
    expect(sim.requests.map((request) => request.route)).toEqual([
      "read",
      "read",
      "read",
      "read",
      "bulk-delete",
      "read",
      "read",
    ]);
    expect(sim.violations).toEqual([]);
  });

  it("fails loudly without props=id, without a reason, on reload_cache, on an id that is not a UUID", async () => {
    const sim = await start();
    const cases: [string, string][] = [
      [uuid(1), reasonQuery],
      [uuid(1), `${reasonQuery}&props=name`],
      [uuid(1), `${reasonQuery}&props=id&props=id`],
      [uuid(1), "props=id"],
      [uuid(1), `${reasonQuery}&props=id&reload_cache=true`],
      ["cust-1", `${reasonQuery}&props=id`],
    ];
    for (const [id, query] of cases) expect((await get(sim, id, query)).status, query).toBe(400);
    expect(sim.violations).toHaveLength(cases.length);
    expect(sim.violations[0]).toContain('props must be "id" for a preview, got null');
  });

  it("injects faults on the read route only", async () => {
    const sim = await start();
    sim.faults.add({ route: "read", fault: { type: "status", status: 503 } });
    expect((await bulkDelete(sim, { body: objects([uuid(1)]) })).status).toBe(200);
    expect(await get(sim, uuid(2))).toEqual({
      status: 503,
      body: { error_code: "PV1009", message: "The operation timed out.", context: {} },
    });
  });
});
