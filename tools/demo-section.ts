// What `npm run demo` shows of one backend kind in a compact section; each kind's fixture writes its own section.
import type { AuditEntry } from "../src/audit/index.js";
import type { PlanView } from "../src/gate/gate.js";
import type { JobView } from "../src/jobs/view.js";
import type { RecordedRequest } from "./simulators/base.js";

/** The tools' structured results, as deletegate declares them. */
export type PlanResult = PlanView;
export type JobResult = JobView & { failed_ids: { id: string; error: string }[] };
/** One line of the audit log. */
export type AuditLine = AuditEntry & { time: string };

/** How a section writes to the transcript and stops the demo when something is not as it should be. */
export interface DemoPrint {
  heading(title: string): void;
  line(text: string, indent?: number): void;
  /** One checked fact, label and value in aligned columns. */
  fact(label: string, value: string, indent?: number): void;
  /** A fact one level in, under a section's sub-heading. */
  detail(label: string, value: string): void;
  /** Throws one error naming every problem found; `false` entries are checks that passed. */
  check(problems: (string | false)[]): void;
}

/** A realistic id list: ids that exist, ids that do not, repeats (some only after normalising) and invalid ones. */
export interface IdList {
  existing: string[];
  missing: string[];
  duplicates: string[];
  invalid: string[];
  /** How the list reads to a person, e.g. "1200 that exist, 4 that do not, …". */
  summary: string;
}

/** What a section shows and checks once its job is terminal. */
export interface SectionOutcome {
  plan: PlanResult;
  job: JobResult;
  /** This job's batch.completed / batch.failed audit lines, by batch index. */
  batchLines: AuditLine[];
  /** The requests the job sent, in the order the simulator received them. */
  requests: RecordedRequest[];
}

/** One backend kind's compact section: the data it uses and what is special about it. */
export interface DemoSection {
  title: string;
  target?: Record<string, unknown>;
  ids: IdList;
  reason: string;
  /** Substrings that pick the plan's notes worth showing (each must match a note). */
  noteKeys: string[];
  /** Keys of the demo's backend that differ from the printed config's (e.g. a faster pace). */
  config?: Record<string, unknown>;
  /** Lines about the config worth saying up front (e.g. a pace that differs from the default). */
  configLines?: string[];
  /** How the transcript names the header that carries the key, e.g. "X-API-Key". */
  authLabel: string;
  /** The sub-heading of the kind's special behaviour. */
  specialTitle: string;
  /** An explanation of one request beside its status, if it has one. */
  annotate?(request: RecordedRequest): string;
  /** Simulator set-up before the execute, said in the transcript. */
  prepare?(): string;
  /** Shows the kind's special behaviour concretely; throws when it is not as it should be. */
  showSpecial(outcome: SectionOutcome): void;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The list at `field` of a JSON body, as strings; empty when there is none. */
export function bodyList(body: unknown, field: string): string[] {
  const value =
    typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  return Array.isArray(value) ? value.map(String) : [];
}
