// Decisions on jobs awaiting approval (SPEC §4, §10): approve, reject, withdraw, expire.
//
// Threat model: the agent made the request and may try to approve it itself or to rush it through. Approvals come
// only from approvers signed in to the console (their names and the policy are read from the config in force at
// each decision); the requester never approves their own request; `required` distinct approvers are needed; the
// policy in force is checked again when the last approval arrives; a job past its expiry is never approved. Within
// one process, decisions on a job are serialised by a lock; across processes (a console and a stdio server on one
// SQLite file, instances on one Redis) each decision writes the job only if nobody wrote it since it was read, and
// is taken again from the new state when somebody did.

import { createHash } from "node:crypto";
import type { Audit, AuditEntry } from "../audit/index.js";
import type { ApprovalFacts } from "../console/pages.js";
import { GateError } from "../gate/errors.js";
import type { DeletionGate } from "../gate/gate.js";
import { KeyedLock } from "../jobs/coordination.js";
import { jobFields } from "../jobs/job-run.js";
import type { Runner } from "../jobs/runner.js";
import { isTerminal, type JobRecord, type Store } from "../jobs/store.js";
import type { JobView } from "../jobs/view.js";
import type { LiveConfig } from "../live-config.js";
import type { Logger } from "../logger.js";
import { type ApprovalEvent, approvalNotice, type Webhooks } from "./webhooks.js";

/** How often each process looks for jobs whose approval expired (the audit line follows within this). */
export const EXPIRY_SWEEP_MS = 1_000;

/** A decision's answer: the job, or why not, as an HTTP status (SPEC §10) and a code. */
export type Decision =
  | { ok: true; job: JobView }
  | { ok: false; status: 400 | 403 | 404 | 409; code: string; message: string };

function refused(status: 400 | 403 | 404 | 409, code: string, message: string): Decision {
  return { ok: false, status, code, message };
}

/** A decision that found the job written by another process meanwhile: it is taken again from the new state. */
const CHANGED = Symbol("changed");
/** How often a decision is taken again before it gives up (only a storm of writers can exhaust it). */
const DECISION_ATTEMPTS = 5;

/** Writes the job as the decision changed it; false when another process wrote it since it was read. */
type Commit = (job: JobRecord) => Promise<boolean>;

