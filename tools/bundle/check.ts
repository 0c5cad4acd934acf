// The proof that the bundle `npm run bundle` wrote runs: unpacks the .mcpb into an empty temp folder (outside the
// repo, so nothing resolves from the repo's node_modules), checks that it holds exactly the production dependencies,
// starts the server the way a host does (the manifest's mcp_config, resolved by the MCPB library) and drives a stdio
// session with the SDK client: tools/list, list_backends, then a dry run and an execute against a Splendor simulator.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { callTool, jobAtEnd } from "../lib/tool-calls.js";
import { startSplendorSimulator } from "../simulators/splendor.js";
import { hostLaunch } from "./launch.js";
import { bundleFile, type Manifest, MCPB, ROOT, readPackageJson } from "./paths.js";

const TOKEN = "bundle-check-splendor-token";
const TENANT = "acme";
const BACKEND = "splendor-bundle";

const results: { name: string; error?: string }[] = [];

async function check(name: string, body: () => void | Promise<void>): Promise<void> {
  try {
    await body();
    results.push({ name });
    process.stderr.write(`  ok    ${name}\n`);
  } catch (error) {
    results.push({ name, error: (error as Error).message });
    process.stderr.write(`  FAIL  ${name}: ${(error as Error).message}\n`);
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

interface LockEntry {
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
}

/** Lock entries that must be in the bundle (production) and those that must not be (dev only). */
function problemsWithDependencies(extension: string): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const problems: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === "") continue;
    const present = existsSync(join(extension, path));
    if (entry.dev && present) problems.push(`${path} (dev only) is in the bundle`);
    if (!entry.dev && !entry.devOptional && !entry.optional && !present)
      problems.push(`${path} (production) is missing`);
  }
  return problems;
}

async function main(): Promise<number> {
  const pkg = readPackageJson();
  const file = bundleFile(pkg.version);
  if (!existsSync(file)) {
    process.stderr.write(`bundle check: ${file} is missing: run \`npm run bundle\`\n`);
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), "deletegate-bundle-check-"));
  const extension = join(work, "extension");
  process.stderr.write(`bundle check: ${file}\n`);
  try {
    const unpack = spawnSync(process.execPath, [MCPB, "unpack", file, extension], { encoding: "utf8" });
    if (unpack.status !== 0) throw new Error(`mcpb unpack failed: ${unpack.stderr}${unpack.stdout}`);
    const manifest = JSON.parse(readFileSync(join(extension, "manifest.json"), "utf8")) as Manifest;

    await check("the manifest carries package.json's version and this build's platform", () => {
      assert(manifest.version === pkg.version, `manifest ${manifest.version}, package.json ${pkg.version}`);
      const platforms = manifest.compatibility.platforms ?? [];
      assert(platforms.length === 1 && platforms[0] === process.platform, `platforms ${platforms.join(",")}`);
    });
    await check("the entry point and the native SQLite addon are in it, the addon's sources are not", () => {
      assert(
        existsSync(join(extension, manifest.server.entry_point)),
        `${manifest.server.entry_point} missing`,
      );
      const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
      assert(existsSync(join(extension, addon)), `${addon} missing`);
      assert(
        !existsSync(join(extension, "node_modules/better-sqlite3/deps")),
        "better-sqlite3/deps is packed",
      );
    });
    await check("node_modules holds every production dependency and no dev dependency", () => {
      const problems = problemsWithDependencies(extension);
      assert(problems.length === 0, problems.slice(0, 10).join("; "));
    });

    let stderr = "";
    const sim = await startSplendorSimulator({ token: TOKEN, tenantId: TENANT });
    try {
      const state = join(work, "state");
      mkdirSync(state);
      const configPath = join(work, "deletegate.config.json");
      writeFileSync(
        configPath,
        JSON.stringify({
          store: `sqlite:${join(state, "state.db")}`,
          auditLog: join(state, "audit.jsonl"),
          confirmation: { mode: "token" },
          backends: {
            [BACKEND]: {
              kind: "splendor",
              baseUrl: sim.url,
              credentialEnv: "SPLENDOR_TOKEN",
              tenantId: TENANT,
              allowTargets: ["app-logs"],
            },
          },
        }),
      );
      // What a person enters in the install dialog: the config file and one secret; the other secrets stay empty.
      const launch = await hostLaunch(manifest, extension, {
        config_file: configPath,
        splendor_token: TOKEN,
      });
      const transport = new StdioClientTransport({
        // The host runs its own Node; here, the one running this check (the bundle's addon was built for it).
        command: launch.command === "node" ? process.execPath : launch.command,
        args: launch.args,
        env: { PATH: process.env.PATH ?? "", ...launch.env },
        cwd: work,
        stderr: "pipe",
      });
      transport.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const client = new Client({ name: "bundle-check", version: "1.0.0" });
      try {
        await check("the server starts from the unpacked bundle over stdio", async () => {
          await client.connect(transport);
        });
        await check("tools/list names the manifest's tools, in order", async () => {
          const listed = (await client.listTools()).tools.map((tool) => tool.name);
          const declared = manifest.tools.map((tool) => tool.name);
          assert(
            JSON.stringify(listed) === JSON.stringify(declared),
            `server ${listed}, manifest ${declared}`,
          );
        });
        await check("list_backends shows the configured backend", async () => {
          const listed = await callTool(client, "list_backends");
          const names = (listed.backends as { name: string }[]).map((backend) => backend.name);
          assert(names.join() === BACKEND, `backends ${names}`);
        });
        await check("a dry run and an execute delete the ids at the simulator", async () => {
          const ids = ["rec-1", "rec-2", "rec-3"];
          const plan = await callTool(client, "dry_run_delete", {
            backend: BACKEND,
            target: { dataset_id: "app-logs" },
            ids,
            reason: "Bundle check run",
          });
          const job = await jobAtEnd(
            client,
            await callTool(client, "execute_delete", {
              plan_id: plan.plan_id,
              confirmation_token: plan.confirmation.token,
              wait_seconds: 10,
            }),
            20_000,
          );
          assert(job.status === "succeeded", `job ${job.status}`);
          assert(job.counts.deleted === ids.length, `deleted ${job.counts.deleted}`);
          const deleted = [...sim.deleted("app-logs")].sort();
          assert(deleted.join() === ids.join(), `simulator deleted ${deleted}`);
          const audit = readFileSync(join(state, "audit.jsonl"), "utf8");
          assert(audit.includes('"event":"job.finished"'), "no job.finished line in the audit log");
        });
      } finally {
        await client.close().catch(() => {});
      }
    } finally {
      await sim.close();
    }
    if (results.some((result) => result.error)) process.stderr.write(`server stderr:\n${stderr}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const failed = results.filter((result) => result.error).length;
  process.stderr.write(`bundle check: ${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
