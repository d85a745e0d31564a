#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, install the package, run the demo.
#
#   bash scripts/demo.sh            # args go to `llm-cost demo`, e.g. --limit 1000
#
# The demo replays real Banking77 customer queries from ../shared/data through real
# LangChain chains on the embedded defaults (SQLite ledger, no server, no network).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

say "pip install -e ."
python -m pip install --disable-pip-version-check --progress-bar off -q -e .

export LITELLM_LOCAL_MODEL_COST_MAP=True
export ORT_DISABLE_TELEMETRY=1
export HF_HUB_OFFLINE=1

say "llm-cost demo $*"
exec llm-cost demo "$@"
