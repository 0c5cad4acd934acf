// The deletion gate: turns a dry run into a stored plan and a confirmed plan into exactly one job. Knows no MCP.
import { randomUUID } from "node:crypto";
import { approvalNotice, type Webhooks } from "../approval/webhooks.js";
import type { Audit } from "../audit/index.js";
import { loadHttpClientSoon } from "../backends/http.js";
import { kindOf } from "../backends/index.js";
import type { BackendKind, Target } from "../backends/types.js";
import { type BackendConfig, configuredMode } from "../config.js";
import { failpoint } from "../failpoint.js";
import type { Lanes } from "../jobs/lanes.js";
import { Runner } from "../jobs/runner.js";
import {
  type ApprovalRecord,
  type JobRecord,
  PLAN_GRACE_MS,
  type PlanRecord,
  type Store,
} from "../jobs/store.js";
import { ownedBy } from "../jobs/view.js";
import type { LiveConfig } from "../live-config.js";
import {
  type AskHuman,
  type ConfirmationMode,
  type HumanAnswer,
  type HumanPrompt,
  humanPrompt,
  issueToken,
  judgeHumanAnswer,
  resolveMode,
  tokenMatches,
  weakerThan,
} from "./confirmation.js";
import { GateError } from "./errors.js";
import { readIdFile } from "./id-file/index.js";
import {
  batchTexts,
  displayId,
  type InvalidId,
  type PlannedIds,
  planDigest,
  planIds,
  sampleIds,
} from "./plan.js";
import { checkDailyBudget, checkJobSize, checkReason, checkTarget, checkWritable } from "./policy.js";
import { checkStale, type PreviewRecord, type PreviewView, preview } from "./preview.js";
import { InputRequired, type RequestStates } from "./request-state.js";

const MAX_LISTED_INVALID = 100;
const SAMPLE_SIZE = 10;

/** Who is calling and what their client can do. */
export interface Caller {
  actor: string;
  /** Whose plans and jobs this caller may see and use: the HTTP token's name; null (everything) on stdio. */
  owner: string | null;
  /** Asks the person through the client; null when the client cannot. */
  askHuman: AskHuman;
  /** Aborted when the call is cancelled or times out: a person's answer then confirms nothing (SPEC §5). */
  signal?: AbortSignal;
  /** Asks the client to open a link (URL-mode elicitation), not awaited; missing when the client cannot. */
  openUrl?: (url: string, message: string) => void;
  /**
   * A 2026-07-28 client that declares form elicitation in this request: the person is asked by answering
   * input_required (InputRequired), and their answer comes back with the sealed state in the retried call.
   */
  inputRound?: InputRound;
}

/** What a retried call brought back: the sealed state deletegate gave out, and the person's answer to the form. */
export interface InputRound {
  requestState?: unknown;
  answer?: HumanAnswer;
}

/** Who a sealed state belongs to: the actor and, over HTTP, the token that owns the plan. */
function callerKey(caller: Caller): string {
  return JSON.stringify([caller.actor, caller.owner]);
}

/** Whether the person can be asked through this client at all, by a form request or by input_required. */
function canAskHuman(caller: Caller): boolean {
  return caller.askHuman !== null || caller.inputRound !== undefined;
}

export interface DryRunRequest {
  backend: string;
  target?: unknown;
  /** Exactly one of `ids` and `ids_file` (SPEC §4). */
  ids?: readonly (string | number)[];
  ids_file?: string;
  reason?: unknown;
  preview?: boolean;
}

export interface PlanView {
  plan_id: string;
  backend: string;
  kind: string;
  target: Target | null;
  reason: string;
  counts: PlanRecord["counts"];
  invalid_ids: InvalidId[];
  batches: { count: number; size: number };
  sample_ids: string[];
  preview?: PreviewView;
  ids_file?: string;
  ids_file_sha256?: string;
  notes: string[];
  confirmation: { mode: ConfirmationMode; token?: string; expires_at: string };
  next_step: string;
}

export interface BackendSummary {
  name: string;
  kind: string;
  description: string;
  target_fields: string[];
  max_batch_size: number;
  read_only: boolean;
  allow_targets: string[] | null;
  max_items_per_job: number;
  confirmation_mode: ConfirmationMode;
}

