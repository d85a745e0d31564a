"""``../otel-2026-12-06d/icount_otel.py`` (instructions per ``model.invoke`` call, all threads, under
callgrind) with callgrind's instrumentation switched on where that script zeroes the counters, so
valgrind can start with ``--instr-atstart=no``: the set-up (imports, warm-up) runs uninstrumented,
several times faster; the counted window is the same.

    CG=1 N=1000 ARM=otel valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \\
        python bench/results/otel-2026-12-06e/icount_otel.py && grep ^summary cg.out.1
"""

import os
import runpy
import subprocess

_run = subprocess.run


def _run_instrumented(args, *rest, **kwargs):
    if list(args[:2]) == ["callgrind_control", "-z"]:
        _run(["callgrind_control", "-i", "on", args[2]], *rest, **kwargs)
    return _run(args, *rest, **kwargs)


subprocess.run = _run_instrumented
here = os.path.dirname(os.path.abspath(__file__))
runpy.run_path(os.path.join(here, "..", "otel-2026-12-06d", "icount_otel.py"), run_name="__main__")
