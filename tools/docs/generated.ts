// What is written from the code: each block of the docs between <!-- generated:NAME --> and <!-- /generated:NAME -->,
// and the JSON files made from the registries of kinds (registryFiles).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { TOOLS } from "../../src/tools/index.js";
import type { AnyTool } from "../../src/tools/tool.js";
import { packagingFiles } from "../bundle/kind-entries.js";
import { readManifest } from "../bundle/paths.js";
import { demoSecrets, EXAMPLE_CONFIG_PATH, exampleFiles } from "../simulators/demo-config.js";
import { FIXTURES } from "../simulators/index.js";

export const ROOT = resolve(import.meta.dirname, "../..");

/** The command that rewrites every block; the test names it when a block differs. */
export const REGENERATE = "npm run docs";

/**
 * The JSON files that list kinds, as the registries make them, by path from the root: the example config and
 * mcp.json (one backend per kind), and the bundle manifest and server.json (one secret per kind).
 */
export async function registryFiles(): Promise<Record<string, unknown>> {
  return { ...(await exampleFiles()), ...packagingFiles() };
}

/** Writes JSON files (paths from the root) in the repository's JSON style, so they differ only where the content does. */
export function writeJsonFiles(files: Record<string, unknown>): void {
  for (const [path, content] of Object.entries(files)) {
    writeFileSync(resolve(ROOT, path), `${JSON.stringify(content, null, 2)}\n`);
  }
  execFileSync("npx", ["biome", "format", "--write", ...Object.keys(files)], { cwd: ROOT, stdio: "inherit" });
}

/** A JSON Schema property as zod writes it for a tool's input. */
interface JsonProperty {
  type?: string | string[];
  enum?: unknown[];
  items?: JsonProperty;
  properties?: Record<string, JsonProperty>;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  description?: string;
}

/** Text for a table cell: one line, with `|` escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
}

function code(value: unknown): string {
  return `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
}

function typeOf(property: JsonProperty): string {
  if (property.enum) return `one of ${property.enum.map(code).join(", ")}`;
  if (property.type === "array") return `list of ${property.items ? typeOf(property.items) : "anything"}`;
  if (Array.isArray(property.type)) return property.type.join(" or ");
  if (property.type === "object" && property.properties) {
    return `object with ${Object.keys(property.properties).map(code).join(", ")}`;
  }
  const type = property.type ?? "any value";
  const { minimum, maximum } = property;
  if (minimum !== undefined && maximum !== undefined && maximum < Number.MAX_SAFE_INTEGER)
    return `${type}, ${minimum}..${maximum}`;
  if (minimum !== undefined) return `${type} ≥ ${minimum}`;
  return type;
}

/**
 * A tool's input as tools/list shows it: its zod input schema as JSON Schema, plus the arguments its handler
 * refuses itself with a code (listedRequired) marked required — as src/server.ts lists it.
 */
function listedInput(tool: AnyTool): { properties: Record<string, JsonProperty>; required: Set<string> } {
  const json = z.toJSONSchema(z.strictObject(tool.inputSchema), { target: "draft-2020-12", io: "input" }) as {
    properties?: Record<string, JsonProperty>;
    required?: string[];
  };
  return {
    properties: json.properties ?? {},
    required: new Set([...(json.required ?? []), ...(tool.listedRequired ?? [])]),
  };
}

const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;

