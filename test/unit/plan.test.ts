// Planning: id normalisation and dedupe, the five counts, batching, the plan digest and id display.
import { describe, expect, it } from "vitest";
import {
  batchIds,
  batchTexts,
  displayId,
  IdTable,
  MAX_PROBES,
  planDigest,
  planIds,
  scan,
} from "../../src/gate/plan.js";

const anyId = (): string | null => null;

describe("planIds", () => {
  it("turns numbers into strings and trims strings", () => {
    const planned = planIds([7, "  a  ", "\tb\n", 0, -3, 1.5], anyId);
    expect(planned.toDelete).toEqual(["7", "a", "b", "0", "-3", "1.5"]);
    expect(planned.invalid).toEqual([]);
  });

  it("keeps whitespace inside an id", () => {
    expect(planIds([" a b "], anyId).toDelete).toEqual(["a b"]);
  });

  it("counts ids equal after normalisation once, keeping the first occurrence's position", () => {
    const planned = planIds([" a", "b", "a", 7, "7", "a ", " 7 "], anyId);
    expect(planned.toDelete).toEqual(["a", "b", "7"]);
    expect(planned.counts).toEqual({ received: 7, unique: 3, duplicates: 4, invalid: 0, to_delete: 3 });
  });

  it("dedupes like a Set on a large shuffled list with many repeats", () => {
    const raw: string[] = [];
    for (let index = 0; index < 30_000; index++) raw.push(`id-${(index * 7919) % 12_345}`);
    const expected = [...new Set(raw)];
    const planned = planIds(raw, anyId);
    expect(planned.toDelete).toEqual(expected);
    expect(planned.counts.duplicates).toBe(30_000 - expected.length);
  });

  it("stays exact when ids are made to collide in the dedupe table (it then falls back to a Set)", () => {
    // More ids than MAX_PROBES whose FNV-1a hashes share their low 10 bits: one slot of the 1,024-slot table that
    // 150 + 100 ids get.
    const count = MAX_PROBES + 54;
    const colliding: string[] = [];
    for (let candidate = 0; colliding.length < count; candidate++) {
      if ((scan(`c${candidate}`) & 1023) === 5) colliding.push(`c${candidate}`);
    }
    const raw = [...colliding.slice(0, 100), ...colliding.slice(0, 100).reverse(), ...colliding.slice(100)];
    const table = new IdTable(raw);
    expect(raw.map((id, index) => table.add(index, scan(id)))).toContain(null);
    const planned = planIds(raw.slice(0, 200), anyId);
    expect(planned.toDelete).toEqual(colliding.slice(0, 100));
    expect(planned.counts.duplicates).toBe(100);
    const all = planIds(raw, anyId);
    expect(all.toDelete).toEqual(colliding);
    expect(all.counts).toMatchObject({ received: count + 100, unique: count, duplicates: 100 });
  });

  it("never gives up on a million ordinary ids (runs of numbers, whose chains reached 40 and 45)", () => {
    for (const base of [22_000_000, 25_000_000]) {
      const ids = Array.from({ length: 1_000_000 }, (_, index) => String(base + index));
      const table = new IdTable(ids);
      let gaveUp = 0;
      for (let index = 0; index < ids.length; index++)
        if (table.add(index, scan(ids[index] as string)) === null) gaveUp++;
      expect(gaveUp, `ids from ${base}`).toBe(0);
    }
  });

  it("plans a list already canonical with nothing to drop without copying it (a million ids are not held twice)", () => {
    const list = ["a", "b", "c"];
    expect(planIds(list, anyId).toDelete).toBe(list);
    // From the first dropped id on, a copy: the ids before it, then the kept ones.
    expect(planIds(["a", "b", "a", "c"], anyId).toDelete).toEqual(["a", "b", "c"]);
    expect(planIds(["", "a", "b"], anyId).toDelete).toEqual(["a", "b"]);
    expect(planIds(["a", "b", "b"], anyId).toDelete).toEqual(["a", "b"]);
    expect(planIds(["a", " b", "c"], anyId).toDelete).toEqual(["a", "b", "c"]);
    expect(planIds(["a", 2, "c"], anyId).toDelete).toEqual(["a", "2", "c"]);
  });

  it("treats ids as case-sensitive", () => {
    expect(planIds(["A", "a"], anyId).toDelete).toEqual(["A", "a"]);
  });

  it("marks empty and whitespace-only ids invalid with a reason, without calling the validator", () => {
    const seen: string[] = [];
    const planned = planIds(["", "   ", "x"], (id) => {
      seen.push(id);
      return null;
    });
    expect(seen).toEqual(["x"]);
    expect(planned.invalid).toEqual([{ id: "", error: "empty id" }]);
    expect(planned.toDelete).toEqual(["x"]);
    // "" and "   " normalise to the same id: one unique invalid id and one duplicate.
    expect(planned.counts).toEqual({ received: 3, unique: 2, duplicates: 1, invalid: 1, to_delete: 1 });
  });

  it("keeps the validator's reason for each invalid id and validates the normalised id", () => {
    const validate = (id: string) => (id.startsWith("ok") ? null : `"${id}" does not start with ok`);
    const planned = planIds([" ok1 ", "bad", "ok2", " bad", "worse"], validate);
    expect(planned.toDelete).toEqual(["ok1", "ok2"]);
    expect(planned.invalid).toEqual([
      { id: "bad", error: '"bad" does not start with ok' },
      { id: "worse", error: '"worse" does not start with ok' },
    ]);
  });

  it("computes the five counts exactly (SPEC §4)", () => {
    const validate = (id: string) => (id.length > 3 ? "too long" : null);
    // received 9; unique: a, b, toolong, 12, "" → 5; duplicates 4; invalid: toolong, "" → 2; to_delete 3.
    const planned = planIds(["a", " a", "b", "toolong", "toolong ", 12, "12", "", "b"], validate);
    expect(planned.counts).toEqual({ received: 9, unique: 5, duplicates: 4, invalid: 2, to_delete: 3 });
    expect(planned.toDelete).toEqual(["a", "b", "12"]);
    expect(planned.invalid).toEqual([
      { id: "toolong", error: "too long" },
      { id: "", error: "empty id" },
    ]);
  });

  it("gives all-zero counts for no ids", () => {
    expect(planIds([], anyId)).toEqual({
      toDelete: [],
      invalid: [],
      counts: { received: 0, unique: 0, duplicates: 0, invalid: 0, to_delete: 0 },
    });
  });
});

