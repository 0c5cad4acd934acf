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
 * Printable ASCII without the glob characters: an id made only of these passes every text rule below, so the
 * common case costs one scan instead of three.
 */
const PLAIN = /^[\x20-\x29\x2b-\x3e\x40-\x5a\x5c\x5e-\x7a\x7c\x7e]*$/;

/** The rule every kind shares, checked after the kind's own (more telling) id rule. */
function commonIdError(value: string | number, id: string): string | null {
  // Past 2^53 JSON has already rounded the number, so it names an id other than the one meant.
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value))
    return "a number beyond 2^53 is not exact; send the id as a string";
  if (id.length > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} characters`;
  if (PLAIN.test(id)) return null;
  return unsafeTextError(id) ?? globError(id);
}

/** Numbers become strings, strings are trimmed, then put in the kind's canonical form; duplicates count once; invalid ids keep their reason. */
export function planIds(
  raw: readonly (string | number)[],
  validate: (id: string) => string | null,
  normalize: (id: string) => string = (id) => id,
): PlannedIds {
  const seen = new Set<string>();
  const toDelete: string[] = [];
  const invalid: InvalidId[] = [];
  for (const value of raw) {
    const id = normalize(typeof value === "number" ? String(value) : value.trim());
    if (seen.has(id)) continue;
    seen.add(id);
    const error = id.length === 0 ? "empty id" : (validate(id) ?? commonIdError(value, id));
    if (error) invalid.push({ id, error });
    else toDelete.push(id);
  }
  return {
    toDelete,
    invalid,
    counts: {
      received: raw.length,
      unique: seen.size,
      duplicates: raw.length - seen.size,
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