/** The tools, in the order clients list them, with their annotations. */
function toolTable(): string {
  const rows = TOOLS.map((tool) => {
    const hints = HINTS.map((hint) => (tool.annotations[hint] ? "yes" : "no"));
    return `| [${code(tool.name)}](#${tool.name}) | ${cell(tool.title)} | ${hints.join(" | ")} |`;
  });
  return [
    "| tool | title | readOnly | destructive | idempotent | openWorld |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** Per tool: each input field (type, whether required, default, description) and the result's fields. */
function toolInputs(): string {
  const sections = TOOLS.map((tool) => {
    const { properties, required } = listedInput(tool);
    const fields = Object.entries(properties).map(
      ([name, property]) =>
        `| ${code(name)} | ${cell(typeOf(property))} | ${required.has(name) ? "yes" : "no"} | ` +
        `${property.default === undefined ? "" : code(property.default)} | ${cell(property.description ?? "")} |`,
    );
    const input =
      fields.length === 0
        ? "No input fields: call it with `{}`."
        : [
            "| field | type | required | default | description |",
            "| --- | --- | --- | --- | --- |",
            ...fields,
          ].join("\n");
    const result = Object.keys(tool.outputSchema).map(code).join(", ");
    return [`### ${code(tool.name)}`, "", `${tool.title}.`, "", input, "", `Result fields: ${result}.`].join(
      "\n",
    );
  });
  return sections.join("\n\n");
}

/** `deletegate --help` of the build in dist/ (run `npm run build` first). */
function usage(): string {
  const cli = resolve(ROOT, "dist/cli.js");
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const help = execFileSync(process.execPath, [cli, "--help"], { encoding: "utf8" });
  return ["```text", help.trimEnd(), "```"].join("\n");
}

/** What `npm run simulators` serves, per kind: the demo backend, its port, its secret and the items that exist. */
function demoBackends(): string {
  const rows = FIXTURES.map(({ service, credentialEnv, demo }) =>
    [
      code(demo.backend),
      service,
      `${demo.port} (${code(demo.portEnv)})`,
      code(`${credentialEnv}=${demo.secret}`),
      cell(demo.items),
    ].join(" | "),
  );
  return [
    "| backend | simulator | port (override) | secret | items that exist |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row} |`),
  ].join("\n");
}

/** Starting the simulators and checking the example config against them, with every kind's demo secret. */
function demoCommands(): string {
  const secrets = Object.entries(demoSecrets()).map(([name, value]) => `${name}=${value}`);
  return [
    "```sh",
    "npm run simulators                         # terminal 1; Ctrl-C stops it",
    ...secrets.map((secret) => `${secret} \\`),
    `  node dist/cli.js check-config --config ${EXAMPLE_CONFIG_PATH}`,
    "claude --mcp-config mcp.json               # terminal 2, from the repo root (or copy mcp.json to .mcp.json)",
    "```",
  ].join("\n");
}

/** What a host's install dialog asks for the bundle: bundle/manifest.json's settings, in order. */
function installDialog(): string {
  const manifest = readManifest();
  const env = Object.entries(manifest.server.mcp_config.env);
  const rows = Object.entries(manifest.user_config).map(([key, setting]) => {
    const { title = key, required } = setting as { title?: string; required?: boolean };
    if (key === "config_file") {
      return `| ${cell(title)} (required) | \`--config <file>\` | make it with \`npx -y deletegate init\`; use absolute paths for \`store\` and \`auditLog\` (the host's working directory is not yours) |`;
    }
    const variable = env.find(([, value]) => value === `\${user_config.${key}}`)?.[0] ?? "";
    const label = title.replace(/\s*\([A-Z_]+\)$/, "");
    const notes = [setting.sensitive ? "masked (`sensitive`)" : "shown", required ? "required" : "optional"];
    if (variable === "DELETEGATE_WEBHOOK_SECRET") notes.push("for `approval.notify[].secretEnv`");
    return `| ${cell(label)} | ${code(variable)} | ${notes.join(", ")} |`;
  });
  return ["| setting | becomes | notes |", "| --- | --- | --- |", ...rows].join("\n");
}

/** The README's list of backends: each kind's service, name and what it deletes. */
function backendList(): string {
  return FIXTURES.map(({ service, kind, summary }) => `- **${service}** (${code(kind)}): ${summary}`).join(
    "\n",
  );
}

/** The repository's mcp.json, as a client reads it. */
function mcpJson(): string {
  return ["```json", readFileSync(resolve(ROOT, "mcp.json"), "utf8").trimEnd(), "```"].join("\n");
}

/** Each file with generated blocks, and how each of its blocks is written. */
export const GENERATED: Record<string, Record<string, () => string>> = {
  "docs/tools.md": { tools: toolTable, "tool-inputs": toolInputs },
  "docs/commands.md": { usage },
  "README.md": { backends: backendList },
  "docs/bundle.md": { "install-dialog": installDialog },
  "docs/simulators.md": { "demo-backends": demoBackends, "mcp-json": mcpJson, "demo-commands": demoCommands },
};

const BLOCK = /<!-- generated:([\w-]+) -->\n[\s\S]*?<!-- \/generated:\1 -->/g;

/**
 * The text with every generated block rewritten. A marker without a writer, a writer without its marker, or a block
 * that is not closed is an error, so a block cannot silently stop being generated.
 */
export function fill(file: string, text: string): string {
  const writers = GENERATED[file];
  if (!writers) throw new Error(`${file} has no generated blocks`);
  const opened = [...text.matchAll(/<!-- generated:([\w-]+) -->/g)].map((match) => match[1] as string);
  const filled = new Set<string>();
  const result = text.replace(BLOCK, (_block, name: string) => {
    const write = writers[name];
    if (!write) throw new Error(`${file}: no writer for the generated block "${name}"`);
    filled.add(name);
    // Blank lines around the block, so Markdown ends the comment before a table or heading starts.
    return `<!-- generated:${name} -->\n\n${write()}\n\n<!-- /generated:${name} -->`;
  });
  for (const name of opened) {
    if (!filled.has(name)) throw new Error(`${file}: the generated block "${name}" has no closing marker`);
  }
  for (const name of Object.keys(writers)) {
    if (!filled.has(name)) throw new Error(`${file}: the generated block "${name}" is missing`);
  }
  return result;
}
