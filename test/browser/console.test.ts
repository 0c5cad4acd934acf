// The approval console in a real browser (headless Chromium driven by playwright-core, never a downloaded
// browser): an approver signs in, reads the pending list, rejects one request with a comment, approves another,
// and watches that job reach "succeeded" on its page as the live script polls; then the jobs list, the audit page,
// sign-out, and the same pages with JavaScript off. Every page must load without console errors and with its
// Content-Security-Policy. Screenshots of the approval page and of the finished job go to docs/images/.
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
  type Response,
} from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SplendorSimulator } from "../../tools/simulators/splendor.js";
import { approvalFixture, writeApprovalConfig } from "../integration/console-harness.js";
import { deletesFor, range, structured } from "../integration/harness.js";
import {
  connectHttp,
  type HttpServer,
  type HttpSession,
  startHttpServer,
} from "../integration/http-harness.js";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const HOW_TO_ENABLE = "install it with: apt-get install -y chromium (.ci/run does this)";
/** The README's screenshots are rewritten only on request (DELETEGATE_SCREENSHOTS=1); otherwise into a temp dir. */
const IMAGES = process.env.DELETEGATE_SCREENSHOTS
  ? resolve(import.meta.dirname, "../../docs/images")
  : mkdtempSync(join(tmpdir(), "deletegate-screenshots-"));

/** Skipped only when Chromium is missing outside CI, saying so in one line; under CI=true a missing one fails. */
function skipWithoutChromium(what: string): boolean {
  if (existsSync(CHROMIUM) || process.env.CI === "true") return false;
  console.warn(`SKIPPED: ${what}: ${CHROMIUM} is not installed; ${HOW_TO_ENABLE}.`);
  return true;
}

const AGENT_TOKEN = "console-agent-token-81d2";
const PASSWORDS = { alice: "alice correct horse", bob: "bob battery staple" };
// Markup in agent text must show as text, never become markup.
const REJECT_REASON = 'Clean up <b>old</b> test contacts & "duplicates" from the import';
const APPROVE_REASON = "Customer 5521 closed the account; erase their 40 contacts\nTicket: SUP-1207";

