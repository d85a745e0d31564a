# Sourced by scripts/test.sh and scripts/demo.sh (cwd = repository root):
# create .venv with Python >= 3.10 if missing, then put it first on PATH.
# shellcheck shell=bash

say() { echo "==> $*"; }

# --- virtualenv -----------------------------------------------------------
py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; }

# A .venv copied from elsewhere or whose base Python was removed is broken:
# rebuild it rather than fail obscurely later.
if [ -e .venv ] && ! { [ -x .venv/bin/python ] && py_ok .venv/bin/python; }; then
    say "existing .venv is unusable or older than Python 3.10; recreating it"
    rm -rf .venv
fi

if [ ! -e .venv ]; then
    PY=""
    for cand in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$cand" >/dev/null 2>&1 && py_ok "$cand"; then
            PY="$cand"
            break
        fi
    done
    if [ -z "$PY" ]; then
        echo "ERROR: no Python >= 3.10 found (tried \$PYTHON, python3, python3.13 .. python3.10)" >&2
        exit 1
    fi
    say "creating .venv with $PY ($("$PY" --version 2>&1))"
    if ! "$PY" -m venv .venv; then
        echo "ERROR: '$PY -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
        rm -rf .venv
        exit 1
    fi
    # The pip bundled with a fresh venv may be old; newer pip resolves faster.
    .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
fi

# Use the venv for everything below (tests may run console scripts from it).
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
unset PYTHONHOME

