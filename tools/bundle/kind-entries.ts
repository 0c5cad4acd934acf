// The parts of bundle/manifest.json and server.json that name backend kinds, made from the simulator registry
// (tools/simulators/index.ts): each kind's secret variable as a masked optional setting, and the services the
// bundle's long description names. Everything else in both files is written by hand and kept as it is.
// `npm run docs` writes them; the tests compare the committed files with what this makes.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { SERVER_JSON_PATH } from "../registry/check.js";
import type { KindFixture } from "../simulators/fixture.js";
import { FIXTURES } from "../simulators/index.js";
import { MANIFEST_PATH, type Manifest, ROOT } from "./paths.js";

/** The secret every setup may need beside the kinds' keys: approval webhooks sign with it. */
const WEBHOOK = {
  env: "DELETEGATE_WEBHOOK_SECRET",
  setting: "webhook_secret",
  title: "Approval webhook secret",
  manifestUse: "approval.notify webhooks whose secretEnv is DELETEGATE_WEBHOOK_SECRET",
  registryDescription: "Signing secret of approval webhooks whose secretEnv is DELETEGATE_WEBHOOK_SECRET.",
};

function credentialTitle(fixture: KindFixture): string {
  return `${fixture.service} ${fixture.credential}`;
}

function listOf(names: string[]): string {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

function maskedSetting(title: string, env: string, use: string) {
  return {
    type: "string",
    title: `${title} (${env})`,
    description: `For ${use}. Leave empty if you have none.`,
    sensitive: true,
    required: false,
    // An empty default: a host then passes "" (unset for deletegate), never the literal "${user_config.…}".
    default: "",
  };
}

/** The manifest with its kind-dependent fields made from the registry, every other field as given. */
export function manifestFromRegistry(manifest: Manifest): Manifest {
  const secrets = [
    ...FIXTURES.map((fixture) => ({
      env: fixture.credentialEnv,
      // The variable's name in lower case: SPLENDOR_TOKEN → splendor_token.
      key: fixture.credentialEnv.toLowerCase(),
      setting: maskedSetting(
        credentialTitle(fixture),
        fixture.credentialEnv,
        `backends whose credentialEnv is ${fixture.credentialEnv}`,
      ),
    })),
    {
      env: WEBHOOK.env,
      key: WEBHOOK.setting,
      setting: maskedSetting(WEBHOOK.title, WEBHOOK.env, WEBHOOK.manifestUse),
    },
  ];
  const { config_file: configFile } = manifest.user_config;
  if (!configFile) throw new Error(`${relative(ROOT, MANIFEST_PATH)}: user_config.config_file is missing`);
  return {
    ...manifest,
    long_description: longDescription(),
    server: {
      ...manifest.server,
      mcp_config: {
        ...manifest.server.mcp_config,
        env: Object.fromEntries(secrets.map(({ env, key }) => [env, `\${user_config.${key}}`])),
      },
    },
    user_config: {
      config_file: configFile,
      ...Object.fromEntries(secrets.map(({ key, setting }) => [key, setting])),
    },
  };
}

function longDescription(): string {
  const services = listOf(FIXTURES.map((fixture) => fixture.service));
  return [
    `deletegate gives an agent six tools to delete records in the data services you configure (${services}). ` +
      "Every delete is previewed first (dry run), needs a confirmation and a written reason, runs in batches as a " +
      "durable job whose status can be read at any time, and is written to an audit log.",
    "The bundle needs a deletegate config file (JSON): create one with `npx -y deletegate init`, which writes " +
      "absolute paths for the store and the audit log. Secrets never live in that file: enter each backend's key " +
      "below, under the variable name the config's `credentialEnv` uses (the names `deletegate init` writes by default).",
  ].join("\n\n");
}

interface RegistryVariable {
  name: string;
  description: string;
  isRequired: boolean;
  isSecret?: boolean;
  [key: string]: unknown;
}

interface ServerJson {
  packages: { registryType: string; environmentVariables?: RegistryVariable[]; [key: string]: unknown }[];
  [key: string]: unknown;
}

/** server.json with its npm package's secret variables made from the registry; other variables kept, first. */
export function serverJsonFromRegistry(document: ServerJson): ServerJson {
  const secret = (name: string, description: string): RegistryVariable => ({
    name,
    description,
    isRequired: false,
    isSecret: true,
  });
  const secrets = [
    ...FIXTURES.map((fixture) =>
      secret(
        fixture.credentialEnv,
        `${credentialTitle(fixture)}, for backends whose credentialEnv is ${fixture.credentialEnv}.`,
      ),
    ),
    secret(WEBHOOK.env, WEBHOOK.registryDescription),
  ];
  const names = new Set(secrets.map((variable) => variable.name));
  return {
    ...document,
    packages: document.packages.map((entry) =>
      entry.registryType !== "npm"
        ? entry
        : {
            ...entry,
            environmentVariables: [
              // The variables that are not secret (the config path) are the file's own; the secrets are the kinds'
              // and the webhook's, as made here.
              ...(entry.environmentVariables ?? []).filter(
                (variable) => !variable.isSecret && !names.has(variable.name),
              ),
              ...secrets,
            ],
          },
    ),
  };
}

/** Both files as the registry makes them from what is committed, by path from the repository root. */
export function packagingFiles(): Record<string, unknown> {
  const read = (path: string) => JSON.parse(readFileSync(path, "utf8"));
  return {
    [relative(ROOT, MANIFEST_PATH)]: manifestFromRegistry(read(MANIFEST_PATH) as Manifest),
    [relative(ROOT, SERVER_JSON_PATH)]: serverJsonFromRegistry(read(SERVER_JSON_PATH) as ServerJson),
  };
}
