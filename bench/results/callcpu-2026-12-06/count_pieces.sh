#!/bin/bash
# Instructions per iteration of each snippet a script measures with functools.reduce (see
# icount_callbacks.py): callgrind counts only inside reduce and dumps after each call.
# usage: count_pieces.sh script.py   (run from the repository root; PKG=llm_cost_hooks_base for main)
out=${TMPDIR:-/tmp}/cgp.$$; rm -f $out*
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce --dump-after=functools_reduce --callgrind-out-file=$out ${PYTHON:-python} "$@" > $out.log 2>&1
python3 - "$out" <<'PY'
import glob, sys, re
out = sys.argv[1]
labels = [l.split("LABEL ", 1)[1].strip() for l in open(out + ".log") if l.startswith("LABEL ")]
files = sorted(glob.glob(out + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]) if f.rsplit(".", 1)[1].isdigit() else -1)
vals = []
for f in files:
    if not f.rsplit(".", 1)[1].isdigit(): continue
    for line in open(f):
        if line.startswith("summary:") or line.startswith("totals:"):
            vals.append(int(line.split()[1])); break
# the last len(labels) dumps are ours
vals = vals[-len(labels):]
N = 2000
base = None
for lab, v in zip(labels, vals):
    per = v / N
    if lab == "empty": base = per
    print(f"{per - (base or 0):9.0f} instr  {lab}")
PY
