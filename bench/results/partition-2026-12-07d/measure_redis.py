"""How long each Redis-backed call blocks while Redis is black-holed, with the package's
defaults (run from the repository root; starts its own Redis Stack server)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import numpy as np
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
from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, RedisBackend
from llm_cost_hooks.dedup._singleflight import RedisSingleFlight

LIMIT = Limit.usd(100, per="day", scope="tenant", name="daily")
REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="t")


class Emb:
    name, dim = "e8", 8

    def embed_one(self, text: str) -> np.ndarray:
        v = np.zeros(8, np.float32)
        v[hash(text) % 8] = 1
        return v

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts])


def timed(label: str, fn, n: int = 3) -> None:
    out = []
    for i in range(n):
        t = time.monotonic()
        fn(i)
        out.append(time.monotonic() - t)
    print(f"{label}: " + " ".join(f"{x:.2f}s" for x in out), flush=True)


async def atimed(label: str, fn, n: int = 3) -> None:
    out = []
    for i in range(n):
        t = time.monotonic()
        await fn(i)
        out.append(time.monotonic() - t)
    print(f"{label}: " + " ".join(f"{x:.2f}s" for x in out), flush=True)


def main() -> None:
    server = RedisServer()
    server.start()
    try:
        with NetFault(server.port) as net, tempfile.TemporaryDirectory() as jdir:
            url = net.url("redis")
            store = FailoverSpendStore(RedisSpendStore(url, prefix=uuid.uuid4().hex[:6]), journal=jdir)
            guard = SpendGuard([LIMIT], store=store, alerts=AlertManager(log=False, span_events=False))
            guard.reserve(REQ).settle(0.001)
            core = CacheCore(
                RedisBackend(url, prefix=uuid.uuid4().hex[:6]),
                embedder=Emb(),
                config=CacheConfig(
                    default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8),
                    audit_sample_rate=0,
                ),
            )
            r = core.request("q", llm_string="m", scope=CacheScope(tenant="t"))
            core.lookup(r)
            core.update(r, "a")
            sf = RedisSingleFlight(url, prefix=uuid.uuid4().hex[:6])
            sf.do("warm", lambda: 1)

            replies = len(sys.argv) > 1 and sys.argv[1] == "replies"
            net.blackhole(replies=replies)
            print("black hole:", "replies only" if replies else "both ways")
            timed("guard reserve+settle (sync)", lambda i: guard.reserve(REQ).settle(0.001))
            timed(
                "cache lookup (sync)",
                lambda i: core.lookup(core.request(f"q{i}", llm_string="m", scope=CacheScope(tenant="t"))),
            )
            timed("dedup do (sync)", lambda i: sf.do(f"k{i}", lambda: 1))

            async def a() -> None:
                async def g(i):
                    r = await guard.areserve(REQ)
                    await r.asettle(0.001)

                await atimed("guard areserve+asettle", g)

                async def d(i):
                    await sf.ado(f"ak{i}", lambda: asyncio.sleep(0, 1))

                await atimed("dedup ado", d)

            asyncio.run(a())
            print("journal pending", store.journal.pending, "outages", store.outages)
            net.heal()
            time.sleep(0.3)
            other = RedisSingleFlight(server.url, prefix=sf.prefix)
            t = time.monotonic()
            f = other.do("k0", lambda: 2)
            print(f"after heal, another process asks dedup key k0: {f.source} in {time.monotonic() - t:.2f}s")
            time.sleep(1.2)
            guard.reserve(REQ).settle(0.001)
            time.sleep(0.3)
            guard.usage(LIMIT, "t")
            print(
                "after heal: journal pending",
                store.journal.pending,
                "usage",
                guard.usage(LIMIT, "t"),
                "expected spent",
                round(0.001 * 8, 6),
            )
    finally:
        server.close()


main()
