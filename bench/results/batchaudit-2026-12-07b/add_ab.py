"""A/B: seconds to queue n requests with BatchQueue.add() (state on disk).

python add_ab.py 500 1000 2000 4000
"""

import sys
import tempfile
import time
from pathlib import Path

from llm_cost_hooks.batch import BatchQueue

for n in map(int, sys.argv[1:]):
    d = Path(tempfile.mkdtemp())
    q = BatchQueue(None, d / "s.json", ledger="memory://")
    t = time.perf_counter()
    for i in range(n):
        q.add(
            "gpt-4o-mini",
            [{"role": "user", "content": f"Summarise document {i}: " + "lorem ipsum " * 40}],
            custom_id=f"r{i}",
            metadata={"tenant_id": "a"},
        )
    dt = time.perf_counter() - t
    written = sum(f.stat().st_size for f in d.iterdir())  # state file and/or its queue journal
    print(f"{n} adds: {dt:.2f} s ({dt / n * 1e3:.2f} ms/add), on disk {written / 1e6:.1f} MB")
