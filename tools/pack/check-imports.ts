// Every module the packed dist/ imports must be a Node built-in or one of the package's `dependencies`: a
// devDependency imported at run time works in the repo and breaks for everyone who installs the package.
// Usage: tsx tools/pack/check-imports.ts <unpacked package dir>   (exit 0 all resolved, 1 otherwise)
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";

const root = process.argv[2];
if (!root) {
  console.error("usage: tsx tools/pack/check-imports.ts <unpacked package dir>");
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
const devDependencies = new Set(Object.keys(manifest.devDependencies ?? {}));
const builtins = new Set(builtinModules);

/** Static imports and re-exports, side-effect imports, and dynamic import() of a string literal (what tsc emits). */
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)["']([^"']+)["']/gm;
/** A dynamic import() of anything but a string literal cannot be checked here, so it is refused. */
const DYNAMIC = /\bimport\s*\(\s*[^"'\s)]/g;

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(path);
    return entry.name.endsWith(".js") ? [path] : [];
  });
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
}

const problems: string[] = [];
const used = new Map<string, number>();
const files = jsFiles(join(root, "dist"));
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const where = relative(root, file);
  for (const match of text.matchAll(DYNAMIC))
    problems.push(`${where}: a dynamic import() of a computed name: ${match[0]}`);
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] as string;
    if (specifier.startsWith(".") || specifier.startsWith("node:") || builtins.has(specifier)) continue;
    const name = packageOf(specifier);
    used.set(name, (used.get(name) ?? 0) + 1);
    if (!dependencies.has(name)) {
      const kind = devDependencies.has(name) ? "a devDependency" : "not a dependency";
      problems.push(`${where} imports "${specifier}", ${kind} of the package`);
    }
  }
}
if (files.length === 0) problems.push("dist/ holds no .js file");
if (problems.length > 0) {
  console.error(
    `check-imports: ${problems.length} problem(s):\n${problems.map((line) => `  ${line}`).join("\n")}`,
  );
  process.exit(1);
}
const list = [...used].sort().map(([name, count]) => `${name} (${count})`);
console.log(
  `check-imports: ${files.length} files import only built-ins and dependencies: ${list.join(", ")}`,
);
// Said, not failed: an unused dependency costs every install time and disk, but breaks nothing.
const unused = [...dependencies].filter((name) => !used.has(name));
if (unused.length > 0) console.log(`check-imports: dependencies dist/ never imports: ${unused.join(", ")}`);
