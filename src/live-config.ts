// The config in force: policy keys of a re-read file (SIGHUP) replace the old ones at once; connection keys stay
// as the process started with them until a restart (SPEC §3).
import type { BackendConfig, Config } from "./config.js";

/** Per-backend keys a reload applies at once: they decide what may be deleted, never how to reach the backend. */
const BACKEND_POLICY_KEYS = [
  "readOnly",
  "allowTargets",
  "maxItemsPerJob",
  "maxItemsPerDay",
  "minReasonLength",
  "confirmation",
  "preview",
] as const satisfies readonly (keyof BackendConfig)[];

/** Per-backend keys a running process cannot change: its connection (lane, HTTP client) was built from them. */
const BACKEND_CONNECTION_KEYS = [
  "kind",
  "baseUrl",
  "credentialEnv",
  "credential",
  "batchSize",
  "concurrency",
  "requestsPerSecond",
  "timeoutMs",
  "maxAttempts",
  "options",
] as const satisfies readonly (keyof BackendConfig)[];

export interface ReloadResult {
  /** Policy keys whose value changed, as key paths (`backends.x.readOnly`). */
  applied: string[];
  /** Changes that need a restart, as key paths; not applied. */
  restartNeeded: string[];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Merges `next` into `current`: its policy applies, the connection stays; says what changed and what waits. */
export function mergeReload(current: Config, next: Config): { config: Config; result: ReloadResult } {
  const applied: string[] = [];
  const restartNeeded: string[] = [];
  for (const key of ["store", "auditLog", "http", "jobs", "retention", "log"] as const) {
    if (!same(current[key], next[key])) restartNeeded.push(key);
  }
  for (const key of ["mode", "ttlSeconds"] as const) {
    if (current.confirmation[key] !== next.confirmation[key]) applied.push(`confirmation.${key}`);
  }
  // The states' key was handed to the process's sealer at start.
  if (current.requestStateKey !== next.requestStateKey) restartNeeded.push("confirmation.stateKeyEnv");
  for (const key of ["maxIdsPerCall", "idFileRoots", "maxIdsPerFile"] as const) {
    if (!same(current.limits[key], next.limits[key])) applied.push(`limits.${key}`);
  }
  if (!same(current.preview, next.preview)) applied.push("preview");
  // Approvers, their number and the expiry of new requests are policy too (SPEC §3).
  if (!same(current.approval, next.approval)) applied.push("approval");

  const backends: Record<string, BackendConfig> = {};
  for (const [name, old] of Object.entries(current.backends)) {
    const fresh = Object.hasOwn(next.backends, name) ? next.backends[name] : undefined;
    if (!fresh) {
      // Removing a backend is the strongest tightening: nothing more is deleted there from now on.
      backends[name] = { ...old, readOnly: true };
      if (!old.readOnly) applied.push(`backends.${name}.readOnly`);
      restartNeeded.push(`backends.${name} (removed: read-only until a restart)`);
      continue;
    }
    const merged: BackendConfig = { ...old };
    for (const key of BACKEND_POLICY_KEYS) {
      if (same(old[key], fresh[key])) continue;
      Object.assign(merged, { [key]: fresh[key] });
      applied.push(`backends.${name}.${key}`);
    }
    for (const key of BACKEND_CONNECTION_KEYS) {
      if (!same(old[key], fresh[key])) restartNeeded.push(`backends.${name}.${key}`);
    }
    backends[name] = merged;
  }
  for (const name of Object.keys(next.backends)) {
    if (!Object.hasOwn(current.backends, name)) restartNeeded.push(`backends.${name} (added)`);
  }
  const config: Config = {
    ...current,
    confirmation: {
      mode: next.confirmation.mode,
      ttlSeconds: next.confirmation.ttlSeconds,
      ...(current.confirmation.stateKeyEnv === undefined
        ? {}
        : { stateKeyEnv: current.confirmation.stateKeyEnv }),
    },
    approval: next.approval,
    limits: { ...next.limits },
    preview: { ...next.preview },
    backends,
    warnings: next.warnings,
  };
  return { config, result: { applied, restartNeeded } };
}

/** The one place the gate and the runner read the config from, so a reload reaches every check at once. */
export class LiveConfig {
  private config: Config;
  private readonly listeners: ((config: Config) => void)[] = [];

  constructor(initial: Config) {
    this.config = initial;
  }

  get current(): Config {
    return this.config;
  }

  backend(name: string): BackendConfig | undefined {
    return Object.hasOwn(this.config.backends, name) ? this.config.backends[name] : undefined;
  }

  /** Applies the policy keys of `next`; listeners (the runner's kill switch) hear of it before this returns. */
  reload(next: Config): ReloadResult {
    const { config, result } = mergeReload(this.config, next);
    this.config = config;
    for (const listener of this.listeners) listener(config);
    return result;
  }

  onReload(listener: (config: Config) => void): void {
    this.listeners.push(listener);
  }
}
