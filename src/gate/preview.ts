// Preview (SPEC §4): which of a plan's ids exist at the backend, read-only and paced by the backend's lane; and the
// stale check that re-reads what a preview found before a previewed plan may run.
import { randomInt } from "node:crypto";
import { kindOf } from "../backends/index.js";
import type { ReadItem, ReadState, Target } from "../backends/types.js";
import { sleep } from "../jobs/clock.js";
import type { Lane } from "../jobs/lanes.js";
import { backoffMs } from "../jobs/send-batch.js";
import { GateError } from "./errors.js";
import { displayId } from "./plan.js";

/** A preview (and a stale check) reads for at most this long, then reports what it checked so far. */
export const PREVIEW_TIME_MS = 20_000;
/** Found ids listed with their summaries. */
const SHOWN = 10;
/** Found ids the plan keeps for the stale check: a uniform sample of at least 100 (SPEC §3), all when fewer. */
export const RECHECKED = 100;
const SUMMARY_LENGTH = 160;
/** Characters that could make a backend's text display as other text: they become spaces. */
const HIDING = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu;
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export interface PreviewView {
  supported: boolean;
  checked?: number;
  found?: number;
  not_found?: number;
  already_deleted?: number;
  /** True when fewer ids were checked than the plan deletes (a sample above maxChecked, or the time ran out). */
  sampled?: boolean;
  sample?: { id: string; summary: string | null }[];
  /** Why the preview stopped before checking every id it meant to (a refusal, the time limit); absent otherwise. */
  stopped?: string;
}

/** What a plan keeps of its preview: what the person saw, and found ids with their versions for the stale check. */
export interface PreviewRecord {
  view: PreviewView;
  found: { id: string; version: string | null }[];
}

export const UNSUPPORTED: PreviewRecord = { view: { supported: false }, found: [] };

/** Backend text as one short, plain line: it is data about an item, never an instruction to anyone. */
export function cleanSummary(summary: string | null): string | null {
  if (summary === null) return null;
  const plain = summary.replace(LONE_SURROGATES, "\ufffd").replace(HIDING, " ").trim();
  return plain.length > SUMMARY_LENGTH ? `${plain.slice(0, SUMMARY_LENGTH)}…` : plain;
}

/**
 * `count` ids drawn uniformly without replacement, in random order (a partial Fisher–Yates shuffle of a copy):
 * any prefix is uniform too, so a preview cut short by its time limit is still a fair sample, whatever the
 * agent put first.
 */
export function shuffledSample(ids: readonly string[], count: number): string[] {
  const pool = [...ids];
  const size = Math.min(count, pool.length);
  for (let index = 0; index < size; index++) {
    const pick = randomInt(index, pool.length);
    [pool[index], pool[pick]] = [pool[pick] as string, pool[index] as string];
  }
  pool.length = size;
  return pool;
}

interface ReadRun {
  items: ReadItem[];
  /** Why reading stopped early; null when every id asked was read. */
  stopped: string | null;
}

/**
 * Reads `ids` through the lane, `concurrency` requests at a time, each retried after a backoff (429, 5xx) up to
 * maxAttempts; stops at the first permanent refusal or after PREVIEW_TIME_MS. Items come back in `ids` order of
 * the requests that finished.
 */
async function readAll(
  lane: Lane,
  target: Target | null,
  reason: string,
  ids: readonly string[],
): Promise<ReadRun> {
  const kind = kindOf(lane.config);
  const read = lane.client.readItems;
  if (!kind.read || !read) throw new Error(`kind ${kind.kind} cannot read items`);
  const perRequest = kind.read.maxIdsPerRequest;
  const chunks: string[][] = [];
  for (let start = 0; start < ids.length; start += perRequest)
    chunks.push(ids.slice(start, start + perRequest));
  const done: (ReadItem[] | undefined)[] = new Array(chunks.length);
  const stop = new AbortController();
  let stopped: string | null = null;
  const halt = (why: string) => {
    stopped ??= why;
    stop.abort(new Error(why));
  };
  const timer = setTimeout(() => halt(`reads stop after ${PREVIEW_TIME_MS / 1000} s`), PREVIEW_TIME_MS);
  timer.unref?.();

  const readChunk = async (chunk: string[]): Promise<ReadItem[] | null> => {
    for (let attempt = 1; ; attempt++) {
      const outcome = await lane.run(
        () => read.call(lane.client, { target, ids: chunk, reason }),
        stop.signal,
      );
      lane.observe(outcome.httpStatus);
      if (outcome.type === "read") {
        const error = checkItems(chunk, outcome.items);
        if (!error) return outcome.items;
        halt(`the backend's answer is outside its contract: ${error}`);
        return null;
      }
      if (outcome.type === "failed") {
        halt(`the backend refused a read: ${outcome.error}`);
        return null;
      }
      if (attempt >= lane.config.maxAttempts) {
        halt(`a read still failed after ${attempt} attempts: ${outcome.error}`);
        return null;
      }
      await sleep(Math.max(backoffMs(attempt), outcome.retryAfterMs ?? 0), { signal: stop.signal });
    }
  };
  let next = 0;
  const worker = async () => {
    while (!stop.signal.aborted && next < chunks.length) {
      const index = next++;
      const items = await readChunk(chunks[index] as string[]).catch(() => null);
      if (items) done[index] = items;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(lane.config.concurrency, chunks.length) }, worker));
  } finally {
    clearTimeout(timer);
  }
  return { items: done.flatMap((items) => items ?? []), stopped };
}

