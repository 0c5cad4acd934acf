// Assembles one deletegate instance from a config: store, audit, runner and gate, and closes them in order.
import { Approvals } from "./approval/approvals.js";
import { Webhooks } from "./approval/webhooks.js";
import { type Audit, createAudit } from "./audit/index.js";
import { type Config, DEFAULT_CONSOLE_ORIGIN, loadConfig } from "./config.js";
import { DeletionGate } from "./gate/gate.js";
import { RequestStates } from "./gate/request-state.js";
import { Lanes } from "./jobs/lanes.js";
import { openStore } from "./jobs/open-store.js";
import { Runner } from "./jobs/runner.js";
import type { Store } from "./jobs/store.js";
import { LiveConfig, type ReloadResult } from "./live-config.js";
import { type Logger, protectSecrets } from "./logger.js";

export interface App {
  /** The config the process started with: its store, audit log, HTTP and connection keys stay until a restart. */
  config: Config;
  /** The config in force now: policy keys change on reload. */
  live: LiveConfig;
  logger: Logger;
  store: Store;
  audit: Audit;
  runner: Runner;
  gate: DeletionGate;
  approvals: Approvals;
  webhooks: Webhooks;
  /**
   * Where people's browsers reach the console when `approval.publicUrl` is not set: the transport says once it
   * listens (`http://<host>:<port>` of --http or of `deletegate console`). Default http://127.0.0.1:8809.
   */
  setConsoleOrigin(origin: string): void;
  /** Re-reads the config file (SIGHUP): its policy applies at once; null when the new file is refused. */
  reload(): ReloadResult | null;
  close(): Promise<void>;
}

export interface AppOptions {
  /** `--http`: a reload, like the start, needs every http.tokens variable. */
  httpTokensRequired?: boolean;
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
  // The operator tightens the policy without a restart (SPEC §3).
  process.on("SIGHUP", () => void app.reload());
  return shutdown;
}

export function createApp(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  options: AppOptions = {},
): App {
  // From here on no log line can show a backend key or an HTTP token, whatever object carries it.
  protectSecrets([
    ...Object.values(config.backends).map((backend) => backend.credential),
    ...config.http.tokens.map((token) => token.token),
    config.requestStateKey ?? undefined,
  ]);
  const store = openStore(config.store, {
    retentionDays: config.retention.jobDays,
    onError: (error) => logger.error({ err: error }, "store error"),
  });
  const audit = createAudit(config.auditLog);
  const live = new LiveConfig(config);
  let consoleOrigin = DEFAULT_CONSOLE_ORIGIN;
  const approvalUrl = (jobId: string) =>
    `${live.current.approval?.publicUrl ?? consoleOrigin}/console/approvals/${encodeURIComponent(jobId)}`;
  // One lane per backend, built from the config the process started with: deletes, previews and stale checks share it.
  const lanes = new Lanes(Object.values(config.backends));
  const runner = new Runner(store, audit, logger, live, {
    lanes,
    leaseMs: config.jobs.leaseMs,
    backendJobMaxMs: config.jobs.backendJobMaxMs,
    approvalUrl,
  });
  const webhooks = new Webhooks(() => live.current.approval?.notify ?? [], logger);
  const gate = new DeletionGate(
    live,
    store,
    runner,
    audit,
    webhooks,
    lanes,
    new RequestStates(store, config.requestStateKey),
  );
  const approvals = new Approvals(live, store, runner, gate, audit, webhooks, logger);
  for (const warning of config.warnings) logger.warn({ warning }, "config warning");
  const reload = (): ReloadResult | null => {
    let next: Config;
    try {
      next = loadConfig(config.path, env, options);
    } catch (error) {
      const why = (error as Error).message;
      logger.error({ config: config.path, error: why }, "config reload refused: the config in force stays");
      return null;
    }
    const result = live.reload(next);
    for (const warning of next.warnings) logger.warn({ warning }, "config warning");
    logger.info(
      { config: config.path, applied: result.applied, restart_needed: result.restartNeeded },
      "config reloaded",
    );
    if (result.restartNeeded.length > 0)
      logger.warn(
        { restart_needed: result.restartNeeded },
        "config changes that need a restart were not applied",
      );
    try {
      audit.record({
        event: "config.reloaded",
        actor: "operator",
        applied: result.applied,
        restart_needed: result.restartNeeded,
      });
    } catch (error) {
      logger.error({ err: error }, "config.reloaded not audited: the audit log cannot be written");
    }
    return result;
  };
  return {
    config,
    live,
    logger,
    store,
    audit,
    runner,
    gate,
    approvals,
    webhooks,
    setConsoleOrigin: (origin) => {
      consoleOrigin = origin.replace(/\/+$/, "");
    },
    reload,
    async close() {
      approvals.close();
      await runner.close();
      await webhooks.close();
      await store.close();
      audit.close();
    },
  };
}
