"""Run a benchmark script as if ``DecisionPolicy``'s default ``pair_threshold`` were T.

``python bench/with_pair_threshold.py T bench/cache_free_text.py --judges 1`` measures what a
default below 1.0 (the pair path on) would change, before anyone changes the default.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    from llm_cost_hooks.cache._signals import DecisionPolicy

    threshold, script = float(sys.argv[1]), sys.argv[2]
    DecisionPolicy.model_fields["pair_threshold"].default = threshold
    DecisionPolicy.model_rebuild(force=True)
    assert DecisionPolicy().pair_threshold == threshold, "the default did not take"
    print(f"# default pair_threshold set to {threshold} for {script}", flush=True)
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
