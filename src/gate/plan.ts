// Pure planning: normalise and dedupe ids, split out invalid ones, cut batches, and digest what was previewed.
import { createHash, randomInt } from "node:crypto";

export interface InvalidId {
  id: string;
  error: string;
}

export interface PlannedIds {
  toDelete: readonly string[];
  invalid: InvalidId[];
  counts: { received: number; unique: number; duplicates: number; invalid: number; to_delete: number };
}

const MAX_SHOWN_ID_LENGTH = 200;

/** Shortens an id for display so a hostile megabyte-long id cannot flood a result. */
export function displayId(id: string): string {
  return id.length > MAX_SHOWN_ID_LENGTH ? `${id.slice(0, MAX_SHOWN_ID_LENGTH)}…(${id.length} chars)` : id;
}

/** The longest id of any kind (kinds may take less): a megabyte-long "id" is never meant. */
export const MAX_ID_LENGTH = 4096;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/**
 * Characters that make text display as other text (SPEC §5): controls (C0, DEL, C1), invisible format characters
 * (zero-width spaces and joiners, bidi overrides and isolates, the BOM…) and the line and paragraph separators.
 */
const HIDING = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
/** Glob characters: ids and target names are exact, and one that reads as a pattern suggests a wider delete. */
const GLOB = /[*?[\]{}]/;

