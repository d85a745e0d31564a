#!/usr/bin/env bash
# The main job on a fresh machine: check what can be checked, set up .venv, install the
# package with the extras the demo uses (offline embedder, charts, OTLP export), run
# `llm-cost demo`.
#
#   bash scripts/demo.sh                    # args go to `llm-cost demo`, e.g. --limit 400
#   bash scripts/demo.sh --data DIR         # replay the full Banking77 + RouterBench sets in DIR
#   bash scripts/demo.sh --otlp http://localhost:4318   # also send the traces to a collector
#
# The demo replays real Banking77 customer queries and RouterBench prompts (a compact subset
# ships in the package: llm_cost_hooks/_demo/data/) through real LangChain chains, once
# without and then with each cost lever, on the embedded defaults (SQLite ledger,
# in-process caches, no server, no network). It prints the savings waterfall and writes
# demo_out/llm_costs.db and demo_out/savings_waterfall.png.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "==> $*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# --- checks before installing anything ----------------------------------------
say "checking Python, disk space and the demo data"
found_py=""
for cand in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10; do
    if command -v "$cand" >/dev/null 2>&1 \
        && "$cand" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
        found_py="$cand"
        break
    fi
done
[ -x .venv/bin/python ] || [ -n "$found_py" ] \
    || die "no Python 3.10-3.13 found (tried \$PYTHON, python3, python3.13 .. python3.10)"
[ -x .venv/bin/python ] || "$found_py" -c 'import venv, ensurepip' 2>/dev/null \
    || die "'$found_py' has no venv/ensurepip module; on Debian/Ubuntu: apt-get install python3-venv"

# The install (onnxruntime, matplotlib, OpenTelemetry, langchain-core) takes about 400 MB.
free_mb=$(df -Pm . | awk 'NR == 2 { print $4 }')
if [ -n "$free_mb" ] && [ "$free_mb" -lt 1024 ] && [ ! -e .venv ]; then
    die "only ${free_mb} MB free here; the virtualenv needs about 1 GB while installing"
fi

data_arg=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "--data" ]; then data_arg="$arg"; fi
    case "$arg" in --data=*) data_arg="${arg#--data=}" ;; esac
    prev="$arg"
done
data_dir="${data_arg:-${LLM_COST_HOOKS_DATA_DIR:-llm_cost_hooks/_demo/data}}"
for f in semantic_cache/banking77/test.csv.gz semantic_cache/banking77/train.csv.gz; do
    [ -f "$data_dir/$f" ] || die "demo data missing: $data_dir/$f (the shipped subset lives in llm_cost_hooks/_demo/data/)"
done
ls "$data_dir"/routing/routerbench_train/*.csv* >/dev/null 2>&1 \
    || die "demo data missing: $data_dir/routing/routerbench_train/*.csv.gz"
say "data: $data_dir"

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

say "pip install -e '.[demo,otlp]'"
python -m pip install --disable-pip-version-check --progress-bar off -q -e '.[demo,otlp]'

export LITELLM_LOCAL_MODEL_COST_MAP=True
export ORT_DISABLE_TELEMETRY=1
export HF_HUB_OFFLINE=1

say "llm-cost demo $*"
exec llm-cost demo "$@"
