"""Wall time of a single-flight leader call (unique keys, a local Redis): run once with
PYTHONPATH at the package before the change and once after, interleaved."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from _servers import RedisServer

import llm_cost_hooks
from llm_cost_hooks.dedup import RedisSingleFlight


def main() -> None:
    server = RedisServer()
    server.start()
    try:
        sf = RedisSingleFlight(server.url, prefix=uuid.uuid4().hex[:6])
        for _ in range(200):
            sf.do(uuid.uuid4().hex, lambda: 1)
        res = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(1000):
                sf.do(uuid.uuid4().hex, lambda: 1)
            res.append((time.perf_counter() - t) * 1000)
        print(llm_cost_hooks.__file__, "us per leader call:", " ".join(f"{x:.0f}" for x in res))
    finally:
        server.close()


main()
