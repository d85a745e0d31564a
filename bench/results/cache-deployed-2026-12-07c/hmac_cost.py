"""Cost per exact hit of the optional HMAC key (LLM_COST_HOOKS_CACHE_HMAC_KEY), interleaved A/B.

    python hmac_cost.py redis://127.0.0.1:PORT [rounds]

A: no key; B: a key. Per round, each side reads its entry back ``N`` times: the parse alone
(``RedisBackend._parse`` on the stored bytes: CPU only) and a whole exact hit through
``CacheCore.lookup`` (one GET from the real server). Prints per-call µs (process CPU time
for the parse, wall time for the lookup) for every round, then the medians and the spread.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, RedisBackend

URL = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
N = 2000
ANSWER = "Your card arrives in 3-5 working days. " * 12  # ~470 characters, a typical answer


def side(key: str | None) -> tuple[CacheCore, object, bytes]:
    backend = RedisBackend(URL, prefix=f"hm{uuid.uuid4().hex[:8]}", hmac_key=key)
    core = CacheCore(backend, config=CacheConfig(semantic=False))
    req = core.request("When will my card arrive?", llm_string="m", scope=CacheScope(tenant="t"))
    core.update(req, ANSWER)
    raw = backend.client.get(backend._xkey(req.exact_key))
    return core, req, raw


def parse_us(core: CacheCore, raw: bytes) -> float:
    parse = core.backend._parse  # type: ignore[attr-defined]
    t0 = time.process_time()
    for _ in range(N):
        parse(raw, "k")
    return (time.process_time() - t0) / N * 1e6


def lookup_us(core: CacheCore, req: object) -> float:
    t0 = time.perf_counter()
    for _ in range(N // 4):
        assert core.lookup(req) is not None  # type: ignore[arg-type]
    return (time.perf_counter() - t0) / (N // 4) * 1e6


sides = {"no key": side(None), "key": side("a-32-byte-secret-for-the-cache!!")}
print(f"stored value: no key {len(sides['no key'][2])} bytes, key {len(sides['key'][2])} bytes")
res: dict[str, dict[str, list[float]]] = {n: {"parse": [], "lookup": []} for n in sides}
for r in range(ROUNDS):
    order = list(sides) if r % 2 == 0 else list(reversed(sides))
    for name in order:
        core, req, raw = sides[name]
        res[name]["parse"].append(parse_us(core, raw))
        res[name]["lookup"].append(lookup_us(core, req))
    print(
        f"round {r}: "
        + "; ".join(f"{n} parse {res[n]['parse'][-1]:.2f} lookup {res[n]['lookup'][-1]:.1f}" for n in sides)
    )
for what in ("parse", "lookup"):
    for n in sides:
        v = res[n][what]
        print(
            f"{what:6} {n:6}: median {statistics.median(v):7.2f} µs, min {min(v):7.2f}, max {max(v):7.2f} ({ROUNDS} rounds)"
        )
    d = [b - a for a, b in zip(res["no key"][what], res["key"][what])]
    print(
        f"{what:6} key - no key, paired per round: median {statistics.median(d):+.2f} µs, min {min(d):+.2f}, max {max(d):+.2f}"
    )
for core, _, _ in sides.values():
    core.backend.clear()  # type: ignore[attr-defined]