/** Why text cannot travel and be shown as itself (unpaired surrogates, control or invisible characters), or null. */
export function unsafeTextError(text: string, { lineBreaks = false } = {}): string | null {
  if (LONE_SURROGATE.test(text)) return "contains an unpaired surrogate (not valid Unicode text)";
  const hidden = HIDING.exec(lineBreaks ? text.replace(/[\n\r]/g, "") : text);
  if (hidden) {
    const code = (hidden[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0");
    return `contains U+${code}, a control, invisible formatting or line separator character`;
  }
  return null;
}

const HIDING_OR_LONE_SURROGATE = new RegExp(`${HIDING.source}|${LONE_SURROGATE.source}`, "gu");

/**
 * Text that must be shown but cannot be refused (a client's own name): each character `unsafeTextError` refuses
 * becomes U+FFFD, so the text shows where something was, never what it would have hidden or reversed.
 */
export function visibleText(text: string): string {
  return text.replace(HIDING_OR_LONE_SURROGATE, "\ufffd");
}

/** Why a name meant literally (an id, a target) would read as a pattern, or null. */
export function globError(text: string): string | null {
  return GLOB.test(text)
    ? "contains a wildcard character (* ? [ ] { }); names are exact, never patterns"
    : null;
}

/**
 * Printable ASCII without the glob characters (by code unit): an id made only of these passes every text rule
 * below, so the common case costs one scan of its characters instead of three regular expressions.
 */
const PLAIN = new Uint8Array(128);
for (let code = 0x20; code <= 0x7e; code++) PLAIN[code] = 1;
for (const glob of "*?[]{}") PLAIN[glob.charCodeAt(0)] = 0;

/** The rule every kind shares, checked after the kind's own (more telling) id rule; `plain` as `scan` found it. */
function commonIdError(value: string | number, id: string, plain: boolean): string | null {
  // Past 2^53 JSON has already rounded the number, so it names an id other than the one meant.
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value))
    return "a number beyond 2^53 is not exact; send the id as a string";
  if (id.length > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} characters`;
  if (plain) return null;
  return unsafeTextError(id) ?? globError(id);
}

/**
 * Probes a slot chain may take before the table gives way to a Set. Linear probing at a load of at most 1/2 makes
 * chains of up to about 50 for two million ordinary ids (measured: 29–48 for runs of numbers and for UUIDs), so
 * they never give up; ids crafted to collide cost at most this many probes each before the Set takes over.
 */
export const MAX_PROBES = 96;

/** `scan`'s answer stays below 2^30, a small integer V8 keeps unboxed: 29 bits of hash, then the plain bit. */
const PLAIN_BIT = 1 << 29;
const HASH_BITS = PLAIN_BIT - 1;

/**
 * One pass over an id's UTF-16 code units: its FNV-1a hash (HASH_BITS of it), with PLAIN_BIT set when every unit
 * is PLAIN.
 */
export function scan(text: string): number {
  let hash = 0x811c9dc5;
  let plain = 1;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    hash = Math.imul(hash ^ code, 0x01000193);
    plain &= PLAIN[code] ?? 0;
  }
  return (hash & HASH_BITS) | (plain * PLAIN_BIT);
}

/**
 * Remembers ids: an open-addressing table of indices into `ids`, about 2.5× faster than a Set on fresh strings (a
 * Set hashes each one and grows by rehashing). `add` answers null when a slot chain grows past MAX_PROBES, which
 * only ids made to collide do: the caller then starts over with a Set (at 32, a million ids of one kind gave up
 * on about one list in three, and that dry run took twice as long and 50 MB more).
 */
export class IdTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly ids: readonly string[]) {
    let size = 16;
    while (size < ids.length * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
  }

  /** True when ids[index] (whose `scan` is `hash`) was not seen before; null when the table gives up. */
  add(index: number, hash: number): boolean | null {
    const id = this.ids[index] as string;
    let slot = hash & this.mask;
    for (let probes = 0; probes <= MAX_PROBES; probes++) {
      const taken = this.slots[slot] as number;
      if (taken === -1) {
        this.slots[slot] = index;
        return true;
      }
      if (this.ids[taken] === id) return false;
      slot = (slot + 1) & this.mask;
    }
    return null;
  }
}

/** The same answers as IdTable, from a Set: for ids that defeat the table. */
class IdSet {
  private readonly seen = new Set<string>();

  constructor(private readonly ids: readonly string[]) {}

  add(index: number, _hash: number): boolean {
    const id = this.ids[index] as string;
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    return true;
  }
}

/** Numbers become strings, strings are trimmed, then put in the kind's canonical form; duplicates count once; invalid ids keep their reason. */
export function planIds(
  raw: readonly (string | number)[],
  validate: (id: string) => string | null,
  normalize: (id: string) => string = (id) => id,
): PlannedIds {
  const normalized = canonicalIds(raw, normalize);
  const check = (index: number, id: string, plain: boolean) =>
    id.length === 0 ? "empty id" : (validate(id) ?? commonIdError(raw[index] as string | number, id, plain));
  return (
    sortOut(raw.length, normalized, new IdTable(normalized), check) ??
    (sortOut(raw.length, normalized, new IdSet(normalized), check) as PlannedIds)
  );
}

/**
 * The ids in canonical form: `raw` itself when each one already is (strings, trimmed, in the kind's form), so the
 * common list of a million ids is not copied.
 */
function canonicalIds(
  raw: readonly (string | number)[],
  normalize: (id: string) => string,
): readonly string[] {
  const canonical = (value: string | number) =>
    normalize(typeof value === "number" ? String(value) : value.trim());
  // Indexed loops here and below: a for-of over the array allocated an iterator result per id until optimised
  // (38 MB over eight dry runs of 200k ids, in a sampled heap profile).
  for (let index = 0; index < raw.length; index++) {
    const value = raw[index] as string | number;
    if (canonical(value) !== value) return raw.map(canonical);
  }
  return raw as readonly string[];
}

/**
 * One pass: each id seen for the first time is checked and goes to toDelete or invalid; null when `seen` gives up.
 * While no id was dropped (a duplicate or an invalid one) toDelete is `ids` itself: it is copied only from the first
 * dropped id on.
 */
function sortOut(
  received: number,
  ids: readonly string[],
  seen: { add(index: number, hash: number): boolean | null },
  check: (index: number, id: string, plain: boolean) => string | null,
): PlannedIds | null {
  let kept: string[] | null = null;
  const invalid: InvalidId[] = [];
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index] as string;
    const scanned = scan(id);
    const added = seen.add(index, scanned);
    if (added === null) return null;
    const error = added ? check(index, id, (scanned & PLAIN_BIT) !== 0) : null;
    if (added && !error) {
      kept?.push(id);
      continue;
    }
    kept ??= ids.slice(0, index);
    if (error) invalid.push({ id, error });
  }
  const toDelete = kept ?? ids;
  const unique = toDelete.length + invalid.length;
  return {
    toDelete,
    invalid,
    counts: {
      received,
      unique,
      duplicates: received - unique,
      invalid: invalid.length,
      to_delete: toDelete.length,
    },
  };
}

/**
 * Up to `size` ids drawn uniformly at random (without replacement), in list order: deletegate, not the agent,
 * chooses which ids the person sees, so a list cannot lead with harmless-looking ones.
 */
export function sampleIds(ids: readonly string[], size: number): string[] {
  if (ids.length <= size) return [...ids];
  const picked = new Set<number>();
  while (picked.size < size) picked.add(randomInt(ids.length));
  return [...picked].sort((a, b) => a - b).map((index) => ids[index] as string);
}

/** JSON with object keys sorted, so equal targets digest equally whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * A plan's ids cut into batches of `size`, each batch one text with one id per line: what the store keeps and the
 * digest reads. Unambiguous because no planned id is empty or holds a line break (planIds refuses both, SPEC §5);
 * checked again here, since a line break inside an id would split it into other ids.
 */
export function batchTexts(ids: readonly string[], size: number): string[] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer, got ${size}`);
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index] as string;
    if (id.length === 0 || id.includes("\n")) throw new Error("a planned id is empty or holds a line break");
  }
  // One batch's slice at a time, garbage once joined: a million ids never have a second array of pointers.
  const texts: string[] = [];
  for (let start = 0; start < ids.length; start += size)
    texts.push(ids.slice(start, start + size).join("\n"));
  return texts;
}

/** A batch's ids again from its text (`batchTexts`' inverse): what a store answers for a batch. */
export function batchIds(text: string): string[] {
  return text.split("\n");
}

/**
 * The digest a confirmation is bound to: backend, target, reason and the ids in order, read from the plan's batch
 * texts. The header (canonical JSON, with no raw line break) and each id go on their own line, so the hashed text
 * is the same whatever the batch size, and two different lists never make the same text.
 */
export function planDigest(plan: {
  backend: string;
  target: unknown;
  batches: readonly string[];
  reason: string;
}): string {
  const hash = createHash("sha256");
  hash.update(canonical({ backend: plan.backend, target: plan.target, reason: plan.reason }));
  for (const text of plan.batches) hash.update("\n").update(text);
  return hash.digest("hex");
}
