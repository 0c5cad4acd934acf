// Pure planning: normalise and dedupe ids, split out invalid ones, cut batches, and digest what was previewed.
import { createHash, randomInt } from "node:crypto";

export interface InvalidId {
  id: string;
  error: string;
}

export interface PlannedIds {
  toDelete: string[];
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

function isPlain(id: string): boolean {
  for (let index = 0; index < id.length; index++) if (PLAIN[id.charCodeAt(index)] !== 1) return false;
  return true;
}

/** The rule every kind shares, checked after the kind's own (more telling) id rule. */
function commonIdError(value: string | number, id: string): string | null {
  // Past 2^53 JSON has already rounded the number, so it names an id other than the one meant.
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value))
    return "a number beyond 2^53 is not exact; send the id as a string";
  if (id.length > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} characters`;
  if (isPlain(id)) return null;
  return unsafeTextError(id) ?? globError(id);
}

/** Probes a slot chain may take before the table gives way to a Set (ids crafted to collide cost no more). */
const MAX_PROBES = 32;

/** FNV-1a over UTF-16 code units: one pass, no allocation. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++)
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  return hash;
}

/**
 * Remembers ids: an open-addressing table of indices into `ids`, about 2.5× faster than a Set on fresh strings (a
 * Set hashes each one and grows by rehashing). `add` answers null when a slot chain grows past MAX_PROBES, which
 * only ids made to collide do: the caller then starts over with a Set.
 */
class IdTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly ids: readonly string[]) {
    let size = 16;
    while (size < ids.length * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
  }

  /** True when ids[index] was not seen before; null when the table gives up. */
  add(index: number): boolean | null {
    const id = this.ids[index] as string;
    let slot = hashOf(id) & this.mask;
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

  add(index: number): boolean {
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
  const normalized = raw.map((value) => normalize(typeof value === "number" ? String(value) : value.trim()));
  const check = (index: number, id: string) =>
    id.length === 0 ? "empty id" : (validate(id) ?? commonIdError(raw[index] as string | number, id));
  return (
    sortOut(raw.length, normalized, new IdTable(normalized), check) ??
    (sortOut(raw.length, normalized, new IdSet(normalized), check) as PlannedIds)
  );
}

/** One pass: each id seen for the first time is checked and goes to toDelete or invalid; null when `seen` gives up. */
function sortOut(
  received: number,
  ids: readonly string[],
  seen: { add(index: number): boolean | null },
  check: (index: number, id: string) => string | null,
): PlannedIds | null {
  const toDelete: string[] = [];
  const invalid: InvalidId[] = [];
  for (let index = 0; index < ids.length; index++) {
    const added = seen.add(index);
    if (added === null) return null;
    if (!added) continue;
    const id = ids[index] as string;
    const error = check(index, id);
    if (error) invalid.push({ id, error });
    else toDelete.push(id);
  }
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

export function toBatches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer, got ${size}`);
  const batches: T[][] = [];
  for (let start = 0; start < items.length; start += size) batches.push(items.slice(start, start + size));
  return batches;
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

const DIGEST_CHUNK = 4096;

/** The digest a confirmation is bound to: backend, target, ids (in order) and reason. */
export function planDigest(plan: {
  backend: string;
  target: unknown;
  ids: readonly string[];
  reason: string;
}): string {
  const hash = createHash("sha256");
  hash.update(canonical({ backend: plan.backend, target: plan.target, reason: plan.reason }));
  // Each chunk of ids as one JSON array (quoted, so ids holding newlines or commas cannot collide with another
  // list), on its own line: one stringify and one hash update per chunk rather than per id.
  for (let start = 0; start < plan.ids.length; start += DIGEST_CHUNK) {
    hash.update(`\n${JSON.stringify(plan.ids.slice(start, start + DIGEST_CHUNK))}`);
  }
  return hash.digest("hex");
}
