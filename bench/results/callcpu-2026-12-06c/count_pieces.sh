#!/bin/bash
# Instructions per iteration of each snippet a script measures with functools.reduce: callgrind
# counts only inside reduce and dumps after each call. The script prints "LABEL name [N]" before
# each measured reduce over N iterations (2000 when not given).
# usage: count_pieces.sh script.py   (from the repository root; PKG=llm_cost_hooks_base for main)
out=${TMPDIR:-/tmp}/cgp.$$; rm -f $out*
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce --dump-after=functools_reduce --callgrind-out-file=$out ${PYTHON:-python} "$@" > $out.log 2>&1
python3 - "$out" <<'PY'
import glob, sys
out = sys.argv[1]
labels = []
for line in open(out + ".log"):
    if line.startswith("LABEL "):
        parts = line.split()
        n = int(parts[-1]) if parts[-1].isdigit() else 2000
        name = " ".join(parts[1:-1] if parts[-1].isdigit() else parts[1:])
        labels.append((name, n))
    elif not line.startswith("==") and line.strip():
        print("   ", line.rstrip())
files = [f for f in glob.glob(out + ".*") if f.rsplit(".", 1)[1].isdigit()]
files.sort(key=lambda f: int(f.rsplit(".", 1)[1]))
vals = []
for f in files:
    for line in open(f):
        if line.startswith(("summary:", "totals:")):
            vals.append(int(line.split()[1]))
            break
vals = vals[-len(labels):]
base = 0.0
for (lab, n), v in zip(labels, vals):
    per = v / n
    if lab == "empty":
        base = per
    print(f"{per - base:10.0f} instr  {lab}")
PY
rm -f $out*
