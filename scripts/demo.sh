#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, install the package with the extras the
# demo uses (offline embedder, charts, OTLP export), run `llm-cost demo`.
#
#   bash scripts/demo.sh                    # args go to `llm-cost demo`, e.g. --limit 400
#   bash scripts/demo.sh --otlp http://localhost:4318   # also send the traces to a collector
#
# The demo replays real Banking77 customer queries and RouterBench prompts from
# ../shared/data through real LangChain chains, once without and then with each cost lever,
# on the embedded defaults (SQLite ledger, in-process caches, no server, no network). It
# prints the savings waterfall and writes demo_out/llm_costs.db and
# demo_out/savings_waterfall.png.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

say "pip install -e '.[embed,charts,otlp]'"
python -m pip install --disable-pip-version-check --progress-bar off -q -e '.[embed,charts,otlp]'

export LITELLM_LOCAL_MODEL_COST_MAP=True
export ORT_DISABLE_TELEMETRY=1
export HF_HUB_OFFLINE=1

say "llm-cost demo $*"
exec llm-cost demo "$@"
