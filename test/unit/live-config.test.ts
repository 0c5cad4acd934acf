// A reload (SIGHUP): policy keys apply at once, connection keys wait for a restart, a removed backend turns
// read-only, and listeners (the runner's kill switch) hear of it before reload returns.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { LiveConfig, mergeReload } from "../../src/live-config.js";

const ENV = { SPLENDOR_TOKEN: "sk-live-0123456789", OTHER_TOKEN: "sk-live-9876543210" };

function config(backend: Record<string, unknown> = {}, top: Record<string, unknown> = {}, extra = {}) {
  return parseConfig(
    {
      store: "memory",
      ...top,
      backends: {
        prod: { kind: "splendor", credentialEnv: "SPLENDOR_TOKEN", tenantId: "acme", ...backend },
        ...extra,
      },
    },
    ENV,
  );
}

describe("mergeReload", () => {
  it("applies every policy key and keeps the connection, listing what waits for a restart", () => {
    const before = config({ allowTargets: ["a-*"] });
    const after = config(
      {
        allowTargets: ["b-*"],
        readOnly: true,
        maxItemsPerJob: 5,
        maxItemsPerDay: 7,
        minReasonLength: 40,
        confirmation: "human",
        baseUrl: "http://127.0.0.1:9",
        concurrency: 1,
      },
      { store: "sqlite:/tmp/x.db", confirmation: { mode: "token" }, limits: { maxIdsPerCall: 3 } },
    );
    const { config: merged, result } = mergeReload(before, after);
    const prod = merged.backends.prod;
    expect(prod).toMatchObject({
      allowTargets: ["b-*"],
      readOnly: true,
      maxItemsPerJob: 5,
      maxItemsPerDay: 7,
      minReasonLength: 40,
      confirmation: "human",
      // Not applied: the lane and HTTP client were built from these.
      baseUrl: before.backends.prod?.baseUrl,
      concurrency: before.backends.prod?.concurrency,
    });
    expect(merged.store).toBe("memory");
    expect(merged.confirmation.mode).toBe("token");
    expect(merged.limits.maxIdsPerCall).toBe(3);
    expect(result.applied).toEqual([
      "confirmation.mode",
      "limits.maxIdsPerCall",
      "backends.prod.readOnly",
      "backends.prod.allowTargets",
      "backends.prod.maxItemsPerJob",
      "backends.prod.maxItemsPerDay",
      "backends.prod.minReasonLength",
      "backends.prod.confirmation",
    ]);
    expect(result.restartNeeded).toEqual(["store", "backends.prod.baseUrl", "backends.prod.concurrency"]);
    // No secret in what is logged and audited.
    expect(JSON.stringify(result)).not.toContain("sk-live");
  });

  it("a removed backend turns read-only; an added one waits for a restart", () => {
    const before = config({}, {}, { other: { kind: "subworkflow", credentialEnv: "OTHER_TOKEN" } });
    const after = parseConfig(
      {
        store: "memory",
        backends: {
          prod: { kind: "splendor", credentialEnv: "SPLENDOR_TOKEN", tenantId: "acme" },
          fresh: { kind: "subworkflow", credentialEnv: "OTHER_TOKEN" },
        },
      },
      ENV,
    );
    const { config: merged, result } = mergeReload(before, after);
    expect(merged.backends.other?.readOnly).toBe(true);
    expect(merged.backends.fresh).toBeUndefined();
    expect(result.applied).toEqual(["backends.other.readOnly"]);
    expect(result.restartNeeded).toEqual([
      "backends.other (removed: read-only until a restart)",
      "backends.fresh (added)",
    ]);
  });

  it("LiveConfig tells its listeners before reload returns", () => {
    const live = new LiveConfig(config());
    const heard: boolean[] = [];
    live.onReload((current) => heard.push(current.backends.prod?.readOnly ?? false));
    live.reload(config({ readOnly: true }));
    expect(heard).toEqual([true]);
    expect(live.backend("prod")?.readOnly).toBe(true);
    expect(live.backend("__proto__")).toBeUndefined();
  });
});
