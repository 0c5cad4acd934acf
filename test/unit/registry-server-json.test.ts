// server.json (the MCP Registry entry): the committed file passes `npm run check:registry`, and each kind of mistake
// a publisher could make in it (a broken registry rule, or a drift from package.json and the server) is caught.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readPackageJson } from "../../tools/bundle/paths.js";
import {
  CONFIG_VARIABLE,
  checkServerJson,
  SCHEMA_PATH,
  SCHEMA_URL,
  SECRET_VARIABLES,
  SERVER_JSON_PATH,
  schemaProblems,
} from "../../tools/registry/check.js";

const pkg = readPackageJson();
// biome-ignore lint/suspicious/noExplicitAny: server.json is mutated field by field below
const serverJson = (): any => JSON.parse(readFileSync(SERVER_JSON_PATH, "utf8"));
const problemsOf = (document: unknown) => checkServerJson(document, pkg);

describe("server.json", () => {
  it("passes the check as committed", () => {
    expect(problemsOf(serverJson())).toEqual([]);
  });

  it("is named by package.json's mcpName and versioned by package.json", () => {
    const document = serverJson();
    expect(pkg.mcpName).toBe("io.github.deletegate/deletegate");
    expect(document.name).toBe(pkg.mcpName);
    expect(document.version).toBe(pkg.version);
    expect(document.$schema).toBe(SCHEMA_URL);
  });

  it("lists the config path and every secret variable of the stdio server", () => {
    const names = serverJson().packages[0].environmentVariables.map(
      (variable: { name: string }) => variable.name,
    );
    expect(names.sort()).toEqual([CONFIG_VARIABLE, ...SECRET_VARIABLES].sort());
  });
});

describe("the check refuses a broken server.json", () => {
  const cases: [string, (document: ReturnType<typeof serverJson>) => void, RegExp][] = [
    [
      "no description",
      (d) => delete d.description,
      /schema: \(top\): must have required property 'description'/,
    ],
    [
      "a description over 100 characters",
      (d) => (d.description = "x".repeat(101)),
      /\/description: must NOT/,
    ],
    ["a name without a namespace", (d) => (d.name = "deletegate"), /\/name: must match pattern/],
    [
      'a package version "latest"',
      (d) => (d.packages[0].version = "latest"),
      /\/packages\/0\/version: must NOT/,
    ],
    ["a package without transport", (d) => delete d.packages[0].transport, /required property 'transport'/],
    ["an unknown transport type", (d) => (d.packages[0].transport.type = "ws"), /\/packages\/0\/transport/],
    [
      "a remote URL without a scheme",
      (d) => (d.remotes[0].url = "{host}/mcp"),
      /\/remotes\/0\/url: must match/,
    ],
    ["a secret flag that is not a boolean", (d) => (d.remotes[0].headers[0].isSecret = "yes"), /isSecret/],
    [
      "a name other than mcpName",
      (d) => (d.name = "io.github.someone/deletegate"),
      /name: must equal .* mcpName/,
    ],
    ["a server version other than package.json's", (d) => (d.version = "9.9.9"), /^version: must equal/],
    [
      "a package version other than package.json's",
      (d) => (d.packages[0].version = "0.0.1"),
      /npm\]\.version/,
    ],
    ["another npm package name", (d) => (d.packages[0].identifier = "deletegate-cli"), /identifier: must be/],
    ["a runtime hint other than npx", (d) => (d.packages[0].runtimeHint = "node"), /runtimeHint/],
    [
      "a mirror instead of the npm registry",
      (d) => (d.packages[0].registryBaseUrl = "https://npm.example"),
      /Base/,
    ],
    [
      "a secret not marked secret",
      (d) => (d.packages[0].environmentVariables[1].isSecret = false),
      /SPLENDOR_TOKEN must be listed with isSecret/,
    ],
    [
      "no config variable",
      (d) => d.packages[0].environmentVariables.shift(),
      /DELETEGATE_CONFIG must be listed, required/,
    ],
    [
      "an unknown variable",
      (d) => d.packages[0].environmentVariables.push({ name: "SPLENDOR_KEY", isSecret: true }),
      /unknown SPLENDOR_KEY/,
    ],
    ["a remote not at /mcp", (d) => (d.remotes[0].url = "https://{host}/"), /must end with \/mcp/],
    [
      "an undeclared URL variable",
      (d) => (d.remotes[0].url = "https://{host}:{port}/mcp"),
      /\{port\} is not/,
    ],
    [
      "an undeclared header variable",
      (d) => delete d.remotes[0].headers[0].variables.token,
      /Authorization: \{token\} is not declared/,
    ],
    [
      "a bearer header not marked secret",
      (d) => (d.remotes[0].headers[0].isSecret = false),
      /required, secret Authorization: Bearer header/,
    ],
    ["no HTTP remote", (d) => delete d.remotes, /streamable-http entry/],
  ];
  for (const [what, mutate, expected] of cases) {
    it(`with ${what}`, () => {
      const document = serverJson();
      mutate(document);
      const problems = problemsOf(document);
      expect(
        problems.some((problem) => expected.test(problem)),
        problems.join("\n"),
      ).toBe(true);
    });
  }

  it("when package.json has no mcpName", () => {
    const { mcpName: _mcpName, ...withoutName } = pkg;
    expect(checkServerJson(serverJson(), withoutName)).toContain(
      "package.json: mcpName is missing (the registry checks it against name)",
    );
  });

  it("against a published schema whose $id is another version", () => {
    const ours = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
    const other = {
      ...ours,
      $id: "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json",
    };
    expect(checkServerJson(serverJson(), pkg, other)).toContain(
      `published schema: its $id ${other.$id} is not server.json's $schema`,
    );
  });
});

describe("our statement of the registry's schema", () => {
  it("compiles and accepts the registry's own examples of each form", () => {
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, "utf8"));
    const minimal = { name: "io.github.example/weather", description: "Weather data", version: "1.0.0" };
    expect(schemaProblems(minimal, schema)).toEqual([]);
    const withArguments = {
      ...minimal,
      packages: [
        {
          registryType: "oci",
          identifier: "ghcr.io/example/weather:1.0.0",
          transport: { type: "stdio" },
          runtimeArguments: [
            { type: "named", name: "--mount", value: "type=bind,src={source}", isRepeated: true },
          ],
          packageArguments: [{ type: "positional", valueHint: "target_dir" }],
        },
      ],
    };
    expect(schemaProblems(withArguments, schema)).toEqual([]);
    const positionalWithoutValue = {
      ...minimal,
      packages: [{ ...withArguments.packages[0], packageArguments: [{ type: "positional" }] }],
    };
    expect(schemaProblems(positionalWithoutValue, schema)).toContain(
      "/packages/0/packageArguments/0: must have required property 'valueHint'",
    );
  });
});
