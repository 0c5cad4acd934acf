// PLACEHOLDER while the piiano-vault adapter is written (issue 3): registered so the registry compiles; it deletes nothing.
import type { BackendKind } from "./types.js";

export const piianoVault: BackendKind = {
  kind: "piiano-vault",
  description: "Not implemented yet.",
  targetFields: [],
  targetSchema: null,
  targetName: () => null,
  defaultBaseUrl: null,
  maxBatchSize: 1,
  defaults: { concurrency: 1, requestsPerSecond: 1 },
  configShape: {},
  validateId: () => "the piiano-vault adapter is not implemented yet",
  notes: [],
  asyncJobs: false,
  headers: () => ({}),
  createClient() {
    throw new Error("the piiano-vault adapter is not implemented yet");
  },
};