/** The file a plan's ids came from, as the result and its audit lines name it (SPEC §4). */
function fileFields(plan: PlanRecord): { ids_file?: string; ids_file_sha256?: string } {
  return plan.ids_file ? { ids_file: plan.ids_file.path, ids_file_sha256: plan.ids_file.sha256 } : {};
}

/** A preview's counts for an audit line: no summaries (backend data stays out of the audit log). */
function previewCounts({ view }: PreviewRecord) {
  const { sample: _sample, ...counts } = view;
  return counts;
}

/** The fields of an audit line about a plan's job. */
function planFields(plan: PlanRecord, jobId: string, actor: string) {
  return {
    plan_id: plan.id,
    job_id: jobId,
    backend: plan.backend,
    target: plan.target,
    actor,
    reason: plan.reason,
    ...fileFields(plan),
  };
}

function humanUnavailable(): GateError {
  return new GateError(
    "HUMAN_CONFIRMATION_UNAVAILABLE",
    "This backend needs a person to confirm through MCP form elicitation, and this client does not support it. Use a client that shows forms, or ask the operator for another confirmation mode.",
  );
}

function checkNotExpired(plan: PlanRecord): void {
  if (Date.parse(plan.confirmation.expires_at) <= Date.now()) {
    throw new GateError(
      "PLAN_EXPIRED",
      `Plan ${plan.id} expired at ${plan.confirmation.expires_at}; run dry_run_delete again.`,
    );
  }
}

function checkCallSize(maxIdsPerCall: number, received: number): void {
  if (received > maxIdsPerCall) {
    throw new GateError(
      "TOO_MANY_IDS",
      `${received} ids in one call; at most ${maxIdsPerCall} are allowed. Split them into several dry runs.`,
    );
  }
}

/** A confirmation counts only while the call that asked for it is alive (SPEC §5). */
function checkCallAlive(caller: Caller): void {
  if (caller.signal?.aborted) {
    throw new GateError(
      "CONFIRMATION_DECLINED",
      "The execute_delete call was cancelled or timed out before it was confirmed; nothing was sent.",
    );
  }
}

export class DeletionGate {
  constructor(
    private readonly live: LiveConfig,
    private readonly store: Store,
    private readonly runner: Runner,
    private readonly audit: Audit,
    private readonly webhooks: Webhooks,
    /** The backends' lanes, shared with the runner: previews and stale checks are paced with the deletes. */
    private readonly lanes: Lanes,
    /** Seals and opens the requestState of 2026-07-28 confirmations. */
    private readonly states: RequestStates,
  ) {}

  /** The mode this caller gets on this backend under the config in force now. */
  private modeFor(backend: BackendConfig, caller: Caller): ConfirmationMode {
    return resolveMode(configuredMode(this.live.current, backend), canAskHuman(caller));
  }

  listBackends(caller: Caller): BackendSummary[] {
    return Object.values(this.live.current.backends).map((backend) => {
      const kind = kindOf(backend);
      const mode = this.modeFor(backend, caller);
      return {
        name: backend.name,
        kind: kind.kind,
        description: kind.description,
        target_fields: kind.targetFields,
        max_batch_size: backend.batchSize,
        read_only: backend.readOnly,
        allow_targets: backend.allowTargets,
        max_items_per_job: backend.maxItemsPerJob,
        confirmation_mode: mode,
      };
    });
  }

  private backend(name: string): BackendConfig {
    const backend = this.live.backend(name);
    if (!backend) {
      const known = Object.keys(this.live.current.backends).join(", ");
      throw new GateError(
        "UNKNOWN_BACKEND",
        `No backend named "${displayId(name)}"; configured backends: ${known}.`,
      );
    }
    return backend;
  }

