// The console's server-rendered pages: plain HTML that works without JavaScript, every field labelled, every
// action a named button, and everything shown escaped (agent text is data, never markup).
import type { JobView } from "../jobs/view.js";

/** Text as HTML text or attribute value: nothing in it can open a tag, an attribute or an entity. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · deletegate console</title>
</head>
<body>
<header><p><strong>deletegate</strong> approval console</p></header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** The sign-in form; `next` is the approval page to return to. */
export function signInPage(next: string | null, message?: string): string {
  return layout(
    "Sign in",
    `<h1>Sign in as an approver</h1>
${message ? `<p role="alert">${escapeHtml(message)}</p>` : ""}
<form method="post" action="/console/login">
<p><label for="name">Approver name</label><br><input id="name" name="name" autocomplete="username" required></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
${next ? `<input type="hidden" name="next" value="${escapeHtml(next)}">` : ""}
<p><button type="submit">Sign in</button></p>
</form>`,
  );
}

export interface ApprovalFacts {
  job: JobView;
  sampleIds: string[];
  digest: string;
}

function row(label: string, value: string): string {
  return `<tr><th scope="row">${escapeHtml(label)}</th><td>${value}</td></tr>`;
}

/** One approval with everything the person needs to decide, and the approve / reject form. */
export function approvalPage(facts: ApprovalFacts, approver: string, csrf: string, message?: string): string {
  const { job } = facts;
  const approval = job.approval;
  const id = encodeURIComponent(job.job_id);
  const approvals = approval?.approvals.length
    ? approval.approvals.map((given) => `${escapeHtml(given.approver)} at ${escapeHtml(given.at)}`).join("; ")
    : "none yet";
  const pending = job.status === "awaiting_approval";
  const decide = pending
    ? `<h2>Your decision, ${escapeHtml(approver)}</h2>
<form method="post" action="/console/approvals/${id}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label for="comment">Comment (required to reject)</label><br><textarea id="comment" name="comment" rows="3" cols="60"></textarea></p>
<p><button type="submit" name="action" value="approve">Approve the delete of ${job.counts.total} item(s)</button>
<button type="submit" name="action" value="reject">Reject</button></p>
</form>`
    : `<p>This job is <strong>${escapeHtml(job.status)}</strong>: there is nothing to decide.</p>`;
  return layout(
    `Approve delete ${job.job_id}`,
    `<h1>Delete ${job.counts.total} item(s) from ${escapeHtml(job.backend)}?</h1>
${message ? `<p role="alert">${escapeHtml(message)}</p>` : ""}
<table>
${row("Status", escapeHtml(job.status))}
${row("Backend", `${escapeHtml(job.backend)} (${escapeHtml(job.kind)})`)}
${row("Target (as the agent gave it)", `<code>${escapeHtml(JSON.stringify(job.target))}</code>`)}
${row("Items to delete", String(job.counts.total))}
${row("Requested by", escapeHtml(job.requested_by))}
${row("Requested at", escapeHtml(job.created_at))}
${row("Approvals", `${approvals} (${approval?.required ?? 0} needed)`)}
${row("Decide before", escapeHtml(approval?.expires_at ?? ""))}
${row("Plan digest", `<code>${escapeHtml(facts.digest)}</code>`)}
</table>
<h2>The requester's reason, in their own words</h2>
<blockquote><pre>${escapeHtml(job.reason)}</pre></blockquote>
<h2>Ids</h2>
<p>${facts.sampleIds.length} of the ${job.counts.total} ids, drawn at random by deletegate:</p>
<ul>${facts.sampleIds.map((sample) => `<li><code>${escapeHtml(JSON.stringify(sample))}</code></li>`).join("")}</ul>
<p><a href="/console/approvals/${id}/ids.csv">Download every id (CSV)</a></p>
${job.notes.length ? `<h2>Notes from deletegate</h2><ul>${job.notes.map((note) => `<li>${escapeHtml(note)}</li>`).join("")}</ul>` : ""}
${decide}`,
  );
}
