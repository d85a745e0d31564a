#!/bin/sh
# Every multiprocessing scenario once per ledger kind, from the installed wheel.
# usage: run_mp.sh PYTHON KINDS...
PY=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
for kind in "$@"; do
  for mode in pool-fork pool-spawn pool-forkserver proc-fork proc-spawn proc-forkserver ppe-fork ppe-spawn ppe-forkserver crash-exit crash-kill crash-killlate; do
    W=$(mktemp -d /tmp/fork-mp.XXXXXX)
    [ "$kind" = postgres ] && "$PY" "$HERE/pg_reset.py"
    timeout 300 "$PY" "$HERE/mp_scenarios.py" "$kind" "$mode" "$W" 2>"$W/stderr" || echo "{\"kind\": \"$kind\", \"mode\": \"$mode\", \"failed\": $?}"
    grep -h "closed:\|exitcode\|Error\|LOST" "$W/stderr" | sed 's/^/    /' | sort | uniq -c | head -8
    rm -rf "$W"
  done
done
