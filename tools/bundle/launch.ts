// The command line a bundle host (Claude Desktop) builds from the manifest and the person's settings, computed by the
// MCPB library's own getMcpConfigForManifest, so the check and the tests start the server exactly as a host would.
import { getMcpConfigForManifest, v0_4 } from "@anthropic-ai/mcpb/browser";

export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The manifest's mcp_config with `${__dirname}` = the unpacked bundle and `${user_config.*}` = `userConfig` (defaults
 * for the rest). Throws when the manifest is invalid, when required settings are missing, or when any `${…}` is left
 * unreplaced (a host would pass it on literally, e.g. as a secret's value).
 */
export async function hostLaunch(
  rawManifest: unknown,
  extensionPath: string,
  userConfig: Record<string, string>,
): Promise<Launch> {
  const manifest = v0_4.McpbManifestSchema.parse(rawManifest);
  const config = await getMcpConfigForManifest({
    manifest,
    extensionPath,
    systemDirs: {
      HOME: "/home/person",
      DESKTOP: "/home/person/Desktop",
      DOCUMENTS: "/home/person/Documents",
    },
    userConfig,
    pathSeparator: "/",
  });
  if (!config)
    throw new Error("the host would not start the server: a required user_config value is missing");
  const launch = { command: config.command, args: config.args ?? [], env: config.env ?? {} };
  const unreplaced = JSON.stringify(launch).match(/\$\{[^}]*\}/g);
  if (unreplaced) throw new Error(`the host would pass these on unreplaced: ${unreplaced.join(", ")}`);
  return launch;
}
