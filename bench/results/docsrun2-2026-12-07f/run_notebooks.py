"""Execute each notebook with nbclient on the current interpreter's python3 kernel.

    cp notebooks/*.ipynb DIR && LLM_COST_HOOKS_DATA_DIR=/path/to/shared/data \
        VENV/bin/python run_notebooks.py DIR/*.ipynb
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

failed = 0
for name in sys.argv[1:]:
    path = Path(name)
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    t0 = time.monotonic()
    try:
        client.execute(env={**os.environ, "MPLBACKEND": "Agg"})
        status = "ok"
    except Exception as exc:  # a failing cell: report it and go on to the next notebook
        status = f"FAIL {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
        failed += 1
    last = [
        line
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        for line in out.get("text", "").splitlines()
        if line.startswith("NOTEBOOK_RESULT ")
    ]
    print(f"{status:4} {path.name} ({time.monotonic() - t0:.1f} s)")
    if last:
        print("     " + last[-1][:600])
sys.exit(1 if failed else 0)
