// A resolved Splendor backend config for unit tests, with the defaults SPEC §3 gives.
import type { BackendConfig } from "../../src/config.js";

export function splendorBackend(overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: "splendor-prod",
    kind: "splendor",
    baseUrl: "http://127.0.0.1:1",
    credentialEnv: "SPLENDOR_TOKEN",
    credential: "secret-credential",
    allowTargets: null,
    readOnly: false,
    maxItemsPerJob: 100_000,
    maxItemsPerDay: null,
    minReasonLength: 10,
    batchSize: 1024,
    concurrency: 4,
    requestsPerSecond: 10,
    timeoutMs: 30_000,
    maxAttempts: 5,
    options: { tenantId: "acme" },
    ...overrides,
  };
}
