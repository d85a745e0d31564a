import sys
import time

import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    t = time.time()
    try:
        NotebookClient(nb, timeout=300, kernel_name="o4v", resources={"metadata": {"path": "."}}).execute()
        status = "ok"
    except Exception as e:
        status = f"FAILED {type(e).__name__}: {str(e)[-800:]}"
    nbformat.write(nb, path.replace(".ipynb", ".out.ipynb"))
    res = ""
    for c in nb.cells:
        for o in c.get("outputs", []):
            txt = o.get("text", "")
            if "NOTEBOOK_RESULT" in txt:
                res = txt.strip()[:400]
    print(path, status, f"{time.time() - t:.1f}s", res, flush=True)
