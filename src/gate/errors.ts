// The one refusal type of the gate: a code from SPEC §6 and a sentence a person can act on.

export const ERROR_CODES = [
  "CONFIG_INVALID",
  "INVALID_INPUT",
  "UNKNOWN_BACKEND",
  "INVALID_TARGET",
  "TARGET_NOT_ALLOWED",
  "READ_ONLY",
  "TOO_MANY_IDS",
  "NO_VALID_IDS",
  "REASON_REQUIRED",
  "JOB_LIMIT_EXCEEDED",
  "DAILY_LIMIT_EXCEEDED",
  "PLAN_NOT_FOUND",
  "PLAN_EXPIRED",
  "CONFIRMATION_REQUIRED",
  "CONFIRMATION_INVALID",
  "CONFIRMATION_DECLINED",
  "HUMAN_CONFIRMATION_UNAVAILABLE",
  "JOB_NOT_FOUND",
  "PLAN_STALE",
  // Not a refusal: something broke inside deletegate. Logged on stderr with details.
  "INTERNAL_ERROR",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** What a refusal was about, when the gate knows more than the call's arguments say (e.g. the plan's backend). */
export interface RefusalContext {
  plan_id?: string;
  backend?: string;
  target?: unknown;
  reason?: string;
}

export class GateError extends Error {
  context: RefusalContext = {};

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "GateError";
  }
}
