"""How often RouterModel.load reads router.json more than once while another thread saves
the router again and again (300 saves of two routers alternately).

    PYTHONPATH=. python bench/results/routeleft-2026-12-07b/reload_count.py
"""

from __future__ import annotations

import collections
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from test_routing_atomic_save import _outcomes

from llm_cost_hooks.routing import HashingEmbedder, QualityTarget, RouterModel, train_router
from llm_cost_hooks.routing import _model as model_module


def main() -> None:
    routers = {}
    for name, (n, seed) in {"old": (120, 0), "new": (90, 1)}.items():
        m = train_router(_outcomes(n, seed), HashingEmbedder(64), target=QualityTarget(share=0.95)).model
        m.info["mark"] = name
        routers[name] = m
    d = Path(tempfile.mkdtemp()) / "router"
    routers["old"].save(d)
    reads: collections.Counter[int] = collections.Counter()
    state = {"n": 0}
    read_meta = model_module.RouterModel._read_meta

    def counting(jpath: Path) -> dict[str, object]:
        state["n"] += 1
        return read_meta(jpath)

    model_module.RouterModel._read_meta = staticmethod(counting)  # type: ignore[method-assign]
    done = threading.Event()

    def save_in_a_loop() -> None:
        for i in range(300):
            routers["new" if i % 2 == 0 else "old"].save(d)
        done.set()

    saver = threading.Thread(target=save_in_a_loop)
    saver.start()
    while not done.is_set():
        state["n"] = 0
        RouterModel.load(d)
        reads[state["n"]] += 1
    saver.join()
    print("reads of router.json per load:", dict(sorted(reads.items())))


if __name__ == "__main__":
    main()
