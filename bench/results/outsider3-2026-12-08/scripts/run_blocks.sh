#!/bin/bash
# Every ```python block of the audited pages, each in its own empty directory, from the
# wheel's venv (no repository on the path). PG / REDIS: URLs printed by servers.py.
# Usage: bash run_blocks.sh OUTDIR [PYTHONPATH-for-after]
set -u
OUT=$1; mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)
DOCS=$HERE/../../../../docs
export PATH=/tmp/o3v/bin:/usr/bin:/bin HOME=/tmp/o3e/home HF_HUB_OFFLINE=1
[ $# -ge 2 ] && export PYTHONPATH=$2
rm -rf /tmp/o3blocks && for p in budgets context-and-alerts fleet litellm routing errors; do
  python "$HERE/extract_blocks.py" "$DOCS/$p.md" /tmp/o3blocks > /dev/null; done
for f in /tmp/o3blocks/*.py; do
  b=$(basename "$f" .py); d=/tmp/o3e/blocks/$b; rm -rf "$d"; mkdir -p "$d"; cd "$d"
  extra=()
  case $b in fleet_1) extra=(env "LLM_COST_HOOKS_LEDGER=${PG:-memory://}");; fleet_2) extra=(env "REDIS_URL=${REDIS:-}");; esac
  { cat /proc/loadavg; "${extra[@]}" timeout 300 python "$f"; echo "exit=$?"; ls; } > "$OUT/$b.txt" 2>&1
done