  async dryRun(request: DryRunRequest, caller: Caller): Promise<PlanView> {
    const config = this.live.current;
    const backend = this.backend(request.backend);
    const kind = kindOf(backend);
    checkWritable(backend);
    const target = checkTarget(kind, backend, request.target);
    const reason = checkReason(backend, request.reason);
    const mode = this.modeFor(backend, caller);
    // Told now, with no plan stored, rather than after the agent has shown the person a plan nobody can confirm.
    if (mode === "human" && !canAskHuman(caller)) throw humanUnavailable();
    const { planned, file } = await this.plannedIds(request, kind);
    if (planned.toDelete.length === 0) {
      const why = planned.invalid
        .slice(0, 3)
        .map((item) => `"${displayId(item.id)}": ${item.error}`)
        .join("; ");
      throw new GateError(
        "NO_VALID_IDS",
        `No valid id to delete${why ? ` (${why})` : ""}. ${kind.kind} ids: see list_backends.`,
      );
    }
    checkJobSize(backend, planned.toDelete.length);
    checkDailyBudget(backend, await this.store.dailyUsage(backend.name, Date.now()), planned.toDelete.length);

    const batches = batchTexts(planned.toDelete, backend.batchSize);
    const digest = planDigest({ backend: backend.name, target, batches, reason });
    const issued = mode === "token" ? issueToken(digest) : null;
    const expiresAt = new Date(Date.now() + config.confirmation.ttlSeconds * 1000).toISOString();
    const previewed = request.preview
      ? await preview(this.lanes.get(backend.name), {
          target,
          reason,
          ids: planned.toDelete,
          maxChecked: backend.preview.maxChecked,
        })
      : null;
    const plan: PlanRecord = {
      id: `plan_${randomUUID()}`,
      backend: backend.name,
      kind: kind.kind,
      target,
      reason,
      digest,
      counts: planned.counts,
      invalid_ids: planned.invalid
        .slice(0, MAX_LISTED_INVALID)
        .map((item) => ({ ...item, id: displayId(item.id) })),
      batch_count: batches.length,
      batch_size: backend.batchSize,
      sample_ids: sampleIds(planned.toDelete, SAMPLE_SIZE).map(displayId),
      notes: kind.notes,
      confirmation: { mode, token_hash: issued?.hash ?? null, expires_at: expiresAt },
      created_by: caller.actor,
      owner: caller.owner,
      created_at: new Date().toISOString(),
      job_id: null,
      ids_file: file,
      preview: previewed,
    };
    // Kept until a while after its expiry unless executed, so dry runs alone cannot fill the store.
    const keepMs = Date.parse(expiresAt) + PLAN_GRACE_MS - Date.now();
    await this.store.putPlanBatches(plan.id, batches, keepMs);
    failpoint("dry-run.after-batches");
    await this.store.putPlan(plan, keepMs);
    this.audit.record({
      event: "plan.created",
      plan_id: plan.id,
      backend: plan.backend,
      target,
      actor: caller.actor,
      reason,
      counts: { ...plan.counts, batches: plan.batch_count },
      ...fileFields(plan),
      ...(previewed ? { preview: previewCounts(previewed) } : {}),
    });
    // A delete may follow: the HTTP client loads while the person reads the plan, not when the job starts.
    loadHttpClientSoon();
    const nextStep = {
      token: `Show the person what will be deleted, then call execute_delete with plan_id "${plan.id}" and the confirmation token before ${expiresAt}.`,
      human: `Call execute_delete with plan_id "${plan.id}" before ${expiresAt}; the person will be asked to confirm by typing ${plan.counts.to_delete}.`,
      approval: `Call execute_delete with plan_id "${plan.id}" before ${expiresAt}; it returns a job awaiting approval, with a link for the person to approve it in deletegate's console.`,
    }[mode];
    return {
      plan_id: plan.id,
      backend: plan.backend,
      kind: plan.kind,
      target,
      reason,
      counts: plan.counts,
      invalid_ids: plan.invalid_ids,
      batches: { count: plan.batch_count, size: plan.batch_size },
      sample_ids: plan.sample_ids,
      ...(previewed ? { preview: previewed.view } : {}),
      ...fileFields(plan),
      notes: plan.notes,
      confirmation: { mode, ...(issued ? { token: issued.token } : {}), expires_at: expiresAt },
      next_step: nextStep,
    };
  }

