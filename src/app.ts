// Assembles one deletegate instance from a config: store, audit, runner and gate, and closes them in order.
import { type Audit, createAudit } from "./audit.js";
import type { Config } from "./config.js";
import { DeletionGate } from "./gate/gate.js";
import { Runner } from "./jobs/runner.js";
import { Store } from "./jobs/store.js";
import type { Logger } from "./logger.js";

export interface App {
  config: Config;
  logger: Logger;
  store: Store;
  audit: Audit;
  runner: Runner;
  gate: DeletionGate;
  close(): Promise<void>;
}

export function createApp(config: Config, logger: Logger): App {
  const store = Store.open(config.store);
  const audit = createAudit(config.auditLog);
  const runner = new Runner(store, audit, logger, config.backends);
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
