// The HTTP client's module (undici, about 60 ms to load) is loaded when a plan is made, a moment after its answer,
// so a first job does not wait for it; not at start-up, and not while the answer in hand is still to go out.
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it, vi } from "vitest";

const loads = vi.hoisted(() => ({ count: 0 }));
vi.mock("undici", async (importOriginal) => {
  loads.count++;
  return importOriginal();
});

describe("loadHttpClientSoon", () => {
  it("loads undici once, a moment later: not when the module or a client is made, not synchronously", async () => {
    const { HttpClient, loadHttpClientSoon } = await import("../../src/backends/http.js");
    const http = new HttpClient({
      baseUrl: "http://127.0.0.1:9",
      timeoutMs: 1000,
      connections: 1,
      headers: {},
      secrets: [],
    });
    expect(loads.count).toBe(0);
    loadHttpClientSoon();
    // The dry run's answer is written after the call returns: loading must not hold the thread before that.
    expect(loads.count).toBe(0);
    await vi.waitFor(() => expect(loads.count).toBe(1), { timeout: 2000 });
    loadHttpClientSoon();
    await http.ready();
    await sleep(30);
    expect(loads.count).toBe(1);
    await http.close();
  });
});
