// Runs every backend simulator on fixed local ports and prints a deletegate config that points at them (`npm run simulators`).
// examples/demo.config.json and mcp.json, made from the same registry, are written by `npm run docs`.
import { demoConfig, demoSecrets } from "./demo-config.js";
import type { KindFixture, KindSimulator } from "./fixture.js";
import { FIXTURES } from "./index.js";

function portFor(fixture: KindFixture): number {
  const { port: defaultPort, portEnv } = fixture.demo;
  const raw = process.env[portEnv];
  if (raw === undefined || raw === "") return defaultPort;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${portEnv} must be a port number, got "${raw}"`);
  }
  return port;
}

async function main(): Promise<void> {
  const running: { fixture: KindFixture; sim: KindSimulator }[] = [];
  const stop = async (signal: string): Promise<void> => {
    console.log(`\n${signal}: stopping simulators`);
    await Promise.allSettled(running.map(({ sim }) => sim.close()));
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));

  try {
    for (const fixture of FIXTURES) {
      const sim = await fixture.demo.start({ secret: fixture.demo.secret, port: portFor(fixture) });
      running.push({ fixture, sim });
      console.log(`${fixture.kind} simulator listening on ${sim.url}`);
    }
  } catch (error) {
    // Close what did start, so a port clash doesn't leave half the simulators running.
    await Promise.allSettled(running.map(({ sim }) => sim.close()));
    throw error;
  }

  const urls = new Map(running.map(({ fixture, sim }) => [fixture, sim.url]));
  const config = demoConfig((fixture) => urls.get(fixture) as string);
  console.log("\ndeletegate config (save as e.g. deletegate.config.json):\n");
  console.log(JSON.stringify(config, null, 2));
  console.log("\nSecrets for the config's credentialEnv:\n");
  for (const [name, value] of Object.entries(demoSecrets())) console.log(`export ${name}=${value}`);
  console.log("\nItems that exist, to delete:");
  const width = Math.max(...FIXTURES.map((fixture) => fixture.demo.backend.length)) + 2;
  for (const { demo } of FIXTURES) console.log(`  ${`${demo.backend}:`.padEnd(width)}${demo.items}`);
  console.log("\nPress Ctrl-C to stop.");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
