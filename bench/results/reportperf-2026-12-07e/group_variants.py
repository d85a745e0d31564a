"""SQLite alone: a totals-like GROUP BY a name over every record, three ways, interleaved.

python group_variants.py LEDGER.db RUNS [only]
raw: GROUP BY feature (what the reports did before the empty-name fix; "" and none apart)
nullif: GROUP BY NULLIF(feature, '') (the reports now)
outer: GROUP BY feature in a subquery, NULLIF and re-summed over its few rows outside
"""

import sqlite3
import statistics
import sys
import time

MEASURES = (
    "COUNT(*) AS calls, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, "
    "SUM(cost_usd) AS cost_usd, SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) AS errors"
)
OUTER = "SUM(calls), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), SUM(errors)"
Q = {
    "raw": f"SELECT feature AS k, {MEASURES} FROM cost_records GROUP BY feature",
    "nullif": f"SELECT NULLIF(feature, '') AS k, {MEASURES} FROM cost_records GROUP BY NULLIF(feature, '')",
    "outer": f"SELECT NULLIF(k, '') AS k, {OUTER} FROM "
    f"(SELECT feature AS k, {MEASURES} FROM cost_records GROUP BY feature) GROUP BY NULLIF(k, '')",
}
path, runs, *only = sys.argv[1:]
conn = sqlite3.connect(path)
names = only or list(Q)
res: dict[str, list[float]] = {n: [] for n in names}
results = {}
for _ in range(int(runs)):
    for n in names:
        t = time.process_time()
        rows = conn.execute(Q[n]).fetchall()
        res[n].append(time.process_time() - t)
        results[n] = sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))
for n, v in res.items():
    v.sort()
    print(
        f"{n}: median {statistics.median(v) * 1000:.1f} ms (min {v[0] * 1000:.1f}, max {v[-1] * 1000:.1f}), {len(v)} runs"
    )
if "nullif" in results and "outer" in results:
    a, b = results["nullif"], results["outer"]
    same_keys = [r[0] for r in a] == [r[0] for r in b]
    same_ints = all(x[:4] == y[:4] and x[5] == y[5] for x, y in zip(a, b))
    worst = max(abs(x[4] - y[4]) for x, y in zip(a, b))
    print(
        f"nullif vs outer: keys equal {same_keys}, counts equal {same_ints}, largest cost difference {worst:.3g}"
    )
