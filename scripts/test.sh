#!/usr/bin/env bash
# Install everything and run the test suite -- the one command for a fresh
# clone, a developer machine or CI:
#
#   bash scripts/test.sh                 # whole suite, -q
#   bash scripts/test.sh tests/test_x.py -k foo -x   # args go to pytest
#
# Steps: create .venv (python3 >= 3.10) if missing, pip install -e '.[dev]',
# provide OpenSSL 1.1 for the Redis Stack test server, install PostgreSQL's server
# binaries with apt when missing, run pytest. The tests
# start the servers they need themselves (tests/conftest.py, tests/_servers.py).
# Exits non-zero on any failure, including pytest collecting no tests (exit 5).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "==> $*"; }

# --- virtualenv (shared with scripts/demo.sh) --------------------------------
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

# --- dependencies ---------------------------------------------------------
say "pip install -e '.[dev]'"
python -m pip install --disable-pip-version-check --progress-bar off -q -e '.[dev]'

say "OpenSSL 1.1 for the Redis Stack server"
bash scripts/provide_libssl11.sh

say "PostgreSQL server binaries for the fleet-ledger tests"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql
    else
        echo "WARNING: no initdb found and no apt-get; install PostgreSQL server binaries" >&2
    fi
fi

say "key package versions"
python --version
# grep exits 1 when nothing matches; that must not stop the run.
python -m pip freeze --disable-pip-version-check | grep -iE 'langchain-core|litellm|redisvl|opentelemetry-sdk|psycopg' || true

# --- tests ----------------------------------------------------------------
# Offline, deterministic test runs: litellm reads its bundled price map
# instead of fetching it, onnxruntime and the Hugging Face hub stay offline.
export LITELLM_LOCAL_MODEL_COST_MAP=True
export ORT_DISABLE_TELEMETRY=1
export HF_HUB_OFFLINE=1

if [ "$#" -eq 0 ]; then
    set -- -q
fi

say "python -m pytest $*"
rc=0
python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    # pytest's "no tests collected" is a failure here: a suite that runs
    # nothing must not pass.
    echo "ERROR: pytest collected no tests (exit 5)" >&2
fi
exit "$rc"