describe("batchTexts", () => {
  it("cuts 2,501 ids at 1024 into 1024, 1024 and 453, in order, one id per line", () => {
    const list = Array.from({ length: 2501 }, (_, index) => `id-${index}`);
    const batches = batchTexts(list, 1024).map(batchIds);
    expect(batches.map((batch) => batch.length)).toEqual([1024, 1024, 453]);
    expect(batches[0]?.[0]).toBe("id-0");
    expect(batches[1]?.[0]).toBe("id-1024");
    expect(batches[2]?.[452]).toBe("id-2500");
    expect(batches.flat()).toEqual(list);
  });

  it("makes one full batch when the count equals the size, and none for no items", () => {
    expect(batchTexts(["a", "b", "c"], 3)).toEqual(["a\nb\nc"]);
    expect(batchTexts(["a", "b", "c"], 1)).toEqual(["a", "b", "c"]);
    expect(batchTexts([], 1024)).toEqual([]);
  });
});

describe("planDigest", () => {
  /** The digest of a plan whose ids are cut into batches of `size`, as a dry run cuts them. */
  const digestOf = (
    { ids, ...plan }: { backend: string; target: unknown; ids: string[]; reason: string },
    size = 2,
  ) => planDigest({ ...plan, batches: batchTexts(ids, size) });
  const base = {
    backend: "splendor-prod",
    target: { dataset_id: "app-logs", region: "eu" },
    ids: ["r1", "r2", "r3"],
    reason: "GDPR erasure request #4411",
  };

  it("is a sha256 hex string and deterministic", () => {
    expect(digestOf(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf({ ...base, ids: [...base.ids] })).toBe(digestOf(base));
  });

  it("does not depend on the batch size", () => {
    expect(digestOf(base, 1)).toBe(digestOf(base, 2));
    expect(digestOf(base, 1000)).toBe(digestOf(base, 2));
  });

  it("does not depend on the order of the target's keys", () => {
    expect(digestOf({ ...base, target: { region: "eu", dataset_id: "app-logs" } })).toBe(digestOf(base));
  });

  it("changes with the backend, the target, any id, the order of ids and the reason", () => {
    const digest = digestOf(base);
    const variants = [
      { ...base, backend: "splendor-staging" },
      { ...base, target: { dataset_id: "app-logs2", region: "eu" } },
      { ...base, target: { dataset_id: "app-logs" } },
      { ...base, target: null },
      { ...base, ids: ["r1", "r2", "r4"] },
      { ...base, ids: ["r1", "r2"] },
      { ...base, ids: ["r1", "r2", "r3", "r4"] },
      { ...base, ids: ["r3", "r2", "r1"] },
      { ...base, reason: "GDPR erasure request #4412" },
    ];
    const digests = variants.map((variant) => digestOf(variant));
    for (const other of digests) expect(other).not.toBe(digest);
    expect(new Set(digests).size).toBe(variants.length);
  });

  it("never plans an id with a line break or an empty one (the store keeps ids one per line)", () => {
    const planned = planIds(["a\nb", "a", "b", ""], () => null);
    expect(planned.toDelete).toEqual(["a", "b"]);
    expect(planned.invalid.map((item) => item.error)).toEqual([
      expect.stringContaining("U+000A"),
      "empty id",
    ]);
  });
});

describe("displayId", () => {
  it("leaves ids of up to 200 characters alone", () => {
    const id = "x".repeat(200);
    expect(displayId(id)).toBe(id);
    expect(displayId("")).toBe("");
  });

  it("cuts longer ids to 200 characters and says how long they were", () => {
    const id = `${"y".repeat(200)}tail`;
    expect(displayId(id)).toBe(`${"y".repeat(200)}…(204 chars)`);
    expect(displayId("z".repeat(1_000_000))).toBe(`${"z".repeat(200)}…(1000000 chars)`);
  });
});

describe("fixes found in review", () => {
  it("never batches (so never digests or stores) an id that would join into other ids: a line break, or empty", () => {
    expect(() => batchTexts(["a\nb"], 10)).toThrow("line break");
    expect(() => batchTexts(["x", ""], 10)).toThrow("empty");
    expect(batchTexts(["a", "b", "c"], 2)).toEqual(["a\nb", "c"]);
  });

  it("refuses a batch size below 1 instead of looping forever", () => {
    expect(() => batchTexts(["a"], 0)).toThrow(RangeError);
  });
});

describe("planIds with a kind's canonical form", () => {
  it("dedupes ids equal after normalising, and keeps the canonical spelling", () => {
    const lower = (id: string) => id.toLowerCase();
    const upper = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    const planned = planIds([upper, upper.toLowerCase(), ` ${upper} `], anyId, lower);
    expect(planned.toDelete).toEqual([upper.toLowerCase()]);
    expect(planned.counts).toEqual({ received: 3, unique: 1, duplicates: 2, invalid: 0, to_delete: 1 });
  });
});

describe("planIds: the rule every kind shares (untrusted input)", () => {
  const reasonOf = (raw: (string | number)[]) => planIds(raw, anyId).invalid.map((item) => item.error);

  it("refuses ids that read as patterns, hide characters, run too long or were rounded by JSON", () => {
    for (const id of ["rec-*", "rec-?", "rec-[a-z]", "**", "{a,b}"]) {
      expect(reasonOf([id])[0], id).toMatch(/wildcard/);
    }
    expect(reasonOf(["a\u0000b"])[0]).toMatch(/control/);
    expect(reasonOf(["a\u202eb"])[0]).toMatch(/U\+202E, a control, invisible formatting/);
    expect(reasonOf(["a\ud800b"])[0]).toMatch(/surrogate/);
    expect(reasonOf(["x".repeat(4_097)])[0]).toMatch(/longer than 4096/);
    expect(reasonOf([2 ** 53 + 2])[0]).toMatch(/beyond 2\^53/);
  });

  it("keeps what is fine: a 4,096-character id, a safe integer, a paired surrogate, inner spaces", () => {
    const planned = planIds(["x".repeat(4_096), 2 ** 53 - 1, "emoji-\u{1f600}", "a b"], anyId);
    expect(planned.invalid).toEqual([]);
    expect(planned.toDelete).toHaveLength(4);
  });

  it("lets the kind's own rule speak first", () => {
    const planned = planIds(["rec-*"], () => "not a record id");
    expect(planned.invalid).toEqual([{ id: "rec-*", error: "not a record id" }]);
  });
});
