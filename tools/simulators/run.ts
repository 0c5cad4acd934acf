// Runs every backend simulator on fixed local ports and prints a deletegate config that points at them (`npm run simulators`).
import { startLangsmithSimulator } from "./langsmith.js";
import { startMoorchehSimulator } from "./moorcheh.js";
import { startPiianoVaultSimulator } from "./piiano-vault.js";
import { DEMO_SEED } from "./seed.js";
import { startSplendorSimulator } from "./splendor.js";
import { startSubworkflowSimulator } from "./subworkflow.js";

/** What one running simulator contributes to the printed config. */
interface RunningSimulator {
  /** Backend name in the config, e.g. "splendor-demo". */
  backendName: string;
  backendConfig: Record<string, unknown>;
  /** Secrets the backend config refers to through credentialEnv. */
  env: Record<string, string>;
  url: string;
  close(): Promise<void>;
}

/** One simulator to run; adding a backend kind means adding one entry to `simulators`. */
interface SimulatorEntry {
  kind: string;
  /** Fixed so a saved config keeps working across restarts. */
  defaultPort: number;
  portEnv: string;
  start(port: number): Promise<RunningSimulator>;
}

/** The config entry and secret for a started simulator: one backend of `kind` named `name` pointing at it. */
function serving(
  sim: { url: string; close(): Promise<void> },
  backend: {
    name: string;
    kind: string;
    credentialEnv: string;
    secret: string;
    keys?: Record<string, unknown>;
  },
): RunningSimulator {
  return {
    backendName: backend.name,
    backendConfig: {
      kind: backend.kind,
      baseUrl: sim.url,
      credentialEnv: backend.credentialEnv,
      ...backend.keys,
    },
    env: { [backend.credentialEnv]: backend.secret },
    url: sim.url,
    close: () => sim.close(),
  };
}

const simulators: SimulatorEntry[] = [
  {
    kind: "splendor",
    defaultPort: 8701,
    portEnv: "SPLENDOR_SIM_PORT",
    async start(port) {
      const secret = "demo-splendor-token";
      const tenantId = "demo";
      const sim = await startSplendorSimulator({ token: secret, tenantId, port });
      return serving(sim, {
        name: "splendor-demo",
        kind: "splendor",
        credentialEnv: "SPLENDOR_TOKEN",
        secret,
        keys: { tenantId, allowTargets: ["app-logs", "crm-*"] },
      });
    },
  },
  {
    kind: "moorcheh",
    defaultPort: 8702,
    portEnv: "MOORCHEH_SIM_PORT",
    async start(port) {
      const secret = "demo-moorcheh-key";
      const { namespace, documents, vectors } = DEMO_SEED.moorcheh;
      const sim = await startMoorchehSimulator({
        apiKey: secret,
        port,
        namespaces: { [namespace]: { documents, vectors } },
      });
      return serving(sim, {
        name: "moorcheh-demo",
        kind: "moorcheh",
        credentialEnv: "MOORCHEH_API_KEY",
        secret,
        keys: { allowTargets: ["kb-*"] },
      });
    },
  },
  {
    kind: "langsmith",
    defaultPort: 8703,
    portEnv: "LANGSMITH_SIM_PORT",
    async start(port) {
      const secret = "demo-langsmith-key";
      const sim = await startLangsmithSimulator({
        apiKey: secret,
        port,
        examples: DEMO_SEED.langsmith.examples,
      });
      return serving(sim, {
        name: "langsmith-demo",
        kind: "langsmith",
        credentialEnv: "LANGSMITH_API_KEY",
        secret,
      });
    },
  },
  {
    kind: "subworkflow",
    defaultPort: 8704,
    portEnv: "SUBWORKFLOW_SIM_PORT",
    async start(port) {
      const secret = "demo-subworkflow-key";
      const sim = await startSubworkflowSimulator({
        apiKey: secret,
        port,
        datasets: DEMO_SEED.subworkflow.datasets,
      });
      return serving(sim, {
        name: "subworkflow-demo",
        kind: "subworkflow",
        credentialEnv: "SUBWORKFLOW_API_KEY",
        secret,
      });
    },
  },
  {
    kind: "piiano-vault",
    defaultPort: 8705,
    portEnv: "PIIANO_SIM_PORT",
    async start(port) {
      const secret = "demo-piiano-key";
      const { collection, active, archived } = DEMO_SEED.piianoVault;
      const sim = await startPiianoVaultSimulator({
        apiKey: secret,
        port,
        collections: { [collection]: { active, archived } },
      });
      return serving(sim, {
        name: "piiano-demo",
        kind: "piiano-vault",
        credentialEnv: "PIIANO_API_KEY",
        secret,
        keys: { accessReason: "DataSubjectRequest", allowTargets: [collection] },
      });
    },
  },
];

function portFor(entry: SimulatorEntry): number {
  const raw = process.env[entry.portEnv];
  if (raw === undefined || raw === "") return entry.defaultPort;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${entry.portEnv} must be a port number, got "${raw}"`);
  }
  return port;
}

async function main(): Promise<void> {
  const running: RunningSimulator[] = [];
  const stop = async (signal: string): Promise<void> => {
    console.log(`\n${signal}: stopping simulators`);
    await Promise.allSettled(running.map((sim) => sim.close()));
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));

  try {
    for (const entry of simulators) {
      const sim = await entry.start(portFor(entry));
      running.push(sim);
      console.log(`${entry.kind} simulator listening on ${sim.url}`);
    }
  } catch (error) {
    // Close what did start, so a port clash doesn't leave half the simulators running.
    await Promise.allSettled(running.map((sim) => sim.close()));
    throw error;
  }

  const config = {
    store: "sqlite:./.deletegate/state.db",
    auditLog: "./.deletegate/audit.jsonl",
    confirmation: { mode: "auto", ttlSeconds: 900 },
    backends: Object.fromEntries(running.map((sim) => [sim.backendName, sim.backendConfig])),
  };
  console.log("\ndeletegate config (save as e.g. deletegate.config.json):\n");
  console.log(JSON.stringify(config, null, 2));
  console.log("\nSecrets for the config's credentialEnv:\n");
  for (const sim of running) {
    for (const [name, value] of Object.entries(sim.env)) console.log(`export ${name}=${value}`);
  }
  const { moorcheh, langsmith, subworkflow, piianoVault } = DEMO_SEED;
  console.log("\nItems that exist, to delete:");
  console.log("  splendor-demo:    any record id in datasets app-logs or crm-*");
  console.log(
    `  moorcheh-demo:    namespace ${moorcheh.namespace}, ${moorcheh.documents[0]}…${moorcheh.documents.at(-1)} (documents), ${moorcheh.vectors[0]}…${moorcheh.vectors.at(-1)} (vectors)`,
  );
  console.log(`  langsmith-demo:   examples ${langsmith.examples[0]} … ${langsmith.examples.at(-1)}`);
  console.log(`  subworkflow-demo: datasets ${subworkflow.datasets[0]} … ${subworkflow.datasets.at(-1)}`);
  console.log(
    `  piiano-demo:      collection ${piianoVault.collection}, objects ${piianoVault.active[0]} … ${piianoVault.active.at(-1)}`,
  );
  console.log("\nPress Ctrl-C to stop.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
