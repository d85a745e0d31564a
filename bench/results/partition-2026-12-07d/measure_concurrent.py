"""80 threads at once through a black-holed Redis (more than the pool's 50 connections):
how long a guarded call and a single-flight call block, and the spend counted after the
heal (run from the repository root; starts its own Redis Stack server)."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from _netfault import NetFault
from _servers import RedisServer

from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
)
from llm_cost_hooks.dedup import RedisSingleFlight

LIMIT = Limit.usd(100, per="day", scope="tenant", name="daily")
REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="t")


def _all(n: int, fn: Callable[[], object]) -> list[float]:
    took: list[float] = []

    def run() -> None:
        t = time.monotonic()
        fn()
        took.append(time.monotonic() - t)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(took)


def main() -> None:
    server = RedisServer()
    server.start()
    try:
        with NetFault(server.port) as net, tempfile.TemporaryDirectory() as journal:
            prefix = uuid.uuid4().hex[:6]
            store = FailoverSpendStore(RedisSpendStore(net.url("redis"), prefix=prefix), journal=journal)
            guard = SpendGuard([LIMIT], store=store, alerts=AlertManager(log=False, span_events=False))
            sf = RedisSingleFlight(net.url("redis"), prefix=prefix)

            def warm() -> None:
                guard.reserve(REQ).settle(0.001)
                sf.do(uuid.uuid4().hex, lambda: 1)

            _all(60, warm)  # the pools hold open connections, as in a busy process
            net.blackhole()
            for name, fn in [
                ("guard reserve+settle", lambda: guard.reserve(REQ).settle(0.001)),
                ("dedup do", lambda: sf.do(uuid.uuid4().hex, lambda: 1)),
            ]:
                took = _all(80, fn)
                print(f"{name}, 80 threads: max {took[-1]:.2f}s median {took[40]:.2f}s")
            net.heal()
            time.sleep(1.2)
            guard.reserve(REQ).settle(0.001)
            time.sleep(0.3)
            fresh = SpendGuard(
                [LIMIT],
                store=RedisSpendStore(server.url, prefix=prefix),
                alerts=AlertManager(log=False, span_events=False),
            )
            print(
                "shared (spent, reserved):", fresh.usage(LIMIT, "t"), "expected spent", round(0.001 * 141, 6)
            )
    finally:
        server.close()


main()
