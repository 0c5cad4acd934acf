// bundle/manifest.json (the MCP Bundle for Claude Desktop) against the code: its tools are the server's, its version
// is package.json's, every backend kind's secret can be entered and is masked, and a host builds a command line
// from it with nothing left unreplaced. `npm run bundle` then builds, packs and runs the real bundle.
import { LATEST_MANIFEST_VERSION, v0_4 } from "@anthropic-ai/mcpb/browser";
import { describe, expect, it } from "vitest";
import { TOOLS } from "../../src/tools/index.js";
import { hostLaunch } from "../../tools/bundle/launch.js";
import {
  bundleFile,
  nodeRange,
  readManifest,
  readPackageJson,
  stampedManifest,
} from "../../tools/bundle/paths.js";
import { FIXTURES } from "../../tools/simulators/index.js";

const manifest = readManifest();
const pkg = readPackageJson();
const EXTENSION = "/opt/bundles/deletegate";

describe("bundle/manifest.json", () => {
  it("is valid for the newest manifest version the installed mcpb validates", () => {
    expect(manifest.manifest_version).toBe(LATEST_MANIFEST_VERSION);
    expect(v0_4.McpbManifestSchema.safeParse(manifest).error).toBeUndefined();
  });

  it("lists the server's tools, by name and in order", () => {
    expect(manifest.tools.map((tool) => tool.name)).toEqual(TOOLS.map((tool) => tool.name));
    for (const tool of manifest.tools) expect(tool.description.length, tool.name).toBeGreaterThan(20);
  });

  it("carries package.json's version and Node floor", () => {
    expect(manifest.version).toBe(pkg.version);
    expect(manifest.name).toBe(pkg.name);
    expect(manifest.compatibility.runtimes.node).toBe(`${pkg.engines.node.replace(/\s/g, "")}.0`);
  });

  it("starts dist/cli.js with the config file the person picks", () => {
    expect(manifest.server).toMatchObject({ type: "node", entry_point: "dist/cli.js" });
    expect(manifest.server.mcp_config.command).toBe("node");
    expect(manifest.user_config.config_file).toMatchObject({ type: "file", required: true });
  });

  it("maps every kind's default secret variable, and the webhook secret, to a masked optional setting", () => {
    const expected = [
      ...FIXTURES.map((fixture) => fixture.credentialEnv),
      "DELETEGATE_WEBHOOK_SECRET",
    ].sort();
    const env = manifest.server.mcp_config.env;
    expect(Object.keys(env).sort()).toEqual(expected);
    for (const [name, value] of Object.entries(env)) {
      const key = /^\$\{user_config\.([a-z_]+)\}$/.exec(value)?.[1];
      expect(key, name).toBeDefined();
      // An empty default: a host passes "" (which deletegate treats as unset), never the literal "${user_config.…}".
      expect(manifest.user_config[key as string], name).toEqual(
        expect.objectContaining({ type: "string", sensitive: true, required: false, default: "" }),
      );
    }
    const settings = Object.keys(manifest.user_config).filter((key) => key !== "config_file");
    expect(settings.length).toBe(expected.length);
  });
});

describe("what a host runs from the manifest", () => {
  it("is node <bundle>/dist/cli.js --config <file>, with unset secrets passed as empty", async () => {
    const launch = await hostLaunch(manifest, EXTENSION, {
      config_file: "/home/person/deletegate.config.json",
      moorcheh_api_key: "k-123",
    });
    expect(launch.command).toBe("node");
    expect(launch.args).toEqual([
      `${EXTENSION}/dist/cli.js`,
      "--config",
      "/home/person/deletegate.config.json",
    ]);
    expect(launch.env.MOORCHEH_API_KEY).toBe("k-123");
    expect(launch.env.SPLENDOR_TOKEN).toBe("");
    expect(launch.env.DELETEGATE_WEBHOOK_SECRET).toBe("");
  });

  it("is nothing without a config file", async () => {
    await expect(hostLaunch(manifest, EXTENSION, { splendor_token: "t" })).rejects.toThrow(/required/);
  });

  it("would catch a secret without a default (the host would pass the placeholder on)", async () => {
    const broken = structuredClone(manifest);
    delete broken.user_config.splendor_token?.default;
    await expect(hostLaunch(broken, EXTENSION, { config_file: "/c.json" })).rejects.toThrow(
      /unreplaced: \$\{user_config\.splendor_token\}/,
    );
  });
});

describe("the build's stamp", () => {
  it("limits the bundle to the Node major and platform it was built with", () => {
    expect(nodeRange(">=20.18", "20.20.2")).toBe(">=20.18.0 <21.0.0");
    expect(nodeRange(">=20.18", "22.3.0")).toBe(">=22.0.0 <23.0.0");
    expect(() => nodeRange(">=20.18", "18.19.0")).toThrow(/older/);
    const stamped = stampedManifest(manifest, pkg);
    expect(stamped.compatibility.platforms).toEqual([process.platform]);
    expect(stamped.compatibility.runtimes.node).toBe(nodeRange(pkg.engines.node));
    expect(v0_4.McpbManifestSchema.safeParse(stamped).error).toBeUndefined();
    expect(bundleFile(pkg.version, "linux", "x64")).toMatch(
      new RegExp(`deletegate-${pkg.version}-linux-x64-node\\d+\\.mcpb$`),
    );
  });
});
