// Confirmation: mode resolution, tokens bound to a digest, the person's prompt and the verdict on their answer.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type HumanAnswer,
  humanPrompt,
  issueToken,
  judgeHumanAnswer,
  resolveMode,
  tokenMatches,
} from "../../src/gate/confirmation.js";
import { type ErrorCode, GateError } from "../../src/gate/errors.js";

const DIGEST = createHash("sha256").update("plan one").digest("hex");
const OTHER_DIGEST = createHash("sha256").update("plan two").digest("hex");

/** The GateError `work` throws, or null when it throws nothing. */
function thrown(work: () => unknown): GateError | null {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(GateError);
    return error as GateError;
  }
  return null;
}

function codeOf(work: () => unknown): ErrorCode | "no error" {
  return thrown(work)?.code ?? "no error";
}

describe("resolveMode", () => {
  it("keeps token and human whatever the client can do", () => {
    expect(resolveMode("token", true)).toBe("token");
    expect(resolveMode("token", false)).toBe("token");
    expect(resolveMode("human", true)).toBe("human");
    expect(resolveMode("human", false)).toBe("human");
  });

  it("turns auto into human with elicitation and token without", () => {
    expect(resolveMode("auto", true)).toBe("human");
    expect(resolveMode("auto", false)).toBe("token");
  });
});

describe("issueToken and tokenMatches", () => {
  it("issues a dg_ token and a 64-hex-digit hash that is not the token", () => {
    const { token, hash } = issueToken(DIGEST);
    expect(token).toMatch(/^dg_[A-Za-z0-9_-]{32}$/);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toBe(token);
    expect(hash).not.toContain(token.slice(3));
  });

  it("issues a different token each time", () => {
    const first = issueToken(DIGEST);
    const second = issueToken(DIGEST);
    expect(first.token).not.toBe(second.token);
    expect(first.hash).not.toBe(second.hash);
  });

  it("matches the right token with the right digest", () => {
    const { token, hash } = issueToken(DIGEST);
    expect(tokenMatches(token, DIGEST, hash)).toBe(true);
  });

  it("refuses a wrong token, another digest, another plan's hash and a damaged hash", () => {
    const { token, hash } = issueToken(DIGEST);
    const other = issueToken(DIGEST);
    expect(tokenMatches(other.token, DIGEST, hash)).toBe(false);
    expect(tokenMatches(`${token}x`, DIGEST, hash)).toBe(false);
    expect(tokenMatches(token.slice(0, -1), DIGEST, hash)).toBe(false);
    expect(tokenMatches("", DIGEST, hash)).toBe(false);
    expect(tokenMatches(token, OTHER_DIGEST, hash)).toBe(false);
    expect(tokenMatches(token, DIGEST, other.hash)).toBe(false);
    expect(tokenMatches(token, DIGEST, hash.slice(0, 62))).toBe(false);
    expect(tokenMatches(token, DIGEST, hash.slice(0, -1))).toBe(false);
    expect(tokenMatches(token, DIGEST, "")).toBe(false);
    expect(tokenMatches(token, DIGEST, "not hex at all")).toBe(false);
  });

  it("refuses the stored hash presented as the token", () => {
    const { hash } = issueToken(DIGEST);
    expect(tokenMatches(hash, DIGEST, hash)).toBe(false);
  });
});

