// The configs that point deletegate at the demo simulators, built from the registry: what `npm run simulators`
// prints, examples/demo.config.json (the same at the default ports) and mcp.json (the demo secrets).
import type { KindFixture, KindSimulator } from "./fixture.js";
import { FIXTURES } from "./index.js";

export const EXAMPLE_CONFIG_PATH = "examples/demo.config.json";
export const MCP_JSON_PATH = "mcp.json";

/** The config for one simulator per kind, at `urlOf(fixture)`. */
export function demoConfig(urlOf: (fixture: KindFixture) => string): Record<string, unknown> {
  return {
    store: "sqlite:./.deletegate/state.db",
    auditLog: "./.deletegate/audit.jsonl",
    confirmation: { mode: "auto", ttlSeconds: 900 },
    backends: Object.fromEntries(
      FIXTURES.map((fixture) => [
        fixture.demo.backend,
        {
          kind: fixture.kind,
          baseUrl: urlOf(fixture),
          credentialEnv: fixture.credentialEnv,
          ...fixture.demo.keys,
        },
      ]),
    ),
  };
}

/** Each backend's credentialEnv and the demo simulator's key. */
export function demoSecrets(): Record<string, string> {
  return Object.fromEntries(FIXTURES.map((fixture) => [fixture.credentialEnv, fixture.demo.secret]));
}

/**
 * Where mcp.json finds the repo: Claude Code expands `${VAR:-default}` in MCP configs, so from the repo root
 * nothing is needed, and from any other directory DELETEGATE_REPO names the checkout.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the client's own ${VAR:-default} syntax, literally
export const MCP_JSON_REPO = "${DELETEGATE_REPO:-.}";

/** An MCP client's registration of deletegate on the example config, with the demo secrets. */
export function mcpConfig(): Record<string, unknown> {
  return {
    mcpServers: {
      deletegate: {
        command: "node",
        args: [`${MCP_JSON_REPO}/dist/cli.js`, "--config", `${MCP_JSON_REPO}/${EXAMPLE_CONFIG_PATH}`],
        env: demoSecrets(),
      },
    },
  };
}

/** The URL a simulator started on another port has at its fixed port (its path, e.g. Moorcheh's /v1, kept). */
export function atDefaultPort(fixture: KindFixture, sim: Pick<KindSimulator, "url">): string {
  const url = new URL(sim.url);
  url.port = String(fixture.demo.port);
  return url.href.replace(/\/$/, "");
}

/** examples/demo.config.json and mcp.json as the registry makes them (the simulators start briefly, port 0). */
export async function exampleFiles(): Promise<Record<string, unknown>> {
  const urls = new Map<KindFixture, string>();
  for (const fixture of FIXTURES) {
    const sim = await fixture.demo.start({ secret: fixture.demo.secret, port: 0 });
    urls.set(fixture, atDefaultPort(fixture, sim));
    await sim.close();
  }
  return {
    [EXAMPLE_CONFIG_PATH]: demoConfig((fixture) => urls.get(fixture) as string),
    [MCP_JSON_PATH]: mcpConfig(),
  };
}
