#!/usr/bin/env bash
# Install Arize Phoenix into its own virtualenv (default: .test-servers/phoenix-venv): it pulls
# in ~800 MB (pandas, SQLAlchemy, gRPC, a web UI) and pins that would fight the app's own.
#
#   bash integrations/phoenix/install_phoenix.sh [VENV_DIR]
#   VENV_DIR/bin/phoenix serve       # UI and OTLP/HTTP on http://localhost:6006
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VENV="${1:-.test-servers/phoenix-venv}"
PHOENIX_VERSION="${PHOENIX_VERSION:-20.26.1}"
# A venv cannot be moved (its scripts name their interpreter by absolute path), so it is
# built in place and marked complete at the end; an unmarked one is a broken earlier try.
if [ -x "$VENV/bin/phoenix" ] && [ -f "$VENV/.installed" ]; then
    echo "==> Phoenix already installed in $VENV"
    exit 0
fi
PY="${PYTHON:-python3}"
echo "==> installing arize-phoenix==$PHOENIX_VERSION into $VENV"
rm -rf "$VENV" "$VENV.partial"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
    "arize-phoenix==$PHOENIX_VERSION"
touch "$VENV/.installed"
