// The console's server-rendered pages: plain HTML that works without JavaScript, every field labelled, every
// action a named button or link, and everything shown escaped (agent text is data, never markup). One stylesheet
// and one script, both served from /console/assets/ (the CSP allows no inline script or style).
import type { AuditVerdict } from "../audit/index.js";
import { previewLines } from "../gate/confirmation.js";
import type { PreviewView } from "../gate/preview.js";
import type { JobView } from "../jobs/view.js";

/** Text as HTML text or attribute value: nothing in it can open a tag, an attribute or an entity. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The signed-in approver of a page: their name in the nav, their CSRF token in its forms. */
export interface ConsoleUser {
  approver: string;
  csrf: string;
}

type Section = "approvals" | "jobs" | "audit";

interface LayoutOptions {
  user?: ConsoleUser;
  section?: Section;
  /** Loads the live-progress script. */
  live?: boolean;
}

const NAV: { section: Section; href: string; label: string }[] = [
  { section: "approvals", href: "/console/", label: "Pending approvals" },
  { section: "jobs", href: "/console/jobs", label: "Jobs" },
  { section: "audit", href: "/console/audit", label: "Audit log" },
];

function nav(user: ConsoleUser, section: Section | undefined): string {
  const links = NAV.map(
    (item) =>
      `<li><a href="${item.href}"${item.section === section ? ' aria-current="page"' : ""}>${item.label}</a></li>`,
  ).join("");
  return `<nav aria-label="Console"><ul>${links}</ul></nav>
<div class="who"><span>Signed in as <strong>${escapeHtml(user.approver)}</strong></span>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${escapeHtml(user.csrf)}"><button type="submit">Sign out</button></form></div>`;
}

/**
 * Who asked, as deletegate knows them: the HTTP token's name, or, without tokens, the name the client gave itself.
 * Shown quoted as data, so a name like "security team (pre-approved)" cannot read as deletegate's words.
 */
function requester(name: string): string {
  return `<code>${escapeHtml(JSON.stringify(name))}</code>`;
}

function layout(title: string, body: string, options: LayoutOptions = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · deletegate console</title>
<link rel="stylesheet" href="/console/assets/console.css">
${options.live ? '<script src="/console/assets/console.js" defer></script>\n' : ""}</head>
<body>
<a class="visually-hidden skip" href="#main">Skip to the content</a>
<header class="site"><p class="brand"><strong>deletegate</strong> approval console</p>
${options.user ? nav(options.user, options.section) : ""}</header>
<main id="main">
${body}
</main>
</body>
</html>
`;
}

function messageBlock(message: string | undefined, error = false): string {
  return message ? `<p role="alert" class="message${error ? " error" : ""}">${escapeHtml(message)}</p>` : "";
}

/** An ISO time as a readable UTC time, machine-readable in `datetime`. */
function when(iso: string | null | undefined, none = "not yet"): string {
  if (!iso) return escapeHtml(none);
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(readableTime(iso))}</time>`;
}

function readableTime(iso: string): string {
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC");
}

function statusLabel(status: string): string {
  return status.replaceAll("_", " ");
}

/** A job's status; `data-field` lets the live script update it. */
function statusBadge(status: string): string {
  const safe = escapeHtml(status);
  return `<span class="status status-${safe}" data-field="status" data-status="${safe}">${escapeHtml(statusLabel(status))}</span>`;
}

/** A link to a job's page; `short` shows the id's first 12 characters (the link's name stays the whole id). */
function jobLink(jobId: string, short = false): string {
  const href = `/console/jobs/${encodeURIComponent(jobId)}`;
  if (!short || jobId.length <= 14) return `<a href="${href}"><code>${escapeHtml(jobId)}</code></a>`;
  return `<a href="${href}" title="${escapeHtml(jobId)}"><code class="short-id">${escapeHtml(jobId.slice(0, 12))}<span aria-hidden="true">…</span><span class="visually-hidden">${escapeHtml(jobId.slice(12))}</span></code></a>`;
}

function targetText(job: JobView): string {
  return job.target === null ? "none" : `<code>${escapeHtml(JSON.stringify(job.target))}</code>`;
}

