// `npm run check:registry`: server.json (the MCP Registry entry) against the registry's rules (our statement of the
// 2025-12-11 schema, tools/registry/server-json.schema.json, validated with ajv) and against the code: its name is
// package.json's mcpName, its versions are package.json's, the npm package runs with npx on stdio, every secret
// variable is marked secret, and every {variable} of the remote's URL and headers is declared.
// `-- --schema FILE` also validates against the published schema file (fetched where there is internet).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import formats from "ajv-formats";
import { type PackageJson, ROOT, readPackageJson } from "../bundle/paths.js";
import { FIXTURES } from "../simulators/index.js";

export const SERVER_JSON_PATH = join(ROOT, "server.json");
export const SCHEMA_PATH = join(ROOT, "tools", "registry", "server-json.schema.json");
/** The schema version server.json is written to: its `$schema`. */
export const SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/** The only npm registry the official MCP Registry accepts. */
const NPM_REGISTRY = "https://registry.npmjs.org";
/** The variables a stdio server reads its secrets from: each kind's default, and the webhook signing secret. */
export const SECRET_VARIABLES = [
  ...FIXTURES.map((fixture) => fixture.credentialEnv),
  "DELETEGATE_WEBHOOK_SECRET",
];
export const CONFIG_VARIABLE = "DELETEGATE_CONFIG";

interface Input {
  name?: string;
  value?: string;
  isRequired?: boolean;
  isSecret?: boolean;
  variables?: Record<string, Input>;
}

interface ServerJson {
  $schema?: string;
  name?: string;
  version?: string;
  packages?: {
    registryType?: string;
    registryBaseUrl?: string;
    identifier?: string;
    version?: string;
    runtimeHint?: string;
    transport?: { type?: string };
    environmentVariables?: Input[];
  }[];
  remotes?: { type?: string; url?: string; variables?: Record<string, Input>; headers?: Input[] }[];
}

function formatError(error: ErrorObject): string {
  return `${error.instancePath || "(top)"}: ${error.message ?? error.keyword}`;
}

const compiled = new WeakMap<object, ValidateFunction>();