/** Why a read's items do not answer exactly the ids asked, or null. */
function checkItems(asked: readonly string[], items: readonly ReadItem[]): string | null {
  const wanted = new Set(asked);
  for (const item of items) {
    if (!wanted.delete(item.id)) return `it names "${displayId(item.id)}", which was not asked or came twice`;
  }
  return wanted.size === 0 ? null : `${wanted.size} id(s) asked are missing from it`;
}

/**
 * The preview of a plan's ids: at most `maxChecked` of them (a uniform sample above it), read through the lane.
 * A kind or target without a read API gives `{ supported: false }` and reads nothing.
 */
export async function preview(
  lane: Lane,
  request: { target: Target | null; reason: string; ids: readonly string[]; maxChecked: number },
): Promise<PreviewRecord> {
  const read = kindOf(lane.config).read;
  if (!read || !lane.client.readItems || !read.supports(request.target)) return UNSUPPORTED;
  const chosen = shuffledSample(request.ids, request.maxChecked);
  const { items, stopped } = await readAll(lane, request.target, request.reason, chosen);
  const tally: Record<ReadState, number> = { found: 0, not_found: 0, already_deleted: 0 };
  for (const item of items) tally[item.state]++;
  // In the shuffled order, so the first found ones are a uniform sample of all found.
  const order = new Map(chosen.map((id, index) => [id, index]));
  const found = items
    .filter((item) => item.state === "found")
    .sort((a, b) => (order.get(a.id) as number) - (order.get(b.id) as number));
  return {
    view: {
      supported: true,
      checked: items.length,
      found: tally.found,
      not_found: tally.not_found,
      already_deleted: tally.already_deleted,
      sampled: items.length < request.ids.length,
      sample: found
        .slice(0, SHOWN)
        .map((item) => ({ id: displayId(item.id), summary: cleanSummary(item.summary) })),
      ...(stopped ? { stopped } : {}),
    },
    found: found.slice(0, RECHECKED).map((item) => ({ id: item.id, version: item.version })),
  };
}

/**
 * Re-reads the found ids a plan's preview kept; refuses the plan with PLAN_STALE when more than `staleShare` of
 * them vanished, were deleted or changed since, or when they cannot all be read again (it fails closed).
 */
export async function checkStale(
  lane: Lane,
  plan: { id: string; target: Target | null; reason: string; found: PreviewRecord["found"] },
  staleShare: number,
): Promise<void> {
  if (plan.found.length === 0) return;
  const { items, stopped } = await readAll(
    lane,
    plan.target,
    plan.reason,
    plan.found.map((item) => item.id),
  );
  if (stopped || items.length < plan.found.length) {
    throw new GateError(
      "PLAN_STALE",
      `Plan ${plan.id} was previewed, and the items it found could not be read again to check they did not change (${stopped ?? "some reads failed"}); nothing was sent. Try again, or run dry_run_delete again.`,
    );
  }
  const before = new Map(plan.found.map((item) => [item.id, item.version]));
  const changed = items.filter((item) => {
    const version = before.get(item.id) ?? null;
    return item.state !== "found" || (version !== null && item.version !== version);
  }).length;
  if (changed / plan.found.length > staleShare) {
    throw new GateError(
      "PLAN_STALE",
      `${changed} of the ${plan.found.length} items the preview of plan ${plan.id} found were deleted, vanished or changed at the backend since the dry run (more than ${Math.round(staleShare * 1000) / 10}% may); nothing was sent. Run dry_run_delete again and show the person the new plan.`,
    );
  }
}
