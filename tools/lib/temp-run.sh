# Sourced by the bash test scripts that work in a temp folder (tools/pack/run.sh, tools/node22/run.sh):
# `temp_run NAME` makes $TMP (removed at exit, whatever the exit), sets $STARTED, turns Ctrl-C and SIGTERM into the
# usual exit statuses, and defines `log`, which prints a step with the seconds since the start.
temp_run() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/deletegate-$1.XXXXXX")
  STARTED=$SECONDS
  trap 'status=$?; rm -rf "$TMP"; exit "$status"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

log() { printf '\n== %s (at %s s)\n' "$*" "$((SECONDS - STARTED))"; }