  /** Confirms and starts the plan's job, or returns the job it already has. Returns the job id. */
  async execute(request: { plan_id: string; confirmation_token?: string }, caller: Caller): Promise<string> {
    const found = await this.store.getPlan(request.plan_id);
    // Another token's plan is answered exactly like a missing one.
    const plan = found && ownedBy(found, caller.owner) ? found : undefined;
    if (!plan) {
      throw new GateError(
        "PLAN_NOT_FOUND",
        `No plan "${displayId(request.plan_id)}"; run dry_run_delete first.`,
      );
    }
    try {
      return await this.executePlan(plan, request.confirmation_token, caller);
    } catch (error) {
      // The refusal's audit line names the plan's backend, target and reason, not just its id.
      if (error instanceof GateError) {
        error.context = { plan_id: plan.id, backend: plan.backend, target: plan.target, reason: plan.reason };
      }
      throw error;
    }
  }

  private async executePlan(plan: PlanRecord, token: string | undefined, caller: Caller): Promise<string> {
    // Executed already: its job (stored before the claim that named it) is started here unless it runs elsewhere.
    if (plan.job_id) return this.startJob(plan.job_id);
    // The policy in force now, not the one the plan was made under (SPEC §4): the operator may have tightened it.
    const count = plan.counts.to_delete;
    const asked = this.checkStillAllowed(plan, caller);
    checkDailyBudget(asked, await this.store.dailyUsage(asked.name, Date.now()), count);
    // In approval mode the consent comes later, from the console; the job waits for it.
    const approval = plan.confirmation.mode === "approval" ? this.approvalFor(plan) : null;
    if (!approval) {
      await this.confirm(plan, token, caller);
      // What the person confirmed must still be what is there (SPEC §6 PLAN_STALE), read before the last look.
      await this.checkNotStale(plan, asked);
    }
    failpoint("execute.after-confirm");

    // A person may answer after the plan expired or the policy changed, or after the call itself was given up: the
    // last look, after the last read, so that only the writes below stand between it and the claim.
    const used = await this.store.dailyUsage(plan.backend, Date.now());
    const current = this.checkStillAllowed(plan, caller);
    // An early answer without writing anything; the claim below decides atomically.
    checkDailyBudget(current, used, count);
    // The job reads its ids from the plan: they are kept for good before the plan can be claimed.
    await this.store.keepPlanBatches(plan.id, plan.batch_count);
    // The job is stored before the claim, so a claimed plan always has its job, whatever instance crashes when.
    const jobId = Runner.newJobId();
    const job = await this.runner.createJob(plan, jobId, caller.actor, approval);
    failpoint("execute.after-job");
    const claim = await this.store.claimExecution({
      planId: plan.id,
      jobId,
      backend: current.name,
      count,
      dailyLimit: current.maxItemsPerDay,
      now: Date.now(),
    });
    if (claim.outcome === "taken") {
      await this.store.deleteJob(jobId, plan.batch_count);
      return this.startJob(claim.jobId);
    }
    if (claim.outcome !== "claimed") {
      await this.store.deleteJob(jobId, plan.batch_count);
      // Not executed after all: its ids go when the plan does.
      const keepMs = Date.parse(plan.confirmation.expires_at) + PLAN_GRACE_MS - Date.now();
      await this.store.keepPlanBatches(plan.id, plan.batch_count, Math.max(1, keepMs));
      checkDailyBudget(current, claim.used, count);
      throw new Error(`daily budget of ${current.name}: the claim and the policy disagree`);
    }
    failpoint("execute.after-claim");
    plan.job_id = jobId;
    await this.store.putPlan(plan);
    if (approval) {
      await this.announceApproval(plan, job, caller, approval);
      return jobId;
    }
    try {
      this.audit.record({
        event: "delete.confirmed",
        ...planFields(plan, jobId, caller.actor),
        counts: { to_delete: count, batches: plan.batch_count },
      });
    } catch (error) {
      // No delete without its confirmation on record: the job ends failed before anything is sent (SPEC §7).
      await this.runner.haltForAudit(jobId, error as Error);
    }
    return this.startJob(jobId);
  }

  /**
   * The dry run's ids, normalised, deduped and checked; read here so the raw list (a million ids from a file) is
   * garbage before the plan is batched and stored.
   */
  private async plannedIds(
    request: DryRunRequest,
    kind: BackendKind,
  ): Promise<{ planned: PlannedIds; file: PlanRecord["ids_file"] }> {
    const { ids, file } = await this.idsOf(request);
    return { planned: planIds(ids, kind.validateId, kind.normalizeId), file };
  }