export class Approvals {
  private readonly locks = new KeyedLock();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly live: LiveConfig,
    private readonly store: Store,
    private readonly runner: Runner,
    private readonly gate: DeletionGate,
    private readonly audit: Audit,
    private readonly webhooks: Webhooks,
    private readonly logger: Logger,
  ) {}

  /** Expires jobs past their approval's expiry every EXPIRY_SWEEP_MS until close(). */
  startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.expireDue().catch((error: Error) =>
        this.logger.warn({ err: error }, "approval expiry sweep failed"),
      );
    }, EXPIRY_SWEEP_MS);
    this.sweeper.unref();
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /**
   * Jobs with an approval, newest first: pending ones (read from the unfinished jobs, so the list costs what waits,
   * not every job ever run), or the approvals among the last `limit` jobs.
   */
  async list(pendingOnly: boolean, limit = 100): Promise<JobView[]> {
    if (!pendingOnly) {
      const recent = await this.runner.list({ owner: null, limit });
      return recent.filter((view) => view.approval !== null);
    }
    const waiting = (await this.store.unfinishedJobs()).filter((job) => job.status === "awaiting_approval");
    const views = await Promise.all(waiting.reverse().map((job) => this.runner.view(job.id, null, null)));
    return views.filter((view): view is JobView => view?.status === "awaiting_approval").slice(0, limit);
  }

  async view(jobId: string): Promise<JobView | undefined> {
    const view = await this.runner.view(jobId, { offset: 0, limit: 100 }, null);
    return view?.approval ? view : undefined;
  }

  /** What the approval page shows beside the job: the plan's random sample of ids and its digest. */
  async facts(jobId: string): Promise<ApprovalFacts | undefined> {
    const job = await this.view(jobId);
    const record = job && (await this.store.getJob(jobId));
    const plan = record && (await this.store.getPlan(record.plan_id));
    if (!job || !record?.approval || !plan) return undefined;
    return {
      job,
      standing: this.standing(record).map((given) => given.approver),
      sampleIds: plan.sample_ids,
      digest: record.approval.digest,
      preview: plan.preview?.view ?? null,
      idsFile: plan.ids_file ?? null,
    };
  }

  /** Every id of a job awaiting (or past) approval, batch by batch, for the download. */
  async *ids(jobId: string): AsyncGenerator<string[]> {
    const job = await this.store.getJob(jobId);
    if (!job?.approval) return;
    for (let index = 0; index < job.batch_count; index++) yield this.store.getPlanBatch(job.plan_id, index);
  }

  /**
   * The approvals that count now: only those of people who are approvers now, given with the password they have now.
   * One removed since, or whose password the operator changed (a compromised account, say), leaves the approval
   * given, but it no longer makes up the number (SPEC §10: names re-checked at each approval).
   */
  private standing(
    job: JobRecord,
    credentials = this.credentials(),
  ): NonNullable<JobRecord["approval"]>["approvals"] {
    return (job.approval?.approvals ?? []).filter(
      (given) => credentials.get(given.approver) === given.credential && given.approver !== job.requested_by,
    );
  }

  /** Each configured approver's credential (see credentialOf), by name, from the config in force now. */
  private credentials(): Map<string, string> {
    return new Map(
      this.live.current.approval?.approvers.map((configured) => [
        configured.name,
        credentialOf(configured.passwordHash),
      ]),
    );
  }

  approve(jobId: string, approver: string, comment: string | null): Promise<Decision> {
    return this.decide(jobId, approver, async (job, commit) => {
      const approval = job.approval as NonNullable<JobRecord["approval"]>;
      if (approver === job.requested_by) {
        return refused(403, "FORBIDDEN", "The requester of a delete cannot approve it.");
      }
      const credentials = this.credentials();
      const credential = credentials.get(approver) ?? "";
      const earlier = approval.approvals.find((given) => given.approver === approver);
      if (earlier?.credential === credential) return this.answer(job);
      const last = this.standing(job, credentials).length + 1 >= approval.required;
      // The policy in force now decides, at each approval, not the one the request was made under (SPEC §3).
      try {
        await this.gate.checkApprovedPlan(job, approver, last);
      } catch (error) {
        if (!(error instanceof GateError)) throw error;
        return refused(409, error.code, `${error.message} The approval was not recorded.`);
      }
      // The check may take seconds (the last one reads the backend), and the operator may change the approvers
      // meanwhile: this approver must still be one, with the password signed in with; and if the approvals that count
      // changed, whether this one is the last is decided again.
      const now = this.credentials();
      if (now.get(approver) !== credential) {
        return refused(
          403,
          "FORBIDDEN",
          `${approver} was removed from the approvers, or their password changed, while this approval was checked; it was not recorded.`,
        );
      }
      const standing = this.standing(job, now);
      if (standing.length + 1 >= approval.required !== last) return CHANGED;
      // An earlier approval of this approver, with a password changed since, is replaced by this one.
      approval.approvals = approval.approvals.filter((given) => given !== earlier);
      approval.approvals.push({ approver, at: new Date().toISOString(), comment, credential });
      const given = standing.length + 1;
      if (last) job.status = "queued";
      if (!(await commit(job))) return CHANGED;
      this.record(job, "approval.granted", approver, comment, { approvals: given });
      this.notify("approval.granted", job, `${approver} approved (${given} of ${approval.required})`);
      if (!last) return this.answer(job);
      try {
        this.audit.record({
          ...jobFields(job),
          event: "delete.confirmed",
          actor: [...standing.map((earlier) => earlier.approver), approver].join(", "),
          counts: { to_delete: job.total, batches: job.batch_count },
        });
      } catch (error) {
        await this.runner.haltForAudit(job.id, error as Error);
      }
      // Run here, unless another instance holds it (it then runs it; its takeover scan finds queued jobs).
      await this.runner.start(job.id);
      return this.answer(job);
    });
  }

  reject(jobId: string, approver: string, comment: string): Promise<Decision> {
    if (comment.trim().length === 0) {
      return Promise.resolve(refused(400, "INVALID_INPUT", "A rejection needs a comment saying why."));
    }
    return this.decide(jobId, approver, async (job, commit) => {
      const approval = job.approval as NonNullable<JobRecord["approval"]>;
      approval.rejected = { approver, at: new Date().toISOString(), comment };
      job.status = "rejected";
      job.finished_at = approval.rejected.at;
      if (!(await commit(job))) return CHANGED;
      this.record(job, "approval.rejected", approver, comment, {});
      this.notify("approval.rejected", job, `${approver} rejected`);
      return this.answer(job);
    });
  }

  /** cancel_delete_job on a job awaiting approval: withdrawn, nothing sent. False when it awaits nothing. */
  async withdraw(jobId: string, actor: string): Promise<boolean> {
    return this.locks.run(`approval:${jobId}`, async () => {
      for (let attempt = 0; attempt < DECISION_ATTEMPTS; attempt++) {
        const read = await this.store.getJobVersioned(jobId);
        const job = read?.job;
        if (!read || job?.status !== "awaiting_approval") return false;
        job.status = "cancelled";
        job.finished_at = new Date().toISOString();
        job.notes = [...job.notes, "Withdrawn before it was approved; nothing was sent."];
        if (!(await this.store.replaceJob(job, read.rev))) continue;
        this.safeRecord({ ...jobFields(job), event: "job.cancelled", actor, status: "cancelled" });
        return true;
      }
      throw new Error(`job ${jobId} kept changing while it was withdrawn`);
    });
  }

  /** Ends every job whose approval expired unanswered; returns how many. */
  async expireDue(now = Date.now()): Promise<number> {
    let expired = 0;
    for (const candidate of await this.store.unfinishedJobs()) {
      if (candidate.status !== "awaiting_approval" || !candidate.approval) continue;
      if (Date.parse(candidate.approval.expires_at) > now) continue;
      await this.locks.run(`approval:${candidate.id}`, async () => {
        const read = await this.store.getJobVersioned(candidate.id);
        // Another process may expire it first: then this write finds the job changed and does nothing.
        if (read && (await this.expire(read.job, (job) => this.store.replaceJob(job, read.rev), now)))
          expired++;
      });
    }
    return expired;
  }

  /** Under the job's lock: ends it `expired` when it still awaits an approval past its expiry (and `commit` wrote it). */
  private async expire(job: JobRecord, commit: Commit, now: number): Promise<boolean> {
    if (!job.approval || job.status !== "awaiting_approval" || Date.parse(job.approval.expires_at) > now)
      return false;
    job.status = "expired";
    job.finished_at = new Date(now).toISOString();
    if (!(await commit(job))) return false;
    this.safeRecord({ ...jobFields(job), event: "approval.expired", digest: job.approval.digest });
    this.notify("approval.expired", job, "approval expired unanswered");
    return true;
  }

  /** Runs one decision on a job awaiting approval, after the checks every decision shares. */
  private decide(
    jobId: string,
    approver: string,
    act: (job: JobRecord, commit: Commit) => Promise<Decision | typeof CHANGED>,
  ): Promise<Decision> {
    return this.locks.run(`approval:${jobId}`, async () => {
      for (let attempt = 0; attempt < DECISION_ATTEMPTS; attempt++) {
        const decision = await this.decideOnce(jobId, approver, act);
        if (decision === CHANGED) continue;
        return decision;
      }
      return refused(409, "NOT_AWAITING_APPROVAL", `Job ${jobId} kept changing; look at it again.`);
    });
  }

  private async decideOnce(
    jobId: string,
    approver: string,
    act: (job: JobRecord, commit: Commit) => Promise<Decision | typeof CHANGED>,
  ): Promise<Decision | typeof CHANGED> {
    const read = await this.store.getJobVersioned(jobId);
    const job = read?.job;
    if (!read || !job?.approval)
      return refused(404, "JOB_NOT_FOUND", `No job awaiting approval has the id ${jobId}.`);
    const commit: Commit = (changed) => this.store.replaceJob(changed, read.rev);
    const decision = await this.checkedDecision(job, approver, commit, act);
    // A refused decision (the requester approving, a removed approver, the policy now) is written to the audit log,
    // as execute_delete's refusals are, and is worth an operator's look.
    if (decision !== CHANGED && !decision.ok) {
      this.logger.warn({ job_id: jobId, approver, code: decision.code }, "approval decision refused");
      this.safeRecord({
        ...jobFields(job),
        event: "delete.refused",
        actor: approver,
        code: decision.code,
        error: decision.message,
      });
    }
    return decision;
  }

  /** The checks every decision shares, then the decision itself. */
  private async checkedDecision(
    job: JobRecord,
    approver: string,
    commit: Commit,
    act: (job: JobRecord, commit: Commit) => Promise<Decision | typeof CHANGED>,
  ): Promise<Decision | typeof CHANGED> {
    const jobId = job.id;
    const approval = job.approval as NonNullable<JobRecord["approval"]>;
    // Approver names are read from the config in force now: one removed since signing in decides nothing.
    if (!this.live.current.approval?.approvers.some((configured) => configured.name === approver)) {
      return refused(403, "FORBIDDEN", `${approver} is no longer an approver in deletegate's config.`);
    }
    if (job.status === "awaiting_approval" && Date.parse(approval.expires_at) <= Date.now()) {
      if (!(await this.expire(job, commit, Date.now()))) return CHANGED;
      return refused(
        409,
        "NOT_AWAITING_APPROVAL",
        `Job ${jobId} expired unanswered at ${approval.expires_at}.`,
      );
    }
    if (job.status !== "awaiting_approval" || isTerminal(job)) {
      return refused(409, "NOT_AWAITING_APPROVAL", `Job ${jobId} is ${job.status}, not awaiting approval.`);
    }
    if (job.halted) {
      return refused(409, "NOT_AWAITING_APPROVAL", `Job ${jobId} cannot be approved: ${job.halted}.`);
    }
    return act(job, commit);
  }

  private async answer(job: JobRecord): Promise<Decision> {
    const view = await this.runner.view(job.id, { offset: 0, limit: 100 }, null);
    if (!view) return refused(404, "JOB_NOT_FOUND", `Job ${job.id} is missing from the store.`);
    return { ok: true, job: view };
  }

  /** An approval decision's audit line; a decision stands even if the line cannot be written (logged). */
  private record(
    job: JobRecord,
    event: ApprovalEvent,
    approver: string,
    comment: string | null,
    extra: Partial<AuditEntry>,
  ): void {
    this.safeRecord({
      ...jobFields(job),
      event,
      actor: approver,
      approver,
      comment,
      digest: job.approval?.digest,
      required: job.approval?.required,
      ...extra,
    });
  }

  private safeRecord(entry: AuditEntry): void {
    try {
      this.audit.record(entry);
    } catch (error) {
      this.logger.error(
        { err: error, job_id: entry.job_id, event: entry.event },
        "approval event not audited",
      );
    }
  }

  private notify(event: ApprovalEvent, job: JobRecord, what: string): void {
    this.webhooks.send(approvalNotice(event, job, this.runner.approvalUrl(job.id), what));
  }
}

/**
 * Which password an approval was given with: a digest of the approver's configured hash, so the job record holds
 * nothing a password could be guessed against. Equal while the operator keeps the approver's password.
 */
function credentialOf(passwordHash: string): string {
  return createHash("sha256").update(passwordHash).digest("base64url");
}
