"""A/B of opening an embedded cache file: two package trees, fresh processes, interleaved.

    python reopen_ab.py FILE REPEATS TREE_A TREE_B

TREE_A / TREE_B are directories holding an ``llm_cost_hooks`` package (``git archive`` of
each commit). Each line: tree, wall s, CPU s, RSS after the open over before it (MiB), peak
RSS over before it (MiB), entries. The process exits without closing, so the file is not
changed between opens.
"""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r"""
import os, time, resource, sys
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1]) / 1024
import numpy, usearch.index, pydantic  # imported before the clock
from llm_cost_hooks.cache import EmbeddedBackend
r0 = rss(); t = time.perf_counter(); c = time.process_time()
b = EmbeddedBackend(sys.argv[1], max_entries=100000)
print(round(time.perf_counter() - t, 2), round(time.process_time() - c, 2), round(rss() - r0),
      round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - r0), b.count(), flush=True)
os._exit(0)
"""


def main() -> None:
    path, repeats, tree_a, tree_b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    trees = {"A": tree_a, "B": tree_b}
    for rep in range(repeats):
        for name in ("A", "B") if rep % 2 == 0 else ("B", "A"):
            env = {**os.environ, "PYTHONPATH": trees[name]}
            r = subprocess.run([sys.executable, "-c", CODE, path], env=env, capture_output=True, text=True)
            print(name, r.stdout.strip(), r.stderr.strip()[-200:], flush=True)


if __name__ == "__main__":
    main()
