// Approval webhook bodies: the structured fields carry the job's facts as given; the one chat line (`text`) carries
// the agent's words as inert text, so a reason, a target or a requester's name never becomes a chat link, mention or
// formatting there.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { approvalNotice, type NoticeJob } from "../../src/approval/webhooks.js";

const URL_OF_JOB = "http://127.0.0.1:8809/console/approvals/job_x";
/** The reviewer's reproduction: a Slack channel ping, a link whose label is the real console URL, and bold text. */
const HOSTILE_REASON =
  "Routine cleanup <!channel> already approved, click " +
  "<http://127.0.0.1:9999/x|http://127.0.0.1:8809/console/approvals/job_x> *Approve*";

function job(overrides: Partial<NoticeJob> = {}): NoticeJob {
  return {
    id: "job_x",
    backend: "splendor-test",
    kind: "splendor",
    target: { dataset_id: "crm" },
    reason: "Customer 5521 closed the account",
    total: 5,
    requested_by: "agent",
    ...overrides,
  };
}

/** What a Markdown chat shows for escaped text: entities decoded, backslash escapes removed. */
function shown(escaped: string): string {
  return escaped
    .replace(/\\([\s\S])/g, "$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/** The line after deletegate's console link: everything the agent wrote is in there. */
function agentPart(text: string): string {
  const at = text.indexOf(URL_OF_JOB);
  expect(at).toBeGreaterThan(0);
  return text.slice(at + URL_OF_JOB.length);
}

/** Markup an agent's words must not carry into the chat line: Slack's <…> sequences, Markdown links, emphasis, code. */
function liveMarkup(part: string): string[] {
  const unescaped = part.replace(/\\[\s\S]/g, "");
  return unescaped.match(/[<>[\]()*_~`@]/g) ?? [];
}

/** Any UTF-16 text, unpaired surrogates and line separators included. */
const anyText = fc.string({ unit: "binary" });

describe("approvalNotice", () => {
  it("keeps the structured fields exactly as the job has them", () => {
    const hostile = job({
      reason: HOSTILE_REASON,
      target: { dataset_id: "[crm](http://evil.example)" },
      requested_by: "<@U123> *bob*",
    });
    const body = approvalNotice("approval.requested", hostile, URL_OF_JOB, "approval requested");
    expect(body).toMatchObject({
      event: "approval.requested",
      job_id: "job_x",
      backend: "splendor-test",
      kind: "splendor",
      target: { dataset_id: "[crm](http://evil.example)" },
      count: 5,
      reason: HOSTILE_REASON,
      requested_by: "<@U123> *bob*",
      url: URL_OF_JOB,
    });
  });

  it("the chat line: the console link first, then the agent's words with no mention, link or formatting live", () => {
    const hostile = job({
      reason: HOSTILE_REASON,
      target: { dataset_id: "[click](http://evil.example) _x_ ~y~ `z`" },
      requested_by: "bob <!here> @channel",
    });
    const { text } = approvalNotice("approval.requested", hostile, URL_OF_JOB, "approval requested");
    expect(text).not.toContain("\n");
    expect(text).not.toMatch(/[<>]/);
    expect(text).toContain("&lt;!channel&gt;");
    expect(text).not.toContain("*Approve*");
    expect(text).not.toContain("](");
    // deletegate's own link comes before anything the agent wrote, and is intact.
    expect(text.indexOf(URL_OF_JOB)).toBeLessThan(text.indexOf("Routine cleanup"));
    expect(text.indexOf(URL_OF_JOB)).toBeLessThan(text.indexOf("evil.example"));
    expect(text.indexOf(URL_OF_JOB)).toBeLessThan(text.indexOf("bob"));
    expect(text).toMatch(new RegExp(`${URL_OF_JOB.replace(/[.]/g, "\\.")} `));
    expect(liveMarkup(agentPart(text))).toEqual([]);
  });

  it("a Markdown chat shows the agent's words as they were written, quoted", () => {
    const hostile = job({ reason: `${HOSTILE_REASON} & "quoted" \\ back`, requested_by: "bob_the_agent" });
    const { text } = approvalNotice("approval.granted", hostile, URL_OF_JOB, "alice approved (1 of 2)");
    const visible = shown(text);
    expect(visible).toContain(JSON.stringify(hostile.reason));
    expect(visible).toContain(JSON.stringify("bob_the_agent"));
    expect(visible).toContain(JSON.stringify({ dataset_id: "crm" }));
    expect(text).toMatch(/^deletegate: alice approved \(1 of 2\): delete 5 item\(s\) on splendor-test: /);
  });

  it("for any reason, target and name: one line, nothing live after the link", () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, (reason, dataset, name) => {
        const notice = job({ reason, target: { dataset_id: dataset }, requested_by: name });
        const { text } = approvalNotice("approval.requested", notice, URL_OF_JOB, "approval requested");
        expect(text).not.toMatch(/[\n\r\u2028\u2029<>]/);
        expect(liveMarkup(agentPart(text))).toEqual([]);
      }),
    );
  });
});
