// Live progress for the console's job pages. The server renders each page with the state at load (it works
// without JavaScript); this script asks the JSON API for the same jobs every 2 s and updates the figures in
// place. Every value is set as text, never as markup: agent text is data.
(() => {
  const PERIOD_MS = 2000;
  const TERMINAL = ["succeeded", "partially_failed", "failed", "cancelled", "rejected", "expired"];
  const root = document.querySelector("[data-live-url]");
  if (!root) return;
  const url = root.getAttribute("data-live-url");
  const single = root.hasAttribute("data-job-id");
  const announce = document.getElementById("live-status");
  const updated = document.getElementById("live-updated");
  let timer = null;

  const label = (status) => status.replaceAll("_", " ");
  const readable = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "not yet");

  function say(text) {
    if (announce) announce.textContent = text;
  }

  function setField(scope, field, value) {
    for (const element of scope.querySelectorAll(`[data-field="${field}"]`)) {
      const text = value === null || value === undefined ? "" : String(value);
      if (element.textContent !== text) element.textContent = text;
    }
  }

  /** The backend's own jobs for this job, one item each: its id, then its status. */
  function showBackendJobs(list, backendJobs) {
    const wanted = backendJobs.map((item) => `${item.id}: ${item.status}`);
    const shown = [...list.children].map((item) => item.textContent);
    if (wanted.join("\n") !== shown.join("\n")) {
      list.replaceChildren(
        ...backendJobs.map((item) => {
          const entry = document.createElement("li");
          const id = document.createElement("code");
          id.textContent = item.id;
          entry.append(id, `: ${item.status}`);
          return entry;
        }),
      );
    }
    const holder = list.closest("[data-hide-empty]");
    if (holder) holder.hidden = backendJobs.length === 0;
  }

  /** Updates every element showing this job; returns whether there is one. */
  function show(job) {
    const scopes = document.querySelectorAll(`[data-job-id="${CSS.escape(job.job_id)}"]`);
    let changed = false;
    for (const scope of scopes) {
      const status = scope.querySelector('[data-field="status"]');
      if (status && status.getAttribute("data-status") !== job.status) {
        changed = status.hasAttribute("data-status");
        status.setAttribute("data-status", job.status);
        status.className = `status status-${job.status}`;
        status.textContent = label(job.status);
      }
      const counts = job.counts;
      const done = counts.deleted + counts.not_found + counts.failed;
      for (const field of ["total", "deleted", "not_found", "failed", "pending"]) {
        setField(scope, field, counts[field]);
      }
      setField(scope, "done", done);
      setField(scope, "batches_total", job.batches.total);
      setField(scope, "batches_done", job.batches.done);
      setField(scope, "batches_failed", job.batches.failed);
      setField(scope, "batches_in_flight", job.batches.in_flight);
      setField(scope, "started_at", readable(job.started_at));
      setField(scope, "finished_at", readable(job.finished_at));
      for (const list of scope.querySelectorAll('[data-list="backend_jobs"]'))
        showBackendJobs(list, job.backend_jobs);
      for (const bar of scope.querySelectorAll('progress[data-field="progress"]')) {
        bar.max = Math.max(1, counts.total);
        bar.value = done;
        bar.textContent = `${done} of ${counts.total}`;
      }
    }
    if (changed) {
      const failed = job.counts.failed > 0 && single ? " Reload the page to see the failed ids." : "";
      say(`Job ${job.job_id} is now ${label(job.status)}.${failed}`);
    }
    return scopes.length > 0;
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  async function poll() {
    if (document.hidden) return;
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    } catch {
      say("Live progress paused: the server cannot be reached. Trying again.");
      return;
    }
    if (response.status === 401) {
      stop();
      say("Your session ended: sign in again to see live progress.");
      return;
    }
    if (!response.ok) {
      say(`Live progress paused: the server answered ${response.status}. Trying again.`);
      return;
    }
    const body = await response.json();
    const jobs = Array.isArray(body.jobs) ? body.jobs : [body];
    let unseen = 0;
    for (const job of jobs) if (!show(job)) unseen++;
    if (updated) updated.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC.`;
    const more = document.getElementById("live-more");
    if (more) more.hidden = unseen === 0;
    if (single && jobs.every((job) => TERMINAL.includes(job.status))) stop();
  }

  timer = setInterval(poll, PERIOD_MS);
  poll();
})();
