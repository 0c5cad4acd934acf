// Confirmation: single-use tokens bound to a plan's digest, and the prompt and verdict of a person's confirmation.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ConfiguredMode } from "../config.js";
import { GateError } from "./errors.js";
import type { PreviewView } from "./preview.js";

/** The modes a plan is confirmed in (`auto` resolved). */
export const CONFIRMATION_MODES = ["token", "human", "approval"] as const;
export type ConfirmationMode = (typeof CONFIRMATION_MODES)[number];

/** `auto` becomes `human` when the client can show a form to its person, else `token`. */
export function resolveMode(configured: ConfiguredMode, clientCanElicit: boolean): ConfirmationMode {
  if (configured === "auto") return clientCanElicit ? "human" : "token";
  return configured;
}

/**
 * How much a mode's consent is worth (SPEC §4): a token the agent holds < a person through the agent's client <
 * people signed in to deletegate's console.
 */
const STRENGTH: Record<ConfirmationMode, number> = { token: 0, human: 1, approval: 2 };

/** True when a plan confirmed in `planned` would be weaker than what `required` asks for now. */
export function weakerThan(planned: ConfirmationMode, required: ConfirmationMode): boolean {
  return STRENGTH[planned] < STRENGTH[required];
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

/** Agent text on one line, JSON-escaped: quoted, so it cannot pass as a line of deletegate's own. */
function quoted(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * The form's text. Every line starts with deletegate's own words; what the agent chose (target, ids, reason) is
 * JSON-escaped on one line or, for the reason, a block whose every line starts with "> ", so the agent cannot
 * write a line that reads as deletegate's (SPEC §5). The sample ids were drawn by deletegate at random.
 */
export function humanPrompt(plan: {
  backend: string;
  target: unknown;
  count: number;
  sampleIds: string[];
  notes: string[];
  reason: string;
  preview?: PreviewView | null;
  idsFile?: { path: string; sha256: string } | null;
}): HumanPrompt {
  const more = plan.count > plan.sampleIds.length;
  const lines = [
    `deletegate: an agent asks to DELETE ${plan.count} item(s) permanently.`,
    `Backend: ${plan.backend}`,
    `Target (as the agent gave it): ${plan.target ? quoted(plan.target) : "none"}`,
    `${more ? `${plan.sampleIds.length} of the ids, drawn at random by deletegate` : "The ids"}: ${plan.sampleIds.map(quoted).join(", ")}`,
    ...(plan.idsFile
      ? [`Ids read from the file ${quoted(plan.idsFile.path)} (sha256 ${plan.idsFile.sha256})`]
      : []),
    ...(plan.preview ? previewLines(plan.preview) : []),
    ...plan.notes.map((note) => `deletegate's note: ${note}`),
    "The agent's reason, in its own words (not checked by deletegate):",
    ...plan.reason.split(/\r\n|\r|\n/).map((line) => `> ${line}`),
    "",
    `To confirm, type the number of ids to delete (${plan.count}). Decline to refuse.`,
  ];
  return { message: lines.join("\n"), expectedCount: plan.count };
}

/**
 * What the backend said exists, in deletegate's words; each summary is backend data, JSON-escaped on its own line.
 * Exported for the approval page, which shows the same facts.
 */
export function previewLines(preview: PreviewView | null): string[] {
  if (!preview) return ["Not previewed: deletegate did not check which of these ids exist."];
  if (!preview.supported) return ["Not previewed: this backend cannot read items by id."];
  const checked = preview.sampled
    ? `${preview.checked} id(s) drawn at random by deletegate were checked${preview.stopped ? ` (${preview.stopped})` : ""}`
    : `All ${preview.checked} id(s) were checked`;
  return [
    `Preview (read from the backend at the dry run): ${checked}: ${preview.found} exist, ${preview.not_found} do not exist, ${preview.already_deleted} already deleted.`,
    ...(preview.sample ?? []).map(
      (item) => `  found ${quoted(item.id)}${item.summary === null ? "" : `: ${quoted(item.summary)}`}`,
    ),
  ];
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
