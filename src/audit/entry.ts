// What an audit line says (SPEC §8): the events, the fields an entry carries, and the writer's interface.

export type AuditEventName =
  | "plan.created"
  | "plan.refused"
  | "delete.confirmed"
  | "delete.refused"
  | "job.started"
  | "batch.sending"
  | "batch.completed"
  | "batch.failed"
  | "job.finished"
  | "job.cancelled"
  | "approval.requested"
  | "approval.granted"
  | "approval.rejected"
  | "approval.expired"
  | "config.reloaded";

export interface AuditEntry {
  event: AuditEventName;
  plan_id?: string | null;
  job_id?: string | null;
  backend?: string | null;
  target?: unknown;
  actor?: string;
  reason?: string | null;
  counts?: Record<string, number>;
  code?: string;
  error?: string;
  status?: string;
  batch?: number;
  ids?: string[];
  http_status?: number | null;
  backend_ref?: string | null;
  attempts?: number;
  /** Approval events: who decided, what they said, and the plan digest they consented to. */
  approver?: string;
  comment?: string | null;
  digest?: string;
  approvals?: number;
  required?: number;
  /** config.reloaded: the key paths applied at once, and those that wait for a restart. */
  applied?: string[];
  restart_needed?: string[];
}

export interface Audit {
  record(entry: AuditEntry): void;
  close(): void;
}
