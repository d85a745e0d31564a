"""Cost of ``semantic_refusal`` per text: process CPU in interleaved rounds (the rule before
this change, loaded from git, against the tree's), or one rule's loop for callgrind.

    python cost.py time                 # interleaved process CPU, 7 rounds
    python cost.py loop before|after N  # N passes over the texts (callgrind: subtract N=0)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate
import sets

from llm_cost_hooks.cache import _textkind


def texts() -> list[str]:
    foreign, english = sets.hand_written()
    dev = sets.dev_english()
    return dev["banking77_test"] + dev["hwu64"][:2000] + [t for _, t in foreign] + [t for _, t in english]


def main() -> None:
    before = evaluate._before_module().semantic_refusal
    after = _textkind.semantic_refusal
    sample = texts()
    for t in sample[:50]:  # load the vocabulary and fill the per-character caches
        before(t)
        after(t)
    if sys.argv[1] == "loop":
        fn = before if sys.argv[2] == "before" else after
        for _ in range(int(sys.argv[3])):
            for t in sample:
                fn(t)
        return
    res: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(7):
        for name, fn in (("before", before), ("after", after)):
            t0 = time.process_time()
            for t in sample:
                fn(t)
            res[name].append((time.process_time() - t0) / len(sample) * 1e6)
    for name, v in res.items():
        print(
            f"{name}: {statistics.median(v):.2f} us/text median (range {min(v):.2f}-{max(v):.2f}), 7 interleaved rounds of {len(sample)} texts"
        )


if __name__ == "__main__":
    main()
