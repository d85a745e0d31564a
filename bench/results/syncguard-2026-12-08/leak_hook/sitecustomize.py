"""Audit hook: log every open / sqlite3.connect / os.mkdir of a ``llm_costs.db*`` path in
``$SG_LEAK_ROOT`` to ``$SG_LEAK_LOG`` (default /tmp/sg_leak.log), with the running test
(``PYTEST_CURRENT_TEST``, inherited by child processes) and a stack. Loaded by putting this
folder on ``PYTHONPATH``; inert without ``SG_LEAK_ROOT``."""

import os
import sys
import traceback
from typing import Any

_ROOT = os.environ.get("SG_LEAK_ROOT", "")
_LOG = os.environ.get("SG_LEAK_LOG", "/tmp/sg_leak.log")


def _hook(event: str, args: Any) -> None:
    if event not in ("sqlite3.connect", "os.mkdir", "open"):
        return
    try:
        path = args[0]
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        path = os.fsdecode(path)
        if "llm_costs.db" not in os.path.basename(path):
            return
        full = os.path.abspath(path)
        if os.path.dirname(full) != _ROOT:
            return
        with open(_LOG, "a") as f:
            f.write(f"{event} {full} test={os.environ.get('PYTEST_CURRENT_TEST')} argv={sys.argv[:4]}\n")
            f.write("".join(traceback.format_stack(limit=14)[:-1]) + "\n----\n")
    except Exception:
        pass


if _ROOT:
    sys.addaudithook(_hook)
