# Usage: python cgdiff.py A.out B.out N [incl] [rows]: per-call difference (B - A) / N of callgrind functions
import re
import subprocess
import sys


def load(f, incl):
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100"] + (["--inclusive=yes"] if incl else []) + [f],
        capture_output=True,
        text=True,
    ).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2)
            name = re.sub(r"/tmp/python-build[^:]*/", "", name)
            name = re.sub(r" \[.*\]$", "", name)
            d[name] = d.get(name, 0) + int(m.group(1).replace(",", ""))
    return d


a, b, n = sys.argv[1], sys.argv[2], float(sys.argv[3])
incl = len(sys.argv) > 4
da, db = load(a, incl), load(b, incl)
rows = sorted(((db.get(k, 0) - da.get(k, 0)) / n, k) for k in set(da) | set(db))
for v, k in sorted(rows, reverse=True)[: int(sys.argv[5]) if len(sys.argv) > 5 else 45]:
    print(f"{v:10.0f}  {k[:150]}")
