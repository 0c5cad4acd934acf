// Policy: glob matching of targets, target validation, reason rules, read-only, job size and the daily budget.

import { describe, expect, it } from "vitest";
import { splendor } from "../../src/backends/splendor.js";
import type { BackendKind } from "../../src/backends/types.js";
import type { BackendConfig } from "../../src/config.js";
import { type ErrorCode, GateError } from "../../src/gate/errors.js";
import {
  checkDailyBudget,
  checkJobSize,
  checkReason,
  checkTarget,
  checkWritable,
  MAX_REASON_LENGTH,
  matchesGlob,
} from "../../src/gate/policy.js";
import { splendorBackend } from "./fixtures.js";

function backendConfig(overrides: Partial<BackendConfig> = {}): BackendConfig {
  return splendorBackend({ allowTargets: ["app-logs", "crm-*"], ...overrides });
}

/** Runs `work`, expects a GateError and returns it so its code and message can be checked. */
function refusal(work: () => unknown): GateError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(GateError);
    return error as GateError;
  }
  throw new Error("expected a GateError, but nothing was thrown");
}

function expectCode(work: () => unknown, code: ErrorCode): GateError {
  const error = refusal(work);
  expect(error.code).toBe(code);
  return error;
}

describe("matchesGlob", () => {
  it("matches exactly without a star", () => {
    expect(matchesGlob("app-logs", "app-logs")).toBe(true);
    expect(matchesGlob("app-logs", "app-logs2")).toBe(false);
    expect(matchesGlob("app-logs", "my-app-logs")).toBe(false);
    expect(matchesGlob("app-logs", "app-log")).toBe(false);
  });

  it("lets * match any run of characters, including none, anywhere in the pattern", () => {
    expect(matchesGlob("crm-*", "crm-eu")).toBe(true);
    expect(matchesGlob("crm-*", "crm-")).toBe(true);
    expect(matchesGlob("crm-*", "crm")).toBe(false);
    expect(matchesGlob("*-logs", "app-logs")).toBe(true);
    expect(matchesGlob("*-logs", "app-logs-old")).toBe(false);
    expect(matchesGlob("a*b*c", "aXXbYYc")).toBe(true);
    expect(matchesGlob("a*b*c", "abc")).toBe(true);
    expect(matchesGlob("a*b*c", "acb")).toBe(false);
    expect(matchesGlob("*", "")).toBe(true);
    expect(matchesGlob("*", "anything at all")).toBe(true);
    expect(matchesGlob("crm-*", "crm-a/b\nc")).toBe(true);
  });

  it("is case-sensitive", () => {
    expect(matchesGlob("app-logs", "App-Logs")).toBe(false);
    expect(matchesGlob("crm-*", "CRM-eu")).toBe(false);
  });

  it("takes regex metacharacters in patterns literally", () => {
    expect(matchesGlob("a.b", "a.b")).toBe(true);
    expect(matchesGlob("a.b", "axb")).toBe(false);
    expect(matchesGlob("a+", "aa")).toBe(false);
    expect(matchesGlob("a+", "a+")).toBe(true);
    expect(matchesGlob("ab?", "a")).toBe(false);
    expect(matchesGlob("ab?", "ab?")).toBe(true);
    expect(matchesGlob("[ab]", "a")).toBe(false);
    expect(matchesGlob("[ab]", "[ab]")).toBe(true);
    expect(matchesGlob("(a|b)", "a")).toBe(false);
    expect(matchesGlob("(a|b)", "(a|b)")).toBe(true);
    expect(matchesGlob("a{2}", "aa")).toBe(false);
    expect(matchesGlob("^a$", "^a$")).toBe(true);
    expect(matchesGlob("a\\d", "a\\d")).toBe(true);
    expect(matchesGlob("a\\d", "a1")).toBe(false);
    expect(matchesGlob("logs.*", "logs.2024")).toBe(true);
    expect(matchesGlob("logs.*", "logsX2024")).toBe(false);
  });

  it("takes regex metacharacters in names literally", () => {
    expect(matchesGlob("app-logs", "app-log.")).toBe(false);
    expect(matchesGlob("app-*", "app-(.*)")).toBe(true);
    expect(matchesGlob("exact", ".*")).toBe(false);
  });

  it("does not match a name with a trailing space or newline", () => {
    expect(matchesGlob("app-logs", "app-logs ")).toBe(false);
    expect(matchesGlob("app-logs", " app-logs")).toBe(false);
    expect(matchesGlob("app-logs", "app-logs\n")).toBe(false);
  });
});