/** Problems of `document` under a JSON Schema (draft-07, as the registry's); none means valid. */
export function schemaProblems(document: unknown, schema: object): string[] {
  let validate = compiled.get(schema);
  if (!validate) {
    // Not strict: the published schema carries OpenAPI's `example` keyword, which JSON Schema does not define.
    const ajv = new Ajv({ allErrors: true, strict: false });
    formats.default(ajv);
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate(document) ? [] : (validate.errors ?? []).map(formatError);
}

let ourSchema: object | undefined;

/** `{name}` placeholders of a template. */
function placeholders(template: string | undefined): string[] {
  return [...(template ?? "").matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string);
}

/** What the registry's schema cannot know: server.json must agree with package.json and with the server. */
export function deletegateProblems(document: ServerJson, pkg: PackageJson): string[] {
  const problems: string[] = [];
  if (document.$schema !== SCHEMA_URL) problems.push(`$schema: must be ${SCHEMA_URL}`);
  if (!pkg.mcpName) problems.push("package.json: mcpName is missing (the registry checks it against name)");
  else if (document.name !== pkg.mcpName)
    problems.push(`name: must equal package.json's mcpName ${pkg.mcpName}`);
  if (document.version !== pkg.version)
    problems.push(`version: must equal package.json's version ${pkg.version}`);

  const npm = (document.packages ?? []).filter((entry) => entry.registryType === "npm");
  if (npm.length !== 1) problems.push(`packages: must hold one npm package, holds ${npm.length}`);
  for (const entry of npm) {
    if (entry.identifier !== pkg.name) problems.push(`packages[npm].identifier: must be ${pkg.name}`);
    if (entry.version !== pkg.version) problems.push(`packages[npm].version: must be ${pkg.version}`);
    if (entry.registryBaseUrl !== undefined && entry.registryBaseUrl !== NPM_REGISTRY)
      problems.push(`packages[npm].registryBaseUrl: must be ${NPM_REGISTRY}`);
    if (entry.runtimeHint !== "npx") problems.push('packages[npm].runtimeHint: must be "npx"');
    if (entry.transport?.type !== "stdio") problems.push('packages[npm].transport.type: must be "stdio"');
    const variables = new Map(
      (entry.environmentVariables ?? []).map((variable) => [variable.name, variable]),
    );
    const expected = [CONFIG_VARIABLE, ...SECRET_VARIABLES];
    const extra = [...variables.keys()].filter((name) => !expected.includes(name as string));
    if (extra.length > 0) problems.push(`packages[npm].environmentVariables: unknown ${extra.join(", ")}`);
    const config = variables.get(CONFIG_VARIABLE);
    if (!config?.isRequired || config.isSecret)
      problems.push(
        `packages[npm].environmentVariables: ${CONFIG_VARIABLE} must be listed, required, not secret`,
      );
    for (const name of SECRET_VARIABLES) {
      if (variables.get(name)?.isSecret !== true)
        problems.push(`packages[npm].environmentVariables: ${name} must be listed with isSecret: true`);
    }
  }

  const http = (document.remotes ?? []).filter((remote) => remote.type === "streamable-http");
  if (http.length === 0) problems.push("remotes: must hold a streamable-http entry (deletegate --http)");
  for (const [index, remote] of http.entries()) {
    const where = `remotes[${index}]`;
    if (!/\/mcp$/.test(remote.url ?? ""))
      problems.push(`${where}.url: must end with /mcp, where deletegate serves MCP`);
    for (const name of placeholders(remote.url)) {
      if (!remote.variables?.[name]) problems.push(`${where}.url: {${name}} is not declared in variables`);
    }
    const authorization = (remote.headers ?? []).find(
      (header) => header.name?.toLowerCase() === "authorization",
    );
    if (!authorization?.isSecret || !authorization.isRequired || !/^Bearer /.test(authorization.value ?? ""))
      problems.push(`${where}.headers: must hold a required, secret Authorization: Bearer header`);
    for (const header of remote.headers ?? []) {
      for (const name of placeholders(header.value)) {
        const variable = header.variables?.[name];
        if (!variable)
          problems.push(`${where}.headers.${header.name}: {${name}} is not declared in variables`);
        else if (header.isSecret && !variable.isSecret)
          problems.push(
            `${where}.headers.${header.name}: variable {${name}} of a secret header must be secret`,
          );
      }
    }
  }
  return problems;
}

/** Every problem of server.json: under our schema, under the published one when given, and against the code. */
export function checkServerJson(document: unknown, pkg: PackageJson, publishedSchema?: object): string[] {
  ourSchema ??= JSON.parse(readFileSync(SCHEMA_PATH, "utf8")) as object;
  const problems = schemaProblems(document, ourSchema).map((problem) => `schema: ${problem}`);
  if (publishedSchema) {
    const id = (publishedSchema as { $id?: string }).$id;
    if (id !== (document as ServerJson).$schema)
      problems.push(`published schema: its $id ${id} is not server.json's $schema`);
    problems.push(
      ...schemaProblems(document, publishedSchema).map((problem) => `published schema: ${problem}`),
    );
  }
  problems.push(...deletegateProblems(document as ServerJson, pkg));
  return problems;
}

function main(): number {
  const { values } = parseArgs({ options: { schema: { type: "string" } } });
  const schemaFile = values.schema ?? process.env.DELETEGATE_REGISTRY_SCHEMA;
  if (schemaFile && !existsSync(schemaFile)) {
    process.stderr.write(`check:registry: no schema file at ${schemaFile}\n`);
    return 2;
  }
  const published = schemaFile ? (JSON.parse(readFileSync(schemaFile, "utf8")) as object) : undefined;
  const document = JSON.parse(readFileSync(SERVER_JSON_PATH, "utf8")) as unknown;
  const pkg = readPackageJson();
  const problems = checkServerJson(document, pkg, published);
  for (const problem of problems) process.stderr.write(`server.json ${problem}\n`);
  if (problems.length > 0) {
    process.stderr.write(`check:registry: ${problems.length} problem(s) in server.json\n`);
    return 1;
  }
  process.stderr.write(
    `check:registry: server.json is valid (${SCHEMA_URL} rules${schemaFile ? `, and ${schemaFile}` : ""}); ` +
      `name = mcpName ${pkg.mcpName}, version ${pkg.version} = package.json's\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = main();
