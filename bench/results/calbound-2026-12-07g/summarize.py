"""Count claims and claims that failed on unseen test traffic in measure.py's output.

python bench/results/calbound-2026-12-07g/summarize.py measure_before.txt measure_after.txt
"""

from __future__ import annotations

import sys
from collections import defaultdict

for path in sys.argv[1:]:
    runs: dict[str, list[tuple[bool, bool, float]]] = defaultdict(list)
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for line in lines:
        parts = line.split("|")
        if len(parts) < 3 or line.startswith("set "):
            continue
        head = parts[0].split()
        key = f"{head[0]} @{head[3]}"
        met = parts[1].split()[0] == "MET"
        fail = "FAIL" in parts[2]
        rate = float(parts[-1]) if met else 0.0
        runs[key].append((met, fail, rate))
    print(path)
    for key, rs in runs.items():
        claims = [r for r in rs if r[0]]
        fails = sum(r[1] for r in rs)
        rate = sum(r[2] for r in claims) / len(claims) if claims else float("nan")
        print(
            f"  {key:16s} runs {len(rs):2d}  claimed {len(claims):2d}  below target on test {fails}  "
            f"mean test hit rate of claims {rate:.4f}"
        )
    allc = sum(r[0] for rs in runs.values() for r in rs)
    allf = sum(r[1] for rs in runs.values() for r in rs)
    print(f"  all: {sum(len(v) for v in runs.values())} runs, {allc} claims, {allf} below target on test")