/** The reason, shown as the requester's words: quoted, preformatted, and attributed. */
function reasonBlock(job: JobView): string {
  return `<h2>The requester's reason, in their own words</h2>
<figure class="said">
<blockquote><pre>${escapeHtml(job.reason)}</pre></blockquote>
<figcaption class="said-by">Written by the requester, ${requester(job.requested_by)}: deletegate did not write it and cannot check it.</figcaption>
</figure>`;
}

/** The sign-in form; `next` is the console page to return to. */
export function signInPage(next: string | null, message?: string): string {
  return layout(
    "Sign in",
    `<h1>Sign in as an approver</h1>
${messageBlock(message, true)}
<form method="post" action="/console/login">
<p><label for="name">Approver name</label><br><input id="name" name="name" autocomplete="username" required></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
${next ? `<input type="hidden" name="next" value="${escapeHtml(next)}">` : ""}
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

/** A page that is not there (or a job that is not), with the nav to go on. */
export function notFoundPage(message: string, user: ConsoleUser): string {
  return layout("Not found", `<h1>Not found</h1>\n${messageBlock(message, true)}`, { user });
}

/** The page after a refused form (an expired CSRF token): what happened and where to go. */
export function refusedPage(message: string, user: ConsoleUser | undefined): string {
  return layout("Refused", `<h1>Refused</h1>\n${messageBlock(message, true)}`, user ? { user } : {});
}

/** The jobs awaiting approval, newest first, each with a link to its approval page. */
export function pendingPage(jobs: JobView[], user: ConsoleUser): string {
  const rows = jobs
    .map(
      (job) => `<tr>
<td>${jobLink(job.job_id, true)}</td>
<td>${escapeHtml(job.backend)}</td>
<td class="num">${job.counts.total}</td>
<td>${requester(job.requested_by)}</td>
<td>${when(job.created_at)}</td>
<td>${when(job.approval?.expires_at)}</td>
<td><a href="/console/approvals/${encodeURIComponent(job.job_id)}">Review<span class="visually-hidden"> the delete of ${job.counts.total} item(s) from ${escapeHtml(job.backend)}, job ${escapeHtml(job.job_id)}</span></a></td>
</tr>`,
    )
    .join("\n");
  const table = jobs.length
    ? `<table>
<caption class="visually-hidden">Jobs awaiting approval, newest first</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Backend</th><th scope="col" class="num">Items</th><th scope="col">Requested by</th><th scope="col">Requested at</th><th scope="col">Decide before</th><th scope="col">Decision</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : "<p>Nothing awaits approval.</p>";
  return layout(
    "Pending approvals",
    `<h1>Pending approvals</h1>
<p>${jobs.length} delete job(s) await a decision. Open one to see everything it would delete, then approve or reject it.</p>
${table}`,
    { user, section: "approvals" },
  );
}

/** How far a job got, as a progress bar the live script updates (its text says the same without it). */
function progressBar(job: JobView): string {
  const done = job.counts.deleted + job.counts.not_found + job.counts.failed;
  return `<progress data-field="progress" max="${Math.max(1, job.counts.total)}" value="${done}" aria-label="Progress of job ${escapeHtml(job.job_id)}">${done} of ${job.counts.total}</progress>`;
}

const LIVE_NOTE = `<noscript><p>JavaScript is off: this page shows the state when it loaded. Reload it to see progress.</p></noscript>
<p class="live"><span id="live-updated">Shown as it was when the page loaded.</span></p>
<p class="live" id="live-status" role="status" aria-live="polite"></p>`;

/** The newest jobs with their progress; the live script refreshes the figures every 2 s. */
export function jobsPage(jobs: JobView[], user: ConsoleUser): string {
  const rows = jobs
    .map(
      (job) => `<tr data-job-id="${escapeHtml(job.job_id)}">
<td>${jobLink(job.job_id, true)}</td>
<td>${escapeHtml(job.backend)}</td>
<td>${statusBadge(job.status)}</td>
<td class="nowrap">${progressBar(job)} <span data-field="done">${job.counts.deleted + job.counts.not_found + job.counts.failed}</span> of <span data-field="total">${job.counts.total}</span></td>
<td class="num" data-field="deleted">${job.counts.deleted}</td>
<td class="num" data-field="not_found">${job.counts.not_found}</td>
<td class="num" data-field="failed">${job.counts.failed}</td>
<td>${requester(job.requested_by)}</td>
<td>${when(job.created_at)}</td>
</tr>`,
    )
    .join("\n");
  const table = jobs.length
    ? `<table>
<caption class="visually-hidden">The newest ${jobs.length} jobs, newest first</caption>
<thead><tr><th scope="col">Job</th><th scope="col">Backend</th><th scope="col">Status</th><th scope="col">Progress (items done)</th><th scope="col" class="num">Deleted</th><th scope="col" class="num">Not found</th><th scope="col" class="num">Failed</th><th scope="col">Requested by</th><th scope="col">Created</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : "<p>No jobs yet.</p>";
  return layout(
    "Jobs",
    `<h1>Jobs</h1>
<p>The newest ${jobs.length} delete job(s), newest first. Open a job for its batches and failed ids.</p>
<section data-live-url="/console/api/jobs" aria-label="Jobs">
${LIVE_NOTE}
<p id="live-more" hidden>Jobs have been added since this page loaded: <a href="/console/jobs">reload the list</a> to see them.</p>
${table}
</section>`,
    { user, section: "jobs", live: true },
  );
}

function row(label: string, value: string): string {
  return `<tr><th scope="row">${escapeHtml(label)}</th><td>${value}</td></tr>`;
}

function approvalSummary(job: JobView): string {
  const approval = job.approval;
  if (!approval) return "";
  const given = approval.approvals.length
    ? approval.approvals.map((item) => `${escapeHtml(item.approver)} at ${when(item.at)}`).join("; ")
    : "none";
  const rejected = approval.rejected
    ? row(
        "Rejected",
        `by ${escapeHtml(approval.rejected.approver)} at ${when(approval.rejected.at)}, saying: <q>${escapeHtml(approval.rejected.comment)}</q>`,
      )
    : "";
  const review =
    job.status === "awaiting_approval"
      ? row(
          "Decision",
          `<a href="/console/approvals/${encodeURIComponent(job.job_id)}">Review this approval</a>`,
        )
      : "";
  return `${row("Approvals", `${given} (${approval.required} needed)`)}
${rejected}
${review}`;
}

export interface FailedPage {
  offset: number;
  limit: number;
}

/** One job: its facts, its counts and batches (live), and one page of its failed ids. */
export function jobPage(job: JobView, page: FailedPage, user: ConsoleUser): string {
  const id = encodeURIComponent(job.job_id);
  const failed = job.failed_ids ?? [];
  const total = job.counts.failed;
  const pageLink = (offset: number, text: string) =>
    `<a href="/console/jobs/${id}?offset=${offset}&amp;limit=${page.limit}">${text}</a>`;
  const pager = [
    page.offset > 0 ? pageLink(Math.max(0, page.offset - page.limit), "Previous failed ids") : "",
    page.offset + failed.length < total ? pageLink(page.offset + page.limit, "Next failed ids") : "",
  ]
    .filter(Boolean)
    .join(" · ");
  const failedSection = failed.length
    ? `<p>Failed ids ${page.offset + 1} to ${page.offset + failed.length} of ${total}:</p>
<table>
<caption class="visually-hidden">Failed ids with the backend's error</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Error</th></tr></thead>
<tbody>
${failed.map((item) => `<tr><td><code>${escapeHtml(JSON.stringify(item.id))}</code></td><td>${escapeHtml(item.error)}</td></tr>`).join("\n")}
</tbody>
</table>
${pager ? `<p>${pager}</p>` : ""}`
    : total > 0
      ? `<p>No failed ids on this page (${total} in all). ${pageLink(0, "First failed ids")}</p>`
      : "<p>No id has failed.</p>";
  // Always there (hidden while empty), so the live script can fill it in.
  const backendJobs = `<div data-hide-empty${job.backend_jobs.length ? "" : " hidden"}>
<h2>Backend jobs</h2>
<ul data-list="backend_jobs">${job.backend_jobs.map((item) => `<li><code>${escapeHtml(item.id)}</code>: ${escapeHtml(item.status)}</li>`).join("")}</ul>
</div>`;
  const notes = job.notes.length
    ? `<h2>Notes from deletegate</h2><ul>${job.notes.map((note) => `<li>${escapeHtml(note)}</li>`).join("")}</ul>`
    : "";
  const done = job.counts.deleted + job.counts.not_found + job.counts.failed;
  return layout(
    `Job ${job.job_id}`,
    `<section data-live-url="/console/api/jobs/${id}" data-job-id="${escapeHtml(job.job_id)}" aria-labelledby="job-title">
<h1 id="job-title">Job <code>${escapeHtml(job.job_id)}</code></h1>
<p>Status: ${statusBadge(job.status)}</p>
${LIVE_NOTE}
<table>
${row("Backend", `${escapeHtml(job.backend)} (${escapeHtml(job.kind)})`)}
${row("Target (as the agent gave it)", targetText(job))}
${row("Requested by", requester(job.requested_by))}
${row("Created", when(job.created_at))}
${row("Started", `<span data-field="started_at">${when(job.started_at)}</span>`)}
${row("Finished", `<span data-field="finished_at">${when(job.finished_at)}</span>`)}
${approvalSummary(job)}
</table>
<h2>Progress</h2>
<p class="job-progress">${progressBar(job)} <span data-field="done">${done}</span> of <span data-field="total">${job.counts.total}</span> item(s) done</p>
<table>
<caption class="visually-hidden">Items and batches</caption>
<thead><tr><th scope="col">Items</th><th scope="col" class="num">Count</th><th scope="col">Batches</th><th scope="col" class="num">Count</th></tr></thead>
<tbody>
<tr><th scope="row">Total</th><td class="num" data-field="total">${job.counts.total}</td><th scope="row">Total</th><td class="num" data-field="batches_total">${job.batches.total}</td></tr>
<tr><th scope="row">Deleted</th><td class="num" data-field="deleted">${job.counts.deleted}</td><th scope="row">Done</th><td class="num" data-field="batches_done">${job.batches.done}</td></tr>
<tr><th scope="row">Not found</th><td class="num" data-field="not_found">${job.counts.not_found}</td><th scope="row">In flight</th><td class="num" data-field="batches_in_flight">${job.batches.in_flight}</td></tr>
<tr><th scope="row">Failed</th><td class="num" data-field="failed">${job.counts.failed}</td><th scope="row">Failed</th><td class="num" data-field="batches_failed">${job.batches.failed}</td></tr>
<tr><th scope="row">Pending</th><td class="num" data-field="pending">${job.counts.pending}</td><td></td><td></td></tr>
</tbody>
</table>
${backendJobs}
</section>
${reasonBlock(job)}
${notes}
<h2>Failed ids</h2>
${failedSection}`,
    { user, section: "jobs", live: true },
  );
}

export interface ApprovalFacts {
  job: JobView;
  /** The approvers whose approvals count now (still approvers, with the password they approved with). */
  standing: string[];
  sampleIds: string[];
  digest: string;
  /** What the dry run's preview read from the backend; null when it was not asked for. */
  preview: PreviewView | null;
  /** The file the ids came from; null when the agent listed them. */
  idsFile: { path: string; sha256: string } | null;
}

/** The preview as the approver reads it: counts in deletegate's words, each backend summary as a JSON string. */
function previewSection(preview: PreviewView | null): string {
  const [headline, ...found] = previewLines(preview);
  const items = (preview?.sample ?? []).map(
    (item) =>
      `<tr><td><code>${escapeHtml(JSON.stringify(item.id))}</code></td><td>${item.summary === null ? "(none)" : `<code>${escapeHtml(JSON.stringify(item.summary))}</code>`}</td></tr>`,
  );
  const table = found.length
    ? `<table>
<caption>Found ids with the backend's summary (backend data, shown as JSON strings)</caption>
<thead><tr><th scope="col">Id</th><th scope="col">Summary</th></tr></thead>
<tbody>
${items.join("\n")}
</tbody>
</table>`
    : "";
  return `<h2>What exists at the backend</h2>
<p>${escapeHtml(headline ?? "")}</p>
${table}`;
}

/** One approval with everything the person needs to decide, and the approve / reject form. */
export function approvalPage(facts: ApprovalFacts, approver: string, csrf: string, message?: string): string {
  const { job } = facts;
  const approval = job.approval;
  const id = encodeURIComponent(job.job_id);
  // An approval given by someone removed since, or with a password changed since, is shown but said not to count.
  const approvals = approval?.approvals.length
    ? approval.approvals
        .map(
          (given) =>
            `${escapeHtml(given.approver)} at ${when(given.at)}${facts.standing.includes(given.approver) ? "" : " (no longer counts: not an approver with that password now)"}`,
        )
        .join("; ")
    : "none yet";
  const pending = job.status === "awaiting_approval";
  const decide = pending
    ? `<h2>Your decision, ${escapeHtml(approver)}</h2>
<form method="post" action="/console/approvals/${id}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label for="comment">Comment (required to reject)</label><br><textarea id="comment" name="comment" rows="3" cols="60"></textarea></p>
<p><button type="submit" name="action" value="approve" class="approve">Approve the delete of ${job.counts.total} item(s)</button>
<button type="submit" name="action" value="reject" class="reject">Reject</button></p>
</form>`
    : `<p>This job is ${statusBadge(job.status)}: there is nothing to decide. <a href="/console/jobs/${id}">See the job's progress</a>.</p>`;
  const rejected = approval?.rejected
    ? row(
        "Rejected",
        `by ${escapeHtml(approval.rejected.approver)} at ${when(approval.rejected.at)}, saying: <q>${escapeHtml(approval.rejected.comment)}</q>`,
      )
    : "";
  return layout(
    `Approve delete ${job.job_id}`,
    `<h1>Delete ${job.counts.total} item(s) from ${escapeHtml(job.backend)}?</h1>
${messageBlock(message)}
<table>
${row("Status", statusBadge(job.status))}
${row("Job", jobLink(job.job_id))}
${row("Backend", `${escapeHtml(job.backend)} (${escapeHtml(job.kind)})`)}
${row("Target (as the agent gave it)", targetText(job))}
${row("Items to delete", String(job.counts.total))}
${row("Requested by", requester(job.requested_by))}
${row("Requested at", when(job.created_at))}
${row("Approvals", `${approvals} (${facts.standing.length} of ${approval?.required ?? 0} needed count)`)}
${rejected}
${row("Decide before", when(approval?.expires_at, ""))}
${row("Plan digest", `<code>${escapeHtml(facts.digest)}</code>`)}
</table>
${reasonBlock(job)}
<h2>Ids</h2>
<p>${facts.sampleIds.length} of the ${job.counts.total} ids, drawn at random by deletegate (each shown as a JSON string):</p>
<ul>${facts.sampleIds.map((sample) => `<li><code>${escapeHtml(JSON.stringify(sample))}</code></li>`).join("")}</ul>
<p><a href="/console/approvals/${id}/ids.csv" download>Download every id (CSV)</a></p>
${facts.idsFile ? `<p>The agent gave the ids as the file <code>${escapeHtml(JSON.stringify(facts.idsFile.path))}</code> (sha256 <code>${escapeHtml(facts.idsFile.sha256)}</code>).</p>` : ""}
${previewSection(facts.preview)}
${job.notes.length ? `<h2>Notes from deletegate</h2><ul>${job.notes.map((note) => `<li>${escapeHtml(note)}</li>`).join("")}</ul>` : ""}
${decide}`,
    { user: { approver, csrf }, section: "approvals" },
  );
}

/** What the audit page shows: the log's destination, the chain's verdict and its last lines. */
export type AuditFacts =
  | { destination: "stderr" }
  | {
      destination: "file";
      path: string;
      /** The verdict of verifyAuditFile, or why the file could not be read. */
      verdict: AuditVerdict | { error: string };
      /** The last lines, oldest first. */
      lines: string[];
      /** Fewer lines than asked for were read because they were too long. */
      clipped: boolean;
      asked: number;
    };

/** The whole line is shown up to this many characters (a batch line holds all its ids). */
const LINE_CHARS = 4_000;

/** A few facts of an audit line in words: what a person scans for before opening the whole line. */
function auditSummary(entry: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof entry.backend === "string") parts.push(escapeHtml(entry.backend));
  if (entry.target !== undefined && entry.target !== null)
    parts.push(`target <code>${escapeHtml(JSON.stringify(entry.target))}</code>`);
  if (Array.isArray(entry.ids)) parts.push(`${entry.ids.length} id(s)`);
  if (typeof entry.http_status === "number") parts.push(`HTTP ${entry.http_status}`);
  if (typeof entry.status === "string") parts.push(`status ${escapeHtml(entry.status)}`);
  if (typeof entry.counts === "object" && entry.counts !== null)
    parts.push(
      Object.entries(entry.counts)
        .map(([key, value]) => `${escapeHtml(key.replaceAll("_", " "))} ${escapeHtml(String(value))}`)
        .join(", "),
    );
  if (typeof entry.comment === "string") parts.push(`comment <q>${escapeHtml(entry.comment)}</q>`);
  if (typeof entry.error === "string") parts.push(`error: ${escapeHtml(entry.error)}`);
  return parts.join(" · ");
}