describe("checkTarget", () => {
  const backend = backendConfig();

  it("returns the parsed target when it is allowed", () => {
    expect(checkTarget(splendor, backend, { dataset_id: "app-logs" })).toEqual({ dataset_id: "app-logs" });
    expect(checkTarget(splendor, backend, { dataset_id: "crm-eu" })).toEqual({ dataset_id: "crm-eu" });
  });

  it("refuses a missing target or a missing field with INVALID_TARGET", () => {
    const missing = expectCode(() => checkTarget(splendor, backend, undefined), "INVALID_TARGET");
    expect(missing.message).toBe("Backend splendor-prod needs target {dataset_id}.");
    expectCode(() => checkTarget(splendor, backend, null), "INVALID_TARGET");
    const noField = expectCode(() => checkTarget(splendor, backend, {}), "INVALID_TARGET");
    expect(noField.message).toContain("dataset_id:");
  });

  it("refuses extra fields with INVALID_TARGET and names the field", () => {
    const error = expectCode(
      () => checkTarget(splendor, backend, { dataset_id: "app-logs", namespace: "x" }),
      "INVALID_TARGET",
    );
    expect(error.message).toContain('"namespace"');
  });

  it("refuses wrong types with INVALID_TARGET", () => {
    expectCode(() => checkTarget(splendor, backend, { dataset_id: 5 }), "INVALID_TARGET");
    expectCode(() => checkTarget(splendor, backend, { dataset_id: "" }), "INVALID_TARGET");
    expectCode(() => checkTarget(splendor, backend, { dataset_id: "d".repeat(129) }), "INVALID_TARGET");
    expectCode(() => checkTarget(splendor, backend, ["app-logs"]), "INVALID_TARGET");
    expectCode(() => checkTarget(splendor, backend, "app-logs"), "INVALID_TARGET");
  });

  it("refuses __proto__ and constructor keys as unknown fields", () => {
    const proto = JSON.parse('{"dataset_id":"app-logs","__proto__":{"dataset_id":"billing"}}');
    expect(expectCode(() => checkTarget(splendor, backend, proto), "INVALID_TARGET").message).toContain(
      '"__proto__"',
    );
    const protoOnly = JSON.parse('{"__proto__":{"dataset_id":"app-logs"}}');
    expectCode(() => checkTarget(splendor, backend, protoOnly), "INVALID_TARGET");
    expect(
      expectCode(
        () => checkTarget(splendor, backend, { dataset_id: "app-logs", constructor: "Object" }),
        "INVALID_TARGET",
      ).message,
    ).toContain('"constructor"');
  });

  it("refuses a target outside allowTargets with TARGET_NOT_ALLOWED", () => {
    const error = expectCode(
      () => checkTarget(splendor, backend, { dataset_id: "billing" }),
      "TARGET_NOT_ALLOWED",
    );
    expect(error.message).toBe(
      'Target "billing" is not in allowTargets of backend splendor-prod (app-logs, crm-*).',
    );
    expectCode(() => checkTarget(splendor, backend, { dataset_id: "APP-LOGS" }), "TARGET_NOT_ALLOWED");
    // Valid first, then allowed (SPEC §3): a padded name is not a valid name.
    expectCode(() => checkTarget(splendor, backend, { dataset_id: "app-logs " }), "INVALID_TARGET");
  });

  it("allows any target when allowTargets is null", () => {
    const open = backendConfig({ allowTargets: null });
    expect(checkTarget(splendor, open, { dataset_id: "billing" })).toEqual({ dataset_id: "billing" });
  });

  it("for a kind without target fields, accepts none and refuses one", () => {
    const targetless: BackendKind = { ...splendor, kind: "targetless", targetFields: [], targetSchema: null };
    const open = backendConfig({ name: "tl", kind: "targetless", allowTargets: null });
    expect(checkTarget(targetless, open, undefined)).toBeNull();
    expect(checkTarget(targetless, open, null)).toBeNull();
    expect(checkTarget(targetless, open, {})).toBeNull();
    const error = expectCode(() => checkTarget(targetless, open, { dataset_id: "x" }), "INVALID_TARGET");
    expect(error.message).toBe("Backend tl (targetless) takes no target; omit it.");
  });
});

describe("checkTarget: exact names only (untrusted input)", () => {
  const backend = backendConfig({ allowTargets: ["crm-*"] });

  it("refuses a name an allowTargets glob lets through that is padded, hidden or a pattern itself", () => {
    for (const name of ["crm-*", "crm-[a-z]", "crm-eu ", "crm-\u200beu", "crm-\u202eeu", "crm-\u0007"]) {
      const error = expectCode(() => checkTarget(splendor, backend, { dataset_id: name }), "INVALID_TARGET");
      expect(error.message, JSON.stringify(name)).toMatch(/give the exact name/);
    }
  });

  it("still takes the plain name", () => {
    expect(checkTarget(splendor, backend, { dataset_id: "crm-eu" })).toEqual({ dataset_id: "crm-eu" });
  });
});