describe.skipIf(skipWithoutChromium("the console browser tests"))("the approval console in Chromium", () => {
  let sim: SplendorSimulator;
  let server: HttpServer;
  let agent: HttpSession;
  let browser: Browser;
  let origin: string;
  let auditLog: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed: ${HOW_TO_ENABLE}.`);
    // Backend jobs take about 4 s, so the job page is seen before the job ends and updates itself.
    const fixture = await approvalFixture(PASSWORDS, 2_000);
    sim = fixture.sim;
    const { hashes } = fixture;
    const config = writeApprovalConfig(sim.url, hashes, { backend: { maxBatchSize: 10 }, agentToken: true });
    auditLog = config.auditLog;
    server = await startHttpServer(config.path, { env: { DELETEGATE_TOKEN_AGENT: AGENT_TOKEN } });
    origin = new URL(server.url).origin;
    agent = await connectHttp(server.url, AGENT_TOKEN, { name: "agent-client" });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.close().catch(() => undefined);
    await server?.stop();
    await sim?.close();
  });

  /** The agent's dry run and execute: a job awaiting approval. */
  async function request(dataset: string, ids: string[], reason: string) {
    const plan = structured(
      await agent.call("dry_run_delete", {
        backend: "splendor-test",
        target: { dataset_id: dataset },
        ids,
        reason,
      }),
    );
    const job = structured(await agent.call("execute_delete", { plan_id: plan.plan_id, wait_seconds: 1 }));
    expect(job.status).toBe("awaiting_approval");
    return job.job_id as string;
  }

  /** A page that records console errors, uncaught exceptions, and every HTML response (for their headers). */
  async function watchedPage(context: BrowserContext) {
    const page = await context.newPage();
    const errors: string[] = [];
    const documents: Response[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(`${page.url()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => errors.push(`${page.url()}: ${error.message}`));
    page.on("response", (response) => {
      // Pages, not the 303s that lead to them.
      if (response.request().resourceType() === "document" && response.status() < 300)
        documents.push(response);
    });
    return { page, errors, documents };
  }

  async function signIn(page: Page, name: keyof typeof PASSWORDS) {
    await page.getByLabel("Approver name").fill(name);
    await page.getByLabel("Password").fill(PASSWORDS[name]);
    await load(page, page.getByRole("button", { name: "Sign in" }));
  }

  /** Clicks a link or button that leads to another page, and waits until that page has loaded. */
  async function load(page: Page, target: Locator) {
    await Promise.all([page.waitForEvent("framenavigated"), target.click()]);
    await page.waitForLoadState();
  }

  const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? "").trim();

  it("sign in, reject one request, approve another, and watch it run to the end", async () => {
    const rejectIds = range(12, "crm-old-");
    const approveIds = range(40, "crm-5521-");
    const rejectJob = await request("crm-old", rejectIds, REJECT_REASON);
    const approveJob = await request("crm-5521", approveIds, APPROVE_REASON);

    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const { page, errors, documents } = await watchedPage(context);

    // Signed out, the console asks for a sign-in; the form returns to the pending list.
    await page.goto(`${origin}/console/`);
    expect(await page.getByRole("heading", { name: "Sign in as an approver" }).count()).toBe(1);
    await signIn(page, "alice");
    expect(new URL(page.url()).pathname).toBe("/console/");
    expect(await text(page, "h1")).toBe("Pending approvals");
    expect(
      await page.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents(),
    ).toEqual(["Pending approvals", "Jobs", "Audit log"]);
    const pendingRows = await page.locator("tbody tr").allTextContents();
    expect(pendingRows).toHaveLength(2);
    expect(pendingRows.join("\n")).toContain(rejectJob);
    expect(pendingRows.join("\n")).toContain(approveJob);

    // The first request: everything to decide on, then a rejection with a comment.
    await load(page, page.getByRole("link", { name: new RegExp(`job ${rejectJob}$`) }));
    expect(await text(page, "h1")).toBe("Delete 12 item(s) from splendor-test?");
    expect(await page.locator("tr", { hasText: "Items to delete" }).locator("td").textContent()).toBe("12");
    expect(await page.locator("tr", { hasText: "Requested by" }).locator("td").textContent()).toBe(
      JSON.stringify("agent"),
    );
    // The reason is the requester's words, as text: its markup is not markup.
    expect(
      await page.getByRole("heading", { name: "The requester's reason, in their own words" }).count(),
    ).toBe(1);
    expect(await page.locator("blockquote pre").textContent()).toBe(REJECT_REASON);
    expect(await page.locator("blockquote b").count()).toBe(0);
    const samples = (await page.locator("main ul li code").allTextContents()).map((item) => JSON.parse(item));
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) expect(rejectIds).toContain(sample);
    const csv = page.getByRole("link", { name: "Download every id (CSV)" });
    expect(await csv.getAttribute("href")).toBe(`/console/approvals/${rejectJob}/ids.csv`);
    await page
      .getByLabel("Comment (required to reject)")
      .fill("No ticket for this clean-up; ask the owner first.");
    await load(page, page.getByRole("button", { name: "Reject" }));
    expect(await text(page, '[role="alert"]')).toBe("Recorded: rejected.");
    expect(await text(page, '[data-field="status"]')).toBe("rejected");
    expect(await page.getByRole("button", { name: "Reject" }).count()).toBe(0);

    // The second request: approved, after the screenshot of what the approver sees.
    await load(page, page.getByRole("link", { name: "Pending approvals" }));
    expect(await page.locator("tbody tr").count()).toBe(1);
    await load(page, page.getByRole("link", { name: new RegExp(`job ${approveJob}$`) }));
    expect(await text(page, "h1")).toBe("Delete 40 item(s) from splendor-test?");
    expect(await page.locator("blockquote pre").textContent()).toBe(APPROVE_REASON);
    mkdirSync(IMAGES, { recursive: true });
    await page.screenshot({ path: join(IMAGES, "console-approval.png"), fullPage: true });
    await page.getByLabel("Comment (required to reject)").fill("Checked with the account owner.");
    await load(page, page.getByRole("button", { name: "Approve the delete of 40 item(s)" }));
    expect(await text(page, '[role="alert"]')).toBe("Recorded: approved.");

    // Its job page, seen before the job ends, follows it to "succeeded" without a reload.
    await load(page, page.getByRole("link", { name: "See the job's progress" }));
    expect(new URL(page.url()).pathname).toBe(`/console/jobs/${approveJob}`);
    const atLoad = await page.locator('[data-field="status"]').getAttribute("data-status");
    expect(["queued", "running", "awaiting_backend"]).toContain(atLoad);
    await page.locator('[data-field="status"][data-status="succeeded"]').waitFor({ timeout: 30_000 });
    expect(await text(page, '[data-field="status"]')).toBe("succeeded");
    expect(await text(page, 'td[data-field="deleted"]')).toBe("40");
    expect(await text(page, '[data-field="pending"]')).toBe("0");
    expect(await text(page, '[data-field="batches_done"]')).toBe("4");
    expect(await page.locator('progress[data-field="progress"]').getAttribute("value")).toBe("40");
    // The backend's own jobs are followed too: none is left shown as pending.
    const backendJobs = await page.locator('[data-list="backend_jobs"] li').allTextContents();
    expect(backendJobs).toHaveLength(4);
    for (const item of backendJobs) expect(item).toMatch(/: succeeded$/);
    expect(await text(page, "#live-status")).toBe(`Job ${approveJob} is now succeeded.`);
    expect(await text(page, '[data-field="finished_at"]')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await page.screenshot({ path: join(IMAGES, "console-job.png"), fullPage: true });
    expect(deletesFor(sim, "crm-5521")).toBe(4);
    expect(deletesFor(sim, "crm-old")).toBe(0);

    // The jobs list: both jobs with their end states.
    await load(page, page.getByRole("link", { name: "Jobs", exact: true }));
    const statusOf = (jobId: string) => text(page, `tr[data-job-id="${jobId}"] [data-field="status"]`);
    expect(await statusOf(approveJob)).toBe("succeeded");
    expect(await statusOf(rejectJob)).toBe("rejected");
    // The live script keeps polling the list: its stamp appears within a poll.
    await page.locator("#live-updated", { hasText: /^Updated/ }).waitFor({ timeout: 10_000 });

    // The audit page: the chain verifies, and the approval events are among the last lines.
    await load(page, page.getByRole("link", { name: "Audit log" }));
    expect(await text(page, ".verdict-ok")).toBe("OK");
    expect(await page.locator("main").textContent()).toContain(auditLog);
    const events = await page.locator("tbody tr td:nth-child(3)").allTextContents();
    expect(events).toContain("approval.rejected");
    expect(events).toContain("approval.granted");
    expect(events).toContain("job.finished");

    // Sign-out ends the session: the pages ask for a sign-in again.
    await load(page, page.getByRole("button", { name: "Sign out" }));
    expect(await page.getByRole("heading", { name: "Sign in as an approver" }).count()).toBe(1);
    await page.goto(`${origin}/console/jobs`);
    expect(await page.getByRole("heading", { name: "Sign in as an approver" }).count()).toBe(1);
    expect((await page.request.get(`${origin}/console/api/jobs`)).status()).toBe(401);

    // Every page: the CSP (no inline script or style, no framing), and no console error.
    expect(documents.length).toBeGreaterThan(8);
    for (const response of documents) {
      const csp = (await response.allHeaders())["content-security-policy"] ?? "";
      expect(csp, response.url()).toContain("script-src 'self'");
      expect(csp, response.url()).toContain("style-src 'self'");
      expect(csp, response.url()).toContain("frame-ancestors 'none'");
      expect(csp, response.url()).not.toContain("unsafe-inline");
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it("serves its stylesheet and script with their types, and its pages work with JavaScript off", async () => {
    const css = await fetch(`${origin}/console/assets/console.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(css.headers.get("x-content-type-options")).toBe("nosniff");
    expect(css.headers.get("content-security-policy")).toContain("script-src 'self'");
    const js = await fetch(`${origin}/console/assets/console.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await js.text()).toContain("data-live-url");
    expect((await fetch(`${origin}/console/assets/..%2fpages.ts`)).status).toBe(404);
    expect((await fetch(`${origin}/console/assets/nothing.js`)).status).toBe(404);

    const jobId = await request(
      "crm-nojs",
      range(3, "crm-nojs-"),
      "Remove three stale contacts, no script needed",
    );
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1000, height: 900 },
    });
    const { page, errors } = await watchedPage(context);
    // A link to a job page leads through the sign-in back to it.
    await page.goto(`${origin}/console/jobs/${jobId}`);
    await signIn(page, "bob");
    expect(new URL(page.url()).pathname).toBe(`/console/jobs/${jobId}`);
    expect(await text(page, '[data-field="status"]')).toBe("awaiting approval");
    expect(await page.getByRole("link", { name: "Review this approval" }).count()).toBe(1);
    await load(page, page.getByRole("link", { name: "Jobs", exact: true }));
    expect(await text(page, `tr[data-job-id="${jobId}"] [data-field="status"]`)).toBe("awaiting approval");
    expect(await text(page, "noscript")).toContain("Reload it to see progress");
    // The form decision works without JavaScript too.
    await page.goto(`${origin}/console/approvals/${jobId}`);
    await load(page, page.getByRole("button", { name: "Approve the delete of 3 item(s)" }));
    expect(await text(page, '[role="alert"]')).toBe("Recorded: approved.");
    expect(errors).toEqual([]);
    await context.close();
  });
});
