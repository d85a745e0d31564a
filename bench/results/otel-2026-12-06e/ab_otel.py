"""``../otel-2026-12-06c/ab_otel.py`` (same-process, interleaved A/B of process CPU per call: main's
copy against this tree, no observer / no-op observer / OTel observer), with the load average
printed before the run as well (that script prints it at the end).

    N=1000 ROUNDS=15 BASE_PKG_DIR=/tmp/otel-basepkg PYTHONPATH=$PWD \\
        python bench/results/otel-2026-12-06e/ab_otel.py
"""

import os
import runpy
import sys

with open("/proc/loadavg") as f:
    print("load at start:", f.read().strip())
script_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c")
sys.path.insert(0, script_dir)
runpy.run_path(os.path.join(script_dir, "ab_otel.py"), run_name="__main__")