  /** The ids of a dry run: from the call, or read from `ids_file` under the roots the config allows now. */
  private async idsOf(
    request: DryRunRequest,
  ): Promise<{ ids: readonly (string | number)[]; file: PlanRecord["ids_file"] }> {
    const limits = this.live.current.limits;
    if ((request.ids === undefined) === (request.ids_file === undefined)) {
      throw new GateError(
        "INVALID_INPUT",
        "Give exactly one of ids (a list) and ids_file (the absolute path of a file of ids on the server's machine).",
      );
    }
    if (request.ids !== undefined) {
      checkCallSize(limits.maxIdsPerCall, request.ids.length);
      return { ids: request.ids, file: null };
    }
    const read = await readIdFile(request.ids_file as string, limits.idFileRoots, limits.maxIdsPerFile);
    return { ids: read.ids, file: { path: read.path, sha256: read.sha256 } };
  }

  /** Refuses a previewed plan whose found items changed at the backend since the dry run, beyond staleShare. */
  /** Throws PLAN_STALE when what the preview found changed; true when it read the backend to know. */
  private async checkNotStale(plan: PlanRecord, backend: BackendConfig): Promise<boolean> {
    if (!plan.preview || plan.preview.found.length === 0) return false;
    await checkStale(
      this.lanes.get(backend.name),
      { id: plan.id, target: plan.target, reason: plan.reason, found: plan.preview.found },
      backend.preview.staleShare,
    );
    return true;
  }

  /** The approval a job of this plan waits for: the number of approvers and the expiry of the config now. */
  private approvalFor(plan: PlanRecord): ApprovalRecord {
    const config = this.live.current.approval;
    if (!config) {
      throw new GateError(
        "CONFIRMATION_REQUIRED",
        `Plan ${plan.id} needs approval, and no approvers are configured now; run dry_run_delete again.`,
      );
    }
    return {
      required: config.required,
      approvals: [],
      rejected: null,
      expires_at: new Date(Date.now() + config.ttlSeconds * 1000).toISOString(),
      digest: plan.digest,
    };
  }

  /** The job waits for approvers: audited, sent to webhooks, and offered to the client to open as a link. */
  private async announceApproval(
    plan: PlanRecord,
    job: JobRecord,
    caller: Caller,
    approval: ApprovalRecord,
  ): Promise<void> {
    const jobId = job.id;
    const url = this.runner.approvalUrl(jobId);
    try {
      this.audit.record({
        event: "approval.requested",
        ...planFields(plan, jobId, caller.actor),
        digest: plan.digest,
        required: approval.required,
        counts: { to_delete: plan.counts.to_delete, batches: plan.batch_count },
      });
    } catch (error) {
      // Not on record, so never to be approved: the console refuses it, and it expires.
      await this.runner.haltForAudit(jobId, error as Error);
      return;
    }
    this.webhooks.send(approvalNotice("approval.requested", job, url, "approval requested"));
    caller.openUrl?.(url, `Approve or reject deleting ${plan.counts.to_delete} item(s) on ${plan.backend}`);
  }

  /**
   * The policy in force now for a job's plan, at each approval (SPEC §3), and at the last one the stale check: a
   * refusal is thrown as the GateError of the check that failed. The approval mode is the strongest, so it never
   * counts as weaker.
   */
  async checkApprovedPlan(
    job: { id: string; plan_id: string },
    approver: string,
    last: boolean,
  ): Promise<void> {
    const plan = await this.store.getPlan(job.plan_id);
    if (!plan)
      throw new GateError("PLAN_NOT_FOUND", `The plan of this job (${job.plan_id}) is no longer stored.`);
    const caller: Caller = { actor: approver, owner: null, askHuman: null };
    await this.checkApprovedNow(plan, job.id, caller);
    if (!last) return;
    // The last approval lets the job run: what the approvers saw must still be what is there (PLAN_STALE). The read
    // may take seconds, and the operator may tighten the config meanwhile: the last look comes after it.
    if (await this.checkNotStale(plan, this.backend(plan.backend)))
      await this.checkApprovedNow(plan, job.id, caller);
  }