describe("humanPrompt", () => {
  const plan = {
    backend: "splendor-prod",
    target: { dataset_id: "app-logs" },
    count: 2501,
    sampleIds: ["r1", "r2", "r3"],
    notes: ["Purged later by a backend job.", "Cannot be undone."],
    reason: "GDPR erasure request #4411",
  };

  it("shows backend, target, count, sample ids, reason and notes, and asks for the number", () => {
    const prompt = humanPrompt(plan);
    expect(prompt.expectedCount).toBe(2501);
    expect(prompt.message).toBe(
      [
        "deletegate: an agent asks to DELETE 2501 item(s) permanently.",
        "Backend: splendor-prod",
        'Target (as the agent gave it): {"dataset_id":"app-logs"}',
        '3 of the ids, drawn at random by deletegate: "r1", "r2", "r3"',
        "deletegate's note: Purged later by a backend job.",
        "deletegate's note: Cannot be undone.",
        "The agent's reason, in its own words (not checked by deletegate):",
        "> GDPR erasure request #4411",
        "",
        "To confirm, type the number of ids to delete (2501). Decline to refuse.",
      ].join("\n"),
    );
  });

  it("says none without a target and shows every id when all fit", () => {
    const prompt = humanPrompt({ ...plan, target: null, count: 3, notes: [] });
    expect(prompt.message).toContain("Target (as the agent gave it): none\n");
    expect(prompt.message).toContain('The ids: "r1", "r2", "r3"\n');
    expect(prompt.message).not.toContain("note:");
  });

  it("never lets agent text start a line: the reason is a quoted block, target and ids are JSON-escaped", () => {
    const forged = "Deleting old logs.\nNote: THIS IS A DRY RUN, nothing will be deleted.\r\nType 3 below.";
    const prompt = humanPrompt({
      ...plan,
      target: { dataset_id: 'x"\nNote: fake' },
      sampleIds: ["a\nNote: DRY RUN", "b"],
      reason: forged,
    });
    const ours = [
      /^deletegate/,
      /^Backend: /,
      /^Target \(as the agent gave it\): /,
      /^\d+ of the ids, drawn/,
      /^The agent's reason/,
      /^> /,
      /^$/,
      /^To confirm, type/,
    ];
    for (const line of prompt.message.split("\n")) {
      expect(
        ours.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
    }
    expect(prompt.message).toContain("> Note: THIS IS A DRY RUN, nothing will be deleted.\n");
    expect(prompt.message).toContain('"a\\nNote: DRY RUN"');
  });
});

describe("judgeHumanAnswer", () => {
  const prompt = humanPrompt({
    backend: "splendor-prod",
    target: { dataset_id: "app-logs" },
    count: 42,
    sampleIds: ["a"],
    notes: [],
    reason: "GDPR erasure request #4411",
  });
  const accept = (count: unknown): HumanAnswer => ({ action: "accept", count });

  it("passes the exact number, as a number or as a numeric string", () => {
    expect(codeOf(() => judgeHumanAnswer(prompt, accept(42)))).toBe("no error");
    expect(codeOf(() => judgeHumanAnswer(prompt, accept("42")))).toBe("no error");
    expect(codeOf(() => judgeHumanAnswer(prompt, accept(" 42 ")))).toBe("no error");
  });

  it("refuses any other number or value with CONFIRMATION_INVALID", () => {
    for (const count of [41, 43, 0, -42, "41", "", "forty-two", "42 ids", null, undefined, true, [42]]) {
      expect(codeOf(() => judgeHumanAnswer(prompt, accept(count)))).toBe("CONFIRMATION_INVALID");
    }
  });

  it("says what was typed and what was expected", () => {
    expect(thrown(() => judgeHumanAnswer(prompt, accept("41")))?.message).toBe(
      'The person typed "41", not the number of ids (42); nothing was sent. Run execute_delete again to ask again.',
    );
  });

  it("refuses decline and cancel with CONFIRMATION_DECLINED", () => {
    expect(codeOf(() => judgeHumanAnswer(prompt, { action: "decline" }))).toBe("CONFIRMATION_DECLINED");
    expect(codeOf(() => judgeHumanAnswer(prompt, { action: "cancel" }))).toBe("CONFIRMATION_DECLINED");
    expect(thrown(() => judgeHumanAnswer(prompt, { action: "cancel" }))?.message).toBe(
      "The person cancelled the delete; nothing was sent.",
    );
    expect(thrown(() => judgeHumanAnswer(prompt, { action: "decline" }))?.message).toBe(
      "The person declined the delete; nothing was sent.",
    );
  });
});

describe("typing the number", () => {
  it("accepts only plain digits: hex or decimal spellings of the number are refused", () => {
    const prompt = { message: "m", expectedCount: 42 };
    expect(() => judgeHumanAnswer(prompt, { action: "accept", count: " 42 " })).not.toThrow();
    for (const count of ["0x2A", "42.0", "4.2e1"]) {
      expect(() => judgeHumanAnswer(prompt, { action: "accept", count }), count).toThrow(
        /CONFIRMATION_INVALID|not the number/,
      );
    }
  });
});
