// What every kind's read shares: the summary cut the "Read" sections name, and the items of ids a read did not find.
import type { ReadItem, ReadOutcome } from "./types.js";

/** The "Read" sections' limit on a summary's backend text: its first 80 characters. */
export const SUMMARY_CHARS = 80;

/** The first SUMMARY_CHARS characters (by code point, so no surrogate pair is cut in half). */
export function firstChars(text: string): string {
  const points = Array.from(text);
  return points.length <= SUMMARY_CHARS ? text : points.slice(0, SUMMARY_CHARS).join("");
}

export function notFound(id: string): ReadItem {
  return { id, state: "not_found", summary: null, version: null };
}

export function alreadyDeleted(id: string): ReadItem {
  return { id, state: "already_deleted", summary: null, version: null };
}

/** A failed outcome when a request asks for no id or more than the kind reads at once (the caller splits), else null. */
export function outsideReadRange(service: string, ids: readonly string[], max: number): ReadOutcome | null {
  if (ids.length >= 1 && ids.length <= max) return null;
  const range = max === 1 ? "one id" : `1..${max} ids`;
  return { type: "failed", error: `${service} reads ${range} per request, got ${ids.length}` };
}
