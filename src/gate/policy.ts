// Policy checks an operator configured per backend: targets, read-only, reason, job size and the daily budget.

import type { BackendKind } from "../backends/index.js";
import type { Target } from "../backends/types.js";
import type { BackendConfig } from "../config.js";
import { GateError } from "./errors.js";
import { displayId, globError, unsafeTextError } from "./plan.js";

export const MAX_REASON_LENGTH = 1024;

/** `*` matches any run of characters (including none); everything else matches itself, case-sensitively. */
export function matchesGlob(pattern: string, name: string): boolean {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`, "s").test(name);
}

/**
 * Why a name that becomes a URL path segment would reach another path than the plan shows, or null: the URL parser
 * resolves "." and ".." away, so the encoded name must come through parsing unchanged.
 */
export function pathSegmentError(name: string): string | null {
  if (name === "" || name === "." || name === "..")
    return "is not a usable URL path segment (empty, . or ..)";
  const path = `/a/${encodeURIComponent(name)}/b`;
  return new URL(path, "http://deletegate.invalid").pathname === path
    ? null
    : "would be rewritten by URL parsing, so the request would go to another path";
}

/** Validates the target against the kind's fields and the backend's allowTargets. */
export function checkTarget(kind: BackendKind, backend: BackendConfig, raw: unknown): Target | null {
  if (!kind.targetSchema) {
    const empty =
      raw === undefined ||
      raw === null ||
      (typeof raw === "object" && !Array.isArray(raw) && Object.keys(raw).length === 0);
    if (!empty)
      throw new GateError(
        "INVALID_TARGET",
        `Backend ${backend.name} (${kind.kind}) takes no target; omit it.`,
      );
    return null;
  }
  if (raw === undefined || raw === null) {
    throw new GateError(
      "INVALID_TARGET",
      `Backend ${backend.name} needs target {${kind.targetFields.join(", ")}}.`,
    );
  }
  const parsed = kind.targetSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = kind.targetFields.join(", ");
    const problem = parsed.error.issues
      .map((issue) => `${issue.path.map(String).join(".") || "target"}: ${issue.message}`)
      .join("; ");
    throw new GateError(
      "INVALID_TARGET",
      `Backend ${backend.name} needs target {${fields}} (${displayId(problem)}).`,
    );
  }
  const target = parsed.data;
  const name = kind.targetName(target);
  if (name === null) return target;
  // Valid first (SPEC §3): the exact name, not a pattern, a padded look-alike or a path the URL parser rewrites.
  const problem =
    name.trim() !== name
      ? "has leading or trailing whitespace"
      : (unsafeTextError(name) ?? globError(name) ?? (kind.targetInPath ? pathSegmentError(name) : null));
  if (problem) {
    throw new GateError(
      "INVALID_TARGET",
      `Target name "${displayId(name)}" ${problem}; give the exact name.`,
    );
  }
  if (backend.allowTargets && !backend.allowTargets.some((glob) => matchesGlob(glob, name))) {
    throw new GateError(
      "TARGET_NOT_ALLOWED",
      `Target "${displayId(name)}" is not in allowTargets of backend ${backend.name} (${backend.allowTargets.join(", ")}).`,
    );
  }
  return target;
}

export function checkReason(backend: BackendConfig, reason: unknown): string {
  if (typeof reason !== "string" || reason.trim().length === 0) {
    throw new GateError(
      "REASON_REQUIRED",
      "Give a reason: say in a sentence why these items must be deleted.",
    );
  }
  const trimmed = reason.trim();
  if (trimmed.length > MAX_REASON_LENGTH) {
    throw new GateError(
      "INVALID_INPUT",
      `The reason is ${trimmed.length} characters; at most ${MAX_REASON_LENGTH} are allowed.`,
    );
  }
  // It is shown to the person, written to the audit log and sent to backends: it must be plain text.
  const problem = unsafeTextError(trimmed, { lineBreaks: true });
  if (problem) throw new GateError("INVALID_INPUT", `The reason ${problem}; write it as plain text.`);
  if (trimmed.length < backend.minReasonLength) {
    throw new GateError(
      "REASON_REQUIRED",
      `The reason must be at least ${backend.minReasonLength} characters for backend ${backend.name}; say why these items must be deleted.`,
    );
  }
  return trimmed;
}

export function checkWritable(backend: BackendConfig): void {
  if (backend.readOnly) {
    throw new GateError(
      "READ_ONLY",
      `Backend ${backend.name} is read-only in this deletegate's config; nothing can be deleted there.`,
    );
  }
}

export function checkJobSize(backend: BackendConfig, count: number): void {
  if (count > backend.maxItemsPerJob) {
    throw new GateError(
      "JOB_LIMIT_EXCEEDED",
      `${count} ids exceed maxItemsPerJob (${backend.maxItemsPerJob}) of backend ${backend.name}; split the delete into smaller plans.`,
    );
  }
}

export function checkDailyBudget(backend: BackendConfig, usedLast24h: number, count: number): void {
  if (backend.maxItemsPerDay !== null && usedLast24h + count > backend.maxItemsPerDay) {
    const left = Math.max(0, backend.maxItemsPerDay - usedLast24h);
    throw new GateError(
      "DAILY_LIMIT_EXCEEDED",
      `Backend ${backend.name} allows ${backend.maxItemsPerDay} deletions per 24 h; ${usedLast24h} were used, ${left} are left, this plan needs ${count}.`,
    );
  }
}
