// Runs every backend simulator on fixed local ports and prints a deletegate config that points at them (`npm run simulators`).
import { type SplendorSimulator, startSplendorSimulator } from "./splendor.js";

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

const simulators: SimulatorEntry[] = [
  {
    kind: "splendor",
    defaultPort: 8701,
    portEnv: "SPLENDOR_SIM_PORT",
    async start(port) {
      const token = "demo-splendor-token";
      const tenantId = "demo";
      const sim: SplendorSimulator = await startSplendorSimulator({ token, tenantId, port });
      return {
        backendName: "splendor-demo",
        backendConfig: {
          kind: "splendor",
          baseUrl: sim.url,
          credentialEnv: "SPLENDOR_TOKEN",
          tenantId,
          allowTargets: ["app-logs", "crm-*"],
        },
        env: { SPLENDOR_TOKEN: token },
        url: sim.url,
        close: () => sim.close(),
      };
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
  console.log("\nPress Ctrl-C to stop.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