describe("checkReason", () => {
  const backend = backendConfig({ minReasonLength: 10 });

  it("refuses a missing, non-string or whitespace-only reason with REASON_REQUIRED", () => {
    for (const reason of [undefined, null, 42, "", "   \n\t "]) {
      expectCode(() => checkReason(backend, reason), "REASON_REQUIRED");
    }
  });

  it("measures the length after trimming", () => {
    const error = expectCode(() => checkReason(backend, `   ${"x".repeat(9)}      `), "REASON_REQUIRED");
    expect(error.message).toBe(
      "The reason must be at least 10 characters for backend splendor-prod; say why these items must be deleted.",
    );
    expect(checkReason(backend, `  ${"x".repeat(10)}  `)).toBe("x".repeat(10));
  });

  it("returns the trimmed reason", () => {
    expect(checkReason(backend, "  GDPR erasure request #4411 \n")).toBe("GDPR erasure request #4411");
  });

  it("takes line breaks, refuses other control, invisible and separator characters with INVALID_INPUT", () => {
    expect(checkReason(backend, "GDPR erasure\r\nrequest #4411")).toBe("GDPR erasure\r\nrequest #4411");
    for (const reason of [
      "GDPR erasure \u0000 #4411",
      "GDPR erasure\trequest #4411",
      "GDPR erasure \u202e #4411",
      "GDPR erasure \u200b #4411",
      "GDPR erasure \u2028 #4411",
      "GDPR erasure \u2029 #4411",
      "GDPR erasure \ufeff #4411",
      "GDPR erasure \ud800 #4411",
    ]) {
      expectCode(() => checkReason(backend, reason), "INVALID_INPUT");
    }
  });

  it("accepts 1024 characters and refuses 1025 with INVALID_INPUT", () => {
    expect(MAX_REASON_LENGTH).toBe(1024);
    expect(checkReason(backend, "r".repeat(1024))).toBe("r".repeat(1024));
    expect(checkReason(backend, ` ${"r".repeat(1024)} `)).toBe("r".repeat(1024));
    const error = expectCode(() => checkReason(backend, "r".repeat(1025)), "INVALID_INPUT");
    expect(error.message).toBe("The reason is 1025 characters; at most 1024 are allowed.");
  });

  it("follows the backend's minReasonLength", () => {
    const lax = backendConfig({ minReasonLength: 0 });
    expect(checkReason(lax, "x")).toBe("x");
    expectCode(() => checkReason(lax, "  "), "REASON_REQUIRED");
    const strict = backendConfig({ minReasonLength: 30 });
    expectCode(() => checkReason(strict, "x".repeat(29)), "REASON_REQUIRED");
    expect(checkReason(strict, "x".repeat(30))).toBe("x".repeat(30));
  });
});

describe("checkWritable", () => {
  it("passes a writable backend and refuses a read-only one with READ_ONLY", () => {
    expect(() => checkWritable(backendConfig({ readOnly: false }))).not.toThrow();
    const error = expectCode(() => checkWritable(backendConfig({ readOnly: true })), "READ_ONLY");
    expect(error.message).toContain("splendor-prod");
  });
});

describe("checkJobSize", () => {
  it("passes up to maxItemsPerJob and refuses one more with JOB_LIMIT_EXCEEDED", () => {
    const backend = backendConfig({ maxItemsPerJob: 500 });
    expect(() => checkJobSize(backend, 500)).not.toThrow();
    const error = expectCode(() => checkJobSize(backend, 501), "JOB_LIMIT_EXCEEDED");
    expect(error.message).toBe(
      "501 ids exceed maxItemsPerJob (500) of backend splendor-prod; split the delete into smaller plans.",
    );
  });
});

describe("checkDailyBudget", () => {
  it("passes when used + count equals maxItemsPerDay and refuses one more", () => {
    const backend = backendConfig({ maxItemsPerDay: 1000 });
    expect(() => checkDailyBudget(backend, 600, 400)).not.toThrow();
    expect(() => checkDailyBudget(backend, 0, 1000)).not.toThrow();
    const error = expectCode(() => checkDailyBudget(backend, 600, 401), "DAILY_LIMIT_EXCEEDED");
    expect(error.message).toBe(
      "Backend splendor-prod allows 1000 deletions per 24 h; 600 were used, 400 are left, this plan needs 401.",
    );
    expectCode(() => checkDailyBudget(backend, 0, 1001), "DAILY_LIMIT_EXCEEDED");
  });

  it("says 0 are left when more than the budget was already used", () => {
    const backend = backendConfig({ maxItemsPerDay: 10 });
    expect(expectCode(() => checkDailyBudget(backend, 12, 1), "DAILY_LIMIT_EXCEEDED").message).toContain(
      "0 are left",
    );
  });

  it("never refuses when maxItemsPerDay is unlimited", () => {
    expect(() => checkDailyBudget(backendConfig({ maxItemsPerDay: null }), 1e12, 1e9)).not.toThrow();
  });
});
