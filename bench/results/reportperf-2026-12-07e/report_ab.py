"""Wall and CPU of `llm-cost report LEDGER` per build, runs interleaved.

python report_ab.py LEDGER RUNS NAME=PYTHONPATH [NAME=PYTHONPATH ...] [-- extra report args]
"""

import os
import statistics
import subprocess
import sys
import time

ledger, runs, *rest = sys.argv[1:]
extra = rest[rest.index("--") + 1 :] if "--" in rest else []
builds = [b.split("=", 1) for b in (rest[: rest.index("--")] if "--" in rest else rest)]
code = "import sys; from llm_cost_hooks.cli import main; sys.exit(main())"
res: dict[str, list[tuple[float, float]]] = {n: [] for n, _ in builds}
for _ in range(int(runs)):
    for name, path in builds:
        env = dict(os.environ, PYTHONPATH=path)
        t = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-c", code, "report", ledger, *extra], env=env, stdout=subprocess.DEVNULL
        )
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        assert status == 0, status
        res[name].append((wall, ru.ru_utime + ru.ru_stime))
for name, vals in res.items():
    w = sorted(v[0] for v in vals)
    c = sorted(v[1] for v in vals)
    print(
        f"{name}: runs {len(vals)}  wall median {statistics.median(w):.3f} s (min {w[0]:.3f}, max {w[-1]:.3f})"
        f"  CPU median {statistics.median(c):.3f} s (min {c[0]:.3f}, max {c[-1]:.3f})"
    )
