# Usage: python cgtop.py file.out N [rows]: inclusive instructions per call of the top functions
import re
import subprocess
import sys

f, n = sys.argv[1], float(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 80
out = subprocess.run(
    ["callgrind_annotate", "--threshold=100", "--inclusive=yes", f], capture_output=True, text=True
).stdout
skip = re.compile(
    r"_PyEval_Vector|Vectorcall|vectorcall|0x000|libc-start|below main|pythonrun|main\.c|python\.c|PyObject_Call|EvalCode|EvalFrame|cfunction_call|MakeTpCall|PROGRAM"
)
rows = []
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
    if m and not skip.search(line):
        name = re.sub(r"/tmp/python-build[^:]*/", "", m.group(2))
        name = re.sub(r" \[.*\]$", "", name)
        rows.append((int(m.group(1).replace(",", "")) / n, name))
seen = set()
for v, name in rows[:k]:
    print(f"{v:9.0f}  {name[:120]}")
