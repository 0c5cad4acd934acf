#!/usr/bin/env bash
# The npm package as people get it (issue 15), run by CI: a green repo can still ship a broken package.
#   1. `npm pack` (its prepare script builds dist/ afresh) into a temp folder;
#   2. the tarball: dist/cli.js executable with its `#!/usr/bin/env node` line, the console's assets, README,
#      nothing of src/, test/ or tools/; every module dist/ imports a built-in or a dependency (check-imports.ts);
#   3. `npm install <tarball>` into an empty folder: dependencies only (no devDependency), better-sqlite3
#      built from source (no prebuilt binary can be downloaded here), the package's own prepare not run;
#   4. through npx in that folder: --version, then session.ts: init, check-config, and a stdio session driven
#      by the SDK client (dry run + execute in token mode) against a Splendor simulator, checking the
#      simulator's deletes and the audit log.
# Everything goes to one temp folder, removed at exit.
#
# Usage: tools/pack/run.sh      (needs `npm ci` done: the driver uses the repo's SDK client and tsx)
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/temp-run.sh
source "$ROOT/tools/lib/temp-run.sh"
temp_run pack
die() {
  echo "pack: FAILED: $*" >&2
  exit 1
}

cd "$ROOT"
VERSION=$(node -p 'require("./package.json").version')

# ---------------------------------------------------------------------------------------------------
log "npm pack (prepare builds dist/ from a clean folder, so no stale file is packed)"
rm -rf dist
npm pack --pack-destination "$TMP" --json >"$TMP/pack.json" 2>"$TMP/pack.log" || {
  cat "$TMP/pack.log" >&2
  die "npm pack failed"
}
TGZ="$TMP/$(node -p 'JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))[0].filename' "$TMP/pack.json")"
[[ -f "$TGZ" ]] || die "npm pack wrote no tarball"
echo "$(basename "$TGZ"): $(du -k "$TGZ" | cut -f1) KiB"

# ---------------------------------------------------------------------------------------------------
log "the tarball's contents"
tar -tvzf "$TGZ" >"$TMP/list"
awk '{ print $NF }' "$TMP/list" | sort >"$TMP/paths"
echo "$(wc -l <"$TMP/paths") files"
grep -Eq '^-rwxr-xr-x .* package/dist/cli\.js$' "$TMP/list" || {
  grep 'package/dist/cli.js$' "$TMP/list" >&2
  die "dist/cli.js is not executable (rwxr-xr-x) in the tarball"
}
for path in package/package.json package/README.md package/dist/cli.js \
  package/dist/console/assets/console.css package/dist/console/assets/console.js; do
  grep -qx "$path" "$TMP/paths" || die "the tarball has no $path"
done
# Only dist/ and the files npm always adds; nothing of src/, test/, tools/, examples/ or the repo's dotfiles.
if grep -vE '^package/(dist/.+|package\.json|README\.md|LICENSE)$' "$TMP/paths" >"$TMP/extra"; then
  cat "$TMP/extra" >&2
  die "the tarball holds files outside dist/"
fi
mkdir "$TMP/unpacked"
tar -xzf "$TGZ" -C "$TMP/unpacked"
SHEBANG=$(head -n 1 "$TMP/unpacked/package/dist/cli.js")
[[ "$SHEBANG" == "#!/usr/bin/env node" ]] || die "dist/cli.js starts with \"$SHEBANG\", not #!/usr/bin/env node"
echo "dist/cli.js: rwxr-xr-x, $SHEBANG"
npx --no-install tsx tools/pack/check-imports.ts "$TMP/unpacked/package"

# ---------------------------------------------------------------------------------------------------
log "npm install of the tarball into an empty folder (better-sqlite3 compiles: about a minute)"
APP="$TMP/app"
mkdir "$APP" "$TMP/run"
# What a project that depends on deletegate writes: npm 12 runs a dependency's install script only when
# allowScripts names it, and better-sqlite3's builds the native addon.
printf '{ "private": true, "allowScripts": { "better-sqlite3": true } }\n' >"$APP/package.json"
INSTALL_STARTED=$SECONDS
(cd "$APP" && npm install --no-audit --no-fund --foreground-scripts "$TGZ") >"$TMP/install.log" 2>&1 || {
  tail -n 60 "$TMP/install.log" >&2
  die "npm install of the tarball failed"
}
echo "installed in $((SECONDS - INSTALL_STARTED)) s"
# npm runs a package's prepare for git and folder installs only: a tarball consumer has no devDependencies to build with.
if grep -E '^> deletegate@[^ ]+ prepare' "$TMP/install.log"; then die "installing the tarball ran deletegate's prepare script"; fi
[[ -f "$APP/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]] ||
  die "better-sqlite3's native addon was not built (see the install log)"
DEV_DEPENDENCIES=$(node -p 'Object.keys(require("./package.json").devDependencies ?? {}).join(" ")')
for dev in $DEV_DEPENDENCIES; do
  if [[ -e "$APP/node_modules/$dev" ]]; then die "devDependency $dev was installed with the package"; fi
done
PACKAGES=$(cd "$APP" && npm ls --all --parseable 2>/dev/null | tail -n +2 | wc -l)
echo "$PACKAGES packages, none of the $(wc -w <<<"$DEV_DEPENDENCIES") devDependencies; better_sqlite3.node built"

# ---------------------------------------------------------------------------------------------------
log "the installed package through npx: --version"
# --no-install: npx must find the package installed here, never fetch one of that name from the registry.
GOT=$(cd "$APP" && npx --no-install deletegate --version)
[[ "$GOT" == "$VERSION" ]] || die "deletegate --version printed \"$GOT\", expected $VERSION"
echo "deletegate --version: $GOT"

log "init, check-config and a stdio session through the installed package"
npx --no-install tsx tools/pack/session.ts "$APP" "$TMP/run"

log "pack: all passed (took $((SECONDS - STARTED)) s)"
