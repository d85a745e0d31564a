import sys
import time

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": "."}}
        ).execute()
        status = "ok"
    except Exception as exc:
        status = f"FAILED {type(exc).__name__}: {str(exc)[-1500:]}"
    result = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "NOTEBOOK_RESULT" in o.get("text", "")
    ]
    exe = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "EXE" in o.get("text", "")
    ]
    print(
        path,
        status,
        f"{time.perf_counter() - t:.1f}s",
        (result[-1][-600:] if result else "no NOTEBOOK_RESULT"),
        exe,
        flush=True,
    )
    nbformat.write(nb, path.replace(".ipynb", ".out.ipynb"))
