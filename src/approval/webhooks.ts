// Approval webhooks (SPEC §10): a signed JSON POST per approval event, retried with backoff in the background, so
// a failing or slow webhook never blocks a job or an approval. The signing secret never leaves this module.
import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ApprovalConfig } from "../config.js";
import { visibleText } from "../gate/plan.js";
import type { Logger } from "../logger.js";

export type ApprovalEvent =
  | "approval.requested"
  | "approval.granted"
  | "approval.rejected"
  | "approval.expired";

export interface WebhookBody {
  event: ApprovalEvent;
  job_id: string;
  backend: string;
  kind: string;
  target: unknown;
  count: number;
  reason: string;
  requested_by: string;
  url: string;
  /** One readable line, for chat incoming-webhooks. */
  text: string;
}

/** Attempts per webhook and event, and the first wait between them (doubling). */
export const WEBHOOK_ATTEMPTS = 4;
const FIRST_RETRY_MS = 500;
const TIMEOUT_MS = 5_000;

export function signature(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class Webhooks {
  private readonly pending = new Set<Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly hooks: () => ApprovalConfig["notify"],
    private readonly logger: Logger,
  ) {}

  /** Sends `body` to every configured webhook in the background; returns at once. */
  send(body: WebhookBody): void {
    const json = JSON.stringify(body);
    for (const hook of this.hooks()) {
      const delivery = this.deliver(hook, json, body.event).finally(() => this.pending.delete(delivery));
      this.pending.add(delivery);
    }
  }

  /** Waits for deliveries in flight (tests, shutdown); retries still waiting are abandoned. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.pending]);
  }

  private async deliver(hook: ApprovalConfig["notify"][number], json: string, event: ApprovalEvent) {
    const headers = {
      "content-type": "application/json",
      "x-deletegate-signature": signature(json, hook.secret),
      "user-agent": "deletegate-webhook",
    };
    let wait = FIRST_RETRY_MS;
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS && !this.stop.signal.aborted; attempt++) {
      let outcome: string;
      try {
        const response = await fetch(hook.url, {
          method: "POST",
          headers,
          body: json,
          signal: AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), this.stop.signal]),
          redirect: "error",
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return;
        outcome = `HTTP ${response.status}`;
      } catch (error) {
        outcome = (error as Error).name === "TimeoutError" ? "timed out" : (error as Error).message;
      }
      // The URL's path and query may hold a token of the receiver's: only its origin is logged.
      this.logger.warn(
        { event, webhook: new URL(hook.url).origin, attempt, outcome },
        attempt < WEBHOOK_ATTEMPTS ? "webhook not delivered; retrying" : "webhook not delivered; giving up",
      );
      if (attempt < WEBHOOK_ATTEMPTS)
        await sleep(wait, undefined, { signal: this.stop.signal }).catch(() => undefined);
      wait *= 2;
    }
  }
}

/** The job facts every notice carries. */
export interface NoticeJob {
  id: string;
  backend: string;
  kind: string;
  target: unknown;
  reason: string;
  total: number;
  requested_by: string;
}

/** Slack's three escapes (it reads `&`, `<`, `>` as markup, as in `<!channel>` or `<url|label>`); Markdown decodes them. */
function chatEscaped(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Words deletegate did not write (a reason, a target, a requester's name), made inert on a chat line: quoted as JSON
 * (one line, its end unmistakable), with hiding characters shown as U+FFFD, Slack's escapes, a backslash before the
 * Markdown punctuation that makes links, emphasis and code (and before the backslash itself), and `@` as a fullwidth
 * `＠`, since chats that find `@channel` in plain text have no escape for it. A chat shows the words, never obeys them.
 */
function inertWords(value: unknown): string {
  return chatEscaped(visibleText(JSON.stringify(value)))
    .replace(/[\\[\]()*_~`]/g, "\\$&")
    .replace(/@/g, "\uff20");
}

/**
 * A webhook body for an approval event. `what` says what happened ("alice approved (1 of 2)"). The structured
 * fields are the job's facts as given (receivers read them as data); `text`, the one readable line a chat shows,
 * puts deletegate's console link before anything the requester wrote, and quotes the requester's words inert, so no
 * reason can ping a channel, dress another address as the console link, or look like deletegate's own words.
 */
export function approvalNotice(event: ApprovalEvent, job: NoticeJob, url: string, what: string): WebhookBody {
  const target = job.target ? `target ${inertWords(job.target)}, ` : "";
  return {
    event,
    job_id: job.id,
    backend: job.backend,
    kind: job.kind,
    target: job.target,
    count: job.total,
    reason: job.reason,
    requested_by: job.requested_by,
    url,
    text:
      `deletegate: ${chatEscaped(what)}: delete ${job.total} item(s) on ${chatEscaped(job.backend)}: ${url} — ` +
      `${target}requested by ${inertWords(job.requested_by)}; their reason: ${inertWords(job.reason)}`,
  };
}