function auditRow(line: string): string {
  let entry: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
      entry = parsed as Record<string, unknown>;
  } catch {
    entry = null;
  }
  const clipped =
    line.length > LINE_CHARS
      ? `${escapeHtml(line.slice(0, LINE_CHARS))}<span class="muted">… (${line.length - LINE_CHARS} more characters)</span>`
      : escapeHtml(line);
  const whole = `<details><summary>The whole line</summary><pre><code>${clipped}</code></pre></details>`;
  if (!entry)
    return `<tr class="audit-line"><td></td><td></td><td>not a JSON object</td><td></td><td></td><td>${whole}</td></tr>`;
  const text = (value: unknown) =>
    typeof value === "string" ? value : value === undefined ? "" : String(value);
  const job = typeof entry.job_id === "string" ? jobLink(entry.job_id, true) : "";
  return `<tr class="audit-line"><td class="num">${escapeHtml(text(entry.seq))}</td><td class="nowrap">${escapeHtml(text(entry.time))}</td><td>${escapeHtml(text(entry.event))}</td><td>${job}</td><td>${escapeHtml(text(entry.actor))}</td><td>${auditSummary(entry)}${whole}</td></tr>`;
}

/** The audit log: where it goes, whether its hash chain verifies, and its last lines, newest first. */
export function auditPage(facts: AuditFacts, user: ConsoleUser): string {
  const options: LayoutOptions = { user, section: "audit" };
  if (facts.destination === "stderr")
    return layout(
      "Audit log",
      `<h1>Audit log</h1>
<p>The audit log is written to the server's standard error (<code>auditLog</code> is <code>"stderr"</code>), not to a file: there is no file here to show or to verify. Read it where the server's standard error is kept.</p>`,
      options,
    );
  const { verdict } = facts;
  const verdictText =
    "error" in verdict
      ? `<p class="verdict-broken">Cannot be read: ${escapeHtml(verdict.error)}</p>`
      : verdict.ok
        ? `<p><span class="verdict-ok">OK</span>: the hash chain of all ${verdict.lines} line(s) verifies.${verdict.lastSha256 ? ` The last line's sha256 is <code>${escapeHtml(verdict.lastSha256)}</code>; note it to check later that no line before it was changed or removed.` : ""}</p>`
        : `<p><span class="verdict-broken">BROKEN</span> at ${verdict.line === null ? "an unknown line" : `line ${verdict.line}`}: ${escapeHtml(verdict.reason)}.</p>`;
  const newestFirst = [...facts.lines].reverse();
  const table = newestFirst.length
    ? `<table>
<caption class="visually-hidden">Audit lines, newest first</caption>
<thead><tr><th scope="col" class="num">Line</th><th scope="col">Time (UTC)</th><th scope="col">Event</th><th scope="col">Job</th><th scope="col">Actor</th><th scope="col">Details</th></tr></thead>
<tbody>
${newestFirst.map(auditRow).join("\n")}
</tbody>
</table>`
    : "<p>The file has no lines yet.</p>";
  return layout(
    "Audit log",
    `<h1>Audit log</h1>
<p>File: <code>${escapeHtml(facts.path)}</code></p>
<h2>Hash chain</h2>
${verdictText}
<h2>The last lines</h2>
<p>The last ${newestFirst.length} line(s)${facts.clipped ? ` (fewer than ${facts.asked}: the lines before them are too long to show here)` : ""}, newest first. Reasons, targets, ids and actors in them are as the requesters gave them.</p>
${table}`,
    options,
  );
}
