// The docs cannot drift from the code: generated blocks are what the generator writes, the lists of names (error
// codes, config keys, audit events, tools) match the code both ways, and every relative link and anchor resolves.
// Run `npm run build` first: the commands block is the built CLI's --help.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { BACKEND_KINDS } from "../../src/backends/index.js";
import { backendSchema, configSchema } from "../../src/config.js";
import { ERROR_CODES } from "../../src/gate/errors.js";
import { TOOLS } from "../../src/tools/index.js";
import { type KeyRole, keyPaths } from "../../tools/docs/config-keys.js";
import { fill, GENERATED, REGENERATE, registryFiles } from "../../tools/docs/generated.js";
import { codeSpans, headings, links, type Table, tables } from "../../tools/docs/markdown.js";
import { stringUnion } from "../../tools/docs/type-union.js";

const ROOT = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

/** README.md and every docs/*.md, as repo-relative paths. */
function docFiles(): string[] {
  const docs = readdirSync(resolve(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs.sort()];
}

/** The one code span a table cell must hold (a name column), or an error naming the row. */
function nameIn(cell: string | undefined, where: string): string {
  const spans = codeSpans(cell ?? "");
  if (spans.length === 0) throw new Error(`${where}: the first cell "${cell}" names nothing in backticks`);
  return spans[0] as string;
}

/** The first column of each table in `file` whose header's first cell is `column` (or starts with it). */
function namesInTables(file: string, column: string): { table: Table; names: string[] }[] {
  return tables(read(file))
    .filter((table) => (table.header[0] ?? "").startsWith(column))
    .map((table) => ({
      table,
      names: table.rows.map((row, index) => nameIn(row[0], `${file}:${table.line + 2 + index}`)),
    }));
}

/** What is in `a` and not in `b`, sorted. */
function minus(a: Iterable<string>, b: Iterable<string>): string[] {
  const other = new Set(b);
  return [...new Set(a)].filter((name) => !other.has(name)).sort();
}

describe("generated blocks", () => {
  it.each(Object.keys(GENERATED))(`%s is what ${REGENERATE} writes`, (file) => {
    const text = read(file);
    expect(text, `${file} is out of date: run ${REGENERATE}`).toBe(fill(file, text));
  });

  it(`the JSON files that list kinds are what the registries make (${REGENERATE} writes them)`, async () => {
    const files = await registryFiles();
    expect(Object.keys(files).sort()).toEqual(
      ["bundle/manifest.json", "examples/demo.config.json", "mcp.json", "server.json"].sort(),
    );
    for (const [file, content] of Object.entries(files)) {
      expect(JSON.parse(read(file)), `${file} is out of date: run ${REGENERATE}`).toEqual(content);
    }
  });
});

describe("names the docs list, against the code", () => {
  it("docs/error-codes.md lists exactly the codes of src/gate/errors.ts", () => {
    const listed = namesInTables("docs/error-codes.md", "code").flatMap(({ names }) => names);
    expect(minus(ERROR_CODES, listed), "codes missing from docs/error-codes.md").toEqual([]);
    expect(minus(listed, ERROR_CODES), "codes in docs/error-codes.md that src/gate/errors.ts lacks").toEqual(
      [],
    );
    expect(listed.length, "a code listed twice").toBe(new Set(listed).size);
  });

  it("docs/audit-log.md lists exactly the events of AuditEventName (src/audit/entry.ts)", () => {
    const events = stringUnion(resolve(ROOT, "src/audit/entry.ts"), "AuditEventName");
    const listed = namesInTables("docs/audit-log.md", "event").flatMap(({ names }) => names);
    expect(minus(events, listed), "events missing from docs/audit-log.md").toEqual([]);
    expect(minus(listed, events), "events in docs/audit-log.md that the code lacks").toEqual([]);
  });

  it("docs/tools.md describes exactly the tools of src/tools/index.ts", () => {
    const names = TOOLS.map((tool) => tool.name);
    const described = [...read("docs/tools.md").matchAll(/^- \*\*`([a-z_]+)`\*\*/gm)].map(
      (match) => match[1],
    );
    expect(described).toEqual(names);
  });

  it("docs/backends.md has a row and a section for exactly the kinds of src/backends/index.ts, with their caps", () => {
    const kinds = Object.values(BACKEND_KINDS);
    const [summary, ...others] = namesInTables("docs/backends.md", "kind");
    expect(others, "one table of kinds in docs/backends.md").toEqual([]);
    expect(summary?.names).toEqual(kinds.map((kind) => kind.kind));
    const column = (name: string) => summary?.table.header.findIndex((cell) => cell.startsWith(name)) ?? -1;
    const [target, cap, pace] = [column("target"), column("cap"), column("concurrency")];
    kinds.forEach((kind, index) => {
      const row = summary?.table.rows[index] ?? [];
      expect(codeSpans(row[target] ?? ""), `${kind.kind}: target`).toEqual(
        expect.arrayContaining(kind.targetFields),
      );
      expect((row[cap] ?? "").replace(/,/g, ""), `${kind.kind}: cap`).toContain(String(kind.maxBatchSize));
      expect(row[pace], `${kind.kind}: concurrency / requestsPerSecond`).toBe(
        `${kind.defaults.concurrency} / ${kind.defaults.requestsPerSecond}`,
      );
    });
    const sections = headings(read("docs/backends.md"))
      .filter((heading) => heading.level === 2)
      .map((heading) => codeSpans(heading.text)[0]);
    expect(sections).toEqual(kinds.map((kind) => kind.kind));
  });

  it("docs/erasure-lists.md gives every kind's preview read, and the ids each request reads", () => {
    const [preview, ...others] = namesInTables("docs/erasure-lists.md", "kind");
    expect(others).toEqual([]);
    expect(preview?.names).toEqual(Object.keys(BACKEND_KINDS));
    const perRequest = preview?.table.header.indexOf("ids per request") ?? -1;
    for (const [index, kind] of Object.values(BACKEND_KINDS).entries()) {
      const cell = preview?.table.rows[index]?.[perRequest];
      expect(cell, `${kind.kind}: ids per request`).toBe(kind.read ? String(kind.read.maxIdsPerRequest) : "");
    }
  });

  it("docs/configuration.md documents every key of the config schema in src/config.ts, and no other", () => {
    const code = keyPaths(configSchema as z.ZodType);
    const codeKinds = new Map<string, Set<string>>();
    for (const kind of Object.values(BACKEND_KINDS)) {
      for (const [path, role] of keyPaths(backendSchema(kind) as z.ZodType, "backends.<name>")) {
        code.set(path, role);
        codeKinds.set(path, (codeKinds.get(path) ?? new Set()).add(kind.kind));
      }
    }

    const documented = new Map<string, string[] | null>();
    for (const { table, names } of namesInTables("docs/configuration.md", "key")) {
      const prefix = codeSpans(table.header[0] as string)[0];
      const kindsColumn = table.header.indexOf("kinds");
      names.forEach((name, index) => {
        const path = prefix ? `${prefix}.${name}` : name;
        const kinds = kindsColumn < 0 ? null : codeSpans(table.rows[index]?.[kindsColumn] ?? "");
        expect(documented.has(path), `${path} is documented twice`).toBe(false);
        documented.set(path, kinds);
      });
    }
    const leaves = [...code].filter(([, role]: [string, KeyRole]) => role === "leaf").map(([path]) => path);
    expect(minus(leaves, documented.keys()), "keys missing from docs/configuration.md").toEqual([]);
    expect(
      minus(documented.keys(), code.keys()),
      "keys in docs/configuration.md that the schema lacks",
    ).toEqual([]);

    // A key only some kinds take is in the kind-specific table with exactly those kinds; a key of every kind is not.
    const allKinds = Object.keys(BACKEND_KINDS).sort();
    for (const [path, kinds] of codeKinds) {
      const taken = [...kinds].sort();
      const listed = documented.get(path);
      if (taken.length === allKinds.length) expect(listed ?? null, `${path}: a key of every kind`).toBeNull();
      else expect(listed ? [...listed].sort() : listed, `${path}: the kinds that take it`).toEqual(taken);
    }
  });
});

describe("links", () => {
  it("every relative link and anchor in README.md and docs/*.md resolves", () => {
    const broken: string[] = [];
    for (const file of docFiles()) {
      for (const link of links(read(file))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue;
        const [path = "", anchor] = link.target.split("#", 2);
        const target = path === "" ? resolve(ROOT, file) : resolve(ROOT, dirname(file), decodeURI(path));
        const where = `${file}:${link.line} → ${link.target}`;
        if (!existsSync(target)) {
          broken.push(`${where}: no file ${relative(ROOT, target)}`);
        } else if (anchor !== undefined) {
          const isMarkdown = statSync(target).isFile() && target.endsWith(".md");
          const anchors = isMarkdown
            ? headings(readFileSync(target, "utf8")).map((heading) => heading.anchor)
            : [];
          if (!anchors.includes(anchor)) broken.push(`${where}: no heading with anchor #${anchor}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("README.md links to every file in docs/", () => {
    const linked = new Set(
      links(read("README.md")).map((link) => join(link.target.split("#")[0] as string).replace(/^\.\//, "")),
    );
    const docs = docFiles().filter((file) => file !== "README.md");
    expect(minus(docs, linked), "docs/ files the README does not link to").toEqual([]);
  });
});
