"""gc_in_cpu_rows.py with nothing queued per call (the SQLite ledger's write() drops what it
is given: no records written): the garbage collections that are not caused by queued calls.

    PYTHONPATH=$PWD python bench/results/reccpu-2026-12-08/gc_nothing_queued.py
"""

import runpy
from pathlib import Path

from llm_cost_hooks.ledger import SQLiteLedger

SQLiteLedger.write = lambda self, r: None  # type: ignore[method-assign,assignment]
runpy.run_path(str(Path(__file__).with_name("gc_in_cpu_rows.py")), run_name="__main__")
