// Assembles one deletegate instance from a config: store, audit, runner and gate, and closes them in order.
import { type Audit, createAudit } from "./audit.js";
import type { Config } from "./config.js";
import { DeletionGate } from "./gate/gate.js";
import { DEFAULT_LEASE_MS, Runner } from "./jobs/runner.js";
import { Store } from "./jobs/store.js";
import { type Logger, protectSecrets } from "./logger.js";

export interface App {
  config: Config;
  logger: Logger;
  store: Store;
  audit: Audit;
  runner: Runner;
  gate: DeletionGate;
  close(): Promise<void>;
}

/** A job's lease on a shared store: DELETEGATE_LEASE_MS (ms, at least 300), default 10 s. */
export function leaseMsFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.DELETEGATE_LEASE_MS;
  if (raw === undefined || raw === "") return DEFAULT_LEASE_MS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 300 || value > 3_600_000) {
    throw new Error(`DELETEGATE_LEASE_MS must be an integer of milliseconds, 300..3600000, got "${raw}"`);
  }
  return value;
}

/**
 * Returns a once-only shutdown for a transport: close it, then the app, then exit. SIGINT and SIGTERM
 * call it; unfinished jobs resume at the next start.
 */
export function shutdownOnSignals(
  app: App,
  closeTransport: () => Promise<void>,
): (why: string) => Promise<void> {
  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    app.logger.info({ why }, "shutting down; unfinished jobs resume at the next start");
    await closeTransport().catch(() => undefined);
    await app.close().catch((error: Error) => app.logger.error({ err: error }, "close failed"));
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  return shutdown;
}

export function createApp(config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env): App {
  const leaseMs = leaseMsFrom(env);
  // From here on no log line can show a backend key or an HTTP token, whatever object carries it.
  protectSecrets([
    ...Object.values(config.backends).map((backend) => backend.credential),
    ...config.http.tokens.map((token) => token.token),
  ]);
  const store = Store.open(config.store, (error) => logger.error({ err: error }, "store error"));
  const audit = createAudit(config.auditLog);
  const runner = new Runner(store, audit, logger, config.backends, { leaseMs });
  const gate = new DeletionGate(config, store, runner, audit);
  return {
    config,
    logger,
    store,
    audit,
    runner,
    gate,
    async close() {
      await runner.close();
      await store.close();
      audit.close();
    },
  };
}
