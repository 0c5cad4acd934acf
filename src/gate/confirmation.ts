// Confirmation: single-use tokens bound to a plan's digest, and the prompt and verdict of a person's confirmation.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { GateError } from "./errors.js";

export type ConfirmationMode = "token" | "human";

/** `auto` becomes `human` when the client can show a form to its person, else `token`. */
export function resolveMode(
  configured: "token" | "human" | "auto",
  clientCanElicit: boolean,
): ConfirmationMode {
  if (configured === "auto") return clientCanElicit ? "human" : "token";
  return configured;
}

function tokenHash(token: string, digest: string): Buffer {
  return createHash("sha256").update(`${digest}.${token}`).digest();
}

/** A fresh token; only its hash, bound to the digest, is stored. */
export function issueToken(digest: string): { token: string; hash: string } {
  const token = `dg_${randomBytes(24).toString("base64url")}`;
  return { token, hash: tokenHash(token, digest).toString("hex") };
}

export function tokenMatches(token: string, digest: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, "hex");
  const actual = tokenHash(token, digest);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export interface HumanPrompt {
  message: string;
  expectedCount: number;
}

export type HumanAnswer = { action: "accept"; count: unknown } | { action: "decline" | "cancel" };

/** Asks the person; null when the client cannot show a form. */
export type AskHuman = ((prompt: HumanPrompt) => Promise<HumanAnswer>) | null;

export function humanPrompt(plan: {
  backend: string;
  target: unknown;
  count: number;
  sampleIds: string[];
  notes: string[];
  reason: string;
}): HumanPrompt {
  const lines = [
    `An agent asks to DELETE ${plan.count} item(s) permanently.`,
    `Backend: ${plan.backend}`,
    `Target: ${plan.target ? JSON.stringify(plan.target) : "(none)"}`,
    `Sample ids: ${plan.sampleIds.join(", ")}${plan.count > plan.sampleIds.length ? ", …" : ""}`,
    `Reason: ${plan.reason}`,
    ...plan.notes.map((note) => `Note: ${note}`),
    "",
    `To confirm, type the number of ids to delete (${plan.count}). Decline to refuse.`,
  ];
  return { message: lines.join("\n"), expectedCount: plan.count };
}

/** Throws the refusal for anything but an accepted form with the exact number. */
export function judgeHumanAnswer(prompt: HumanPrompt, answer: HumanAnswer): void {
  if (answer.action !== "accept") {
    throw new GateError(
      "CONFIRMATION_DECLINED",
      `The person ${answer.action === "decline" ? "declined" : "cancelled"} the delete; nothing was sent.`,
    );
  }
  // Only plain digits count as typing the number: "0x2A" or "42.0" are not what the person was asked for.
  const typed =
    typeof answer.count === "string" && /^\d+$/.test(answer.count.trim())
      ? Number(answer.count.trim())
      : answer.count;
  if (typed !== prompt.expectedCount) {
    throw new GateError(
      "CONFIRMATION_INVALID",
      `The person typed ${JSON.stringify(answer.count)}, not the number of ids (${prompt.expectedCount}); nothing was sent. Run execute_delete again to ask again.`,
    );
  }
}