  /**
   * The policy in force now for a plan whose job awaits approval, the daily limit included: the job's deletes count
   * as if they ran now, whenever the job was requested (its own claim left out, so it does not count twice).
   */
  private async checkApprovedNow(plan: PlanRecord, jobId: string, caller: Caller): Promise<void> {
    const used = await this.store.dailyUsage(plan.backend, Date.now(), { planId: plan.id, jobId });
    const backend = this.backend(plan.backend);
    this.checkPolicyNow(plan, backend, caller);
    checkDailyBudget(backend, used, plan.counts.to_delete);
  }

  /** Expiry, the policy in force now and a living call: what a confirmed plan still needs; returns its backend. */
  private checkStillAllowed(plan: PlanRecord, caller: Caller): BackendConfig {
    checkNotExpired(plan);
    const backend = this.backend(plan.backend);
    this.checkPolicyNow(plan, backend, caller);
    checkCallAlive(caller);
    return backend;
  }

  /**
   * The policy of the config in force now, for a stored plan: read-only, target, reason, sizes, and whether the
   * plan's confirmation mode is still strong enough for the backend's mode now.
   */
  private checkPolicyNow(plan: PlanRecord, backend: BackendConfig, caller: Caller): void {
    const kind = kindOf(backend);
    checkWritable(backend);
    checkTarget(kind, backend, plan.target ?? undefined);
    checkReason(backend, plan.reason);
    const limits = this.live.current.limits;
    checkCallSize(plan.ids_file ? limits.maxIdsPerFile : limits.maxIdsPerCall, plan.counts.received);
    checkJobSize(backend, plan.counts.to_delete);
    const required = this.modeFor(backend, caller);
    if (weakerThan(plan.confirmation.mode, required)) {
      throw new GateError(
        "CONFIRMATION_REQUIRED",
        `Plan ${plan.id} was made for ${plan.confirmation.mode} confirmation, and backend ${backend.name} now needs ${required} confirmation; run dry_run_delete again.`,
      );
    }
  }

  private async confirm(plan: PlanRecord, token: string | undefined, caller: Caller): Promise<void> {
    if (plan.confirmation.mode === "token") {
      if (!token) {
        throw new GateError(
          "CONFIRMATION_REQUIRED",
          `Plan ${plan.id} needs the confirmation_token that dry_run_delete returned.`,
        );
      }
      if (!plan.confirmation.token_hash || !tokenMatches(token, plan.digest, plan.confirmation.token_hash)) {
        throw new GateError(
          "CONFIRMATION_INVALID",
          `That confirmation token does not belong to plan ${plan.id}.`,
        );
      }
      return;
    }
    if (!canAskHuman(caller)) throw humanUnavailable();
    const prompt = humanPrompt({
      backend: plan.backend,
      target: plan.target,
      count: plan.counts.to_delete,
      sampleIds: plan.sample_ids,
      notes: plan.notes,
      reason: plan.reason,
      preview: plan.preview?.view ?? null,
      idsFile: plan.ids_file,
    });
    if (caller.inputRound) {
      await this.confirmByInputRound(plan, prompt, caller, caller.inputRound);
      return;
    }
    const answer = await (caller.askHuman as NonNullable<AskHuman>)(prompt);
    checkCallAlive(caller);
    judgeHumanAnswer(prompt, answer);
  }

  /**
   * MCP 2026-07-28: the first call answers input_required with the form and a sealed state bound to this plan, its
   * digest and the caller; the retried call counts only with that state, once, and the person's exact number.
   */
  private async confirmByInputRound(
    plan: PlanRecord,
    prompt: HumanPrompt,
    caller: Caller,
    round: InputRound,
  ): Promise<void> {
    const binding = { planId: plan.id, digest: plan.digest, caller: callerKey(caller) };
    if (round.requestState === undefined) throw new InputRequired(prompt, await this.states.seal(binding));
    await this.states.open(round.requestState, binding);
    checkCallAlive(caller);
    judgeHumanAnswer(prompt, round.answer ?? { action: "cancel" });
  }

  private async startJob(jobId: string): Promise<string> {
    await this.runner.start(jobId);
    return jobId;
  }
}
