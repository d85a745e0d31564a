"""Claims, claims below target on the test traffic, and hit rate, per calibration share and true share.

python bench/results/newshare-2026-12-08/summarize.py measure_after.txt [measure_before.txt]
"""

from __future__ import annotations

import sys
from collections import defaultdict

runs: dict[tuple[str, str, str, str], list[tuple[bool, bool, float, float]]] = defaultdict(list)
estimates: dict[str, list[float]] = defaultdict(list)
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split("|")
            if len(parts) < 3 or line.startswith("set "):
                continue
            name, seed, tgt, cal, true = parts[0].split()
            head = parts[1].split()
            met = head[0] == "MET"
            if head[1] != "-" and true == "0.0":
                estimates[name].append(float(head[1]))
            fail = "FAIL" in parts[2]
            rate = float(parts[-1]) if met else 0.0
            prec = float(parts[2].split()[1]) if met and parts[2].split()[0] != "0/0" else float("nan")
            runs[(name, tgt, cal, true)].append((met, fail, rate, prec))


def row(key: tuple[str, str, str, str]) -> str:
    rs = runs[key]
    claims = [r for r in rs if r[0]]
    fails = sum(r[1] for r in rs)
    rate = sum(r[2] for r in claims) / len(claims) if claims else float("nan")
    low = min((r[3] for r in claims if r[3] == r[3]), default=float("nan"))
    mean_rate_all = sum(r[2] for r in rs) / len(rs)
    return (
        f"runs {len(rs)}  claims {len(claims)}  below target {fails}  lowest test precision {low:.4f}  "
        f"hit rate: of claims {rate:.4f}, over all runs {mean_rate_all:.4f}"
    )


cals = sorted({k[2] for k in runs}, key=lambda c: (not c[0].isdigit(), c))
trues = sorted({k[3] for k in runs})
for name in sorted({k[0] for k in runs}):
    print(f"{name}: new_share_estimate over seeds {sorted(set(estimates[name]))}")
    for tgt in sorted({k[1] for k in runs}, reverse=True):
        for cal in cals:
            for true in trues:
                key = (name, tgt, cal, true)
                if key in runs:
                    tag = " matched" if cal[0].isdigit() and float(cal) == float(true) else ""
                    print(f"  @{tgt} calibrated {cal:7s} true share {true:4s}{tag:8s} {row(key)}")
print("totals")
for label, pick in (
    ("matched (calibrated F = true share)", lambda k: k[2][0].isdigit() and float(k[2]) == float(k[3])),
    ("F=0 on traffic of true share 0.5", lambda k: k[2] == "0" and k[3] == "0.5"),
    ("F=0.5 on traffic of true share 0", lambda k: k[2] == "0.5" and k[3] == "0.0"),
    ("legacy (new_questions=True) on true share 0.5", lambda k: k[2] == "legacy" and k[3] == "0.5"),
    ("legacy (new_questions=True) on true share 0", lambda k: k[2] == "legacy" and k[3] == "0.0"),
    ("legacy0 (new_questions=False) on true share 0", lambda k: k[2] == "legacy0" and k[3] == "0.0"),
    ("every calibration with F > true share", lambda k: k[2][0].isdigit() and float(k[2]) > float(k[3])),
    ("every calibration with F < true share", lambda k: k[2][0].isdigit() and float(k[2]) < float(k[3])),
):
    rs = [r for k, v in runs.items() if pick(k) for r in v]
    if rs:
        c = sum(r[0] for r in rs)
        f = sum(r[1] for r in rs)
        print(f"  {label}: {len(rs)} runs, {c} claims, {f} below target")
