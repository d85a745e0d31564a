"""Redis lookup rows only, before/after the real-entry loader, in one run.

``python bench/results/redisrow-2026-12-07g/run.py [--quick]`` from the repository root.
"before": entries loaded the old way (``"data": "{}"``); "after": ``bench_cache._load_ours``
(entries as ``RedisBackend.put`` writes them, a real LangChain answer). The two layouts sit
in separate prefixes on one server and are timed in alternating rounds. Then the full
``_redis_lookup_latency`` (ours and redisvl / langchain-redis) runs once on the new loader.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(root), str(root / "tests")]

from bench import bench_cache as bc  # noqa: E402
from bench._common import time_per_call  # noqa: E402


def _load_old(client, backend, partition, vecs, keys) -> None:
    backend._ensure_index(vecs.shape[1])
    pipe = client.pipeline(transaction=False)
    for i in range(len(vecs)):
        pipe.hset(
            f"{backend.prefix}:e:e{i}",
            mapping={
                "partition": partition,
                "answer_key": keys[i],
                "query": f"q{i}",
                "vec": vecs[i].tobytes(),
                "xk": f"x{i}",
                "data": "{}",
            },
        )
    pipe.execute()
    bc._wait_indexed(client, backend.index_name, len(vecs))


def main() -> None:
    import redis as redis_lib

    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, RedisBackend

    logging.basicConfig(level=logging.WARNING)
    quick = "--quick" in sys.argv
    url, srv = bc._redis()
    assert url, "no Redis"
    try:
        texts, _ = bc._read(bc._find(bc._data_dir(), "train"))
        base = bc._embed_cached(texts[:3000])
        n = 10_000
        vecs = bc._noisy_vectors(base, n)
        keys = [f"k{i % 77}" for i in range(n)]
        probes = bc._noisy_vectors(base, 200, seed=1)
        client = redis_lib.Redis.from_url(url)
        it = iter(range(10**9))
        for algo in ("hnsw", "flat"):
            setups = {}
            for label, loader in (("before", _load_old), ("after", bc._load_ours)):
                backend = RedisBackend(url, prefix=f"rr{uuid.uuid4().hex[:6]}", timeout_s=5.0, algorithm=algo)
                core = CacheCore(backend, embedder=bc._FixedEmbedder(), config=CacheConfig())
                req = core.request("probe", llm_string="m", scope=CacheScope(tenant="t"))
                loader(client, backend, req.partition, vecs, keys)
                pol = core.config.default
                reads, get = [0], backend.get

                def counted(entry_id, reads=reads, get=get):
                    reads[0] += 1
                    return get(entry_id)

                backend.get = counted
                hits = sum(
                    core.decide(req, backend.search(req.partition, p, pol.k), pol) is not None for p in probes
                )
                del backend.get
                setups[label] = (backend, core, req, pol, (hits, reads[0]))
            times: dict[str, list[float]] = {"before": [], "after": []}
            cpu: dict[str, list[float]] = {"before": [], "after": []}
            for _round in range(10):
                for label in ("before", "after") if _round % 2 == 0 else ("after", "before"):
                    backend, core, req, pol, _ = setups[label]
                    c0 = time.thread_time()
                    for _ in range(50):
                        core.decide(
                            req, backend.search(req.partition, probes[next(it) % len(probes)], pol.k), pol
                        )
                    cpu[label].append((time.thread_time() - c0) / 50)
                    times[label].append(
                        time_per_call(
                            lambda: core.decide(
                                req, backend.search(req.partition, probes[next(it) % len(probes)], pol.k), pol
                            ),
                            number=30 if quick else 50,
                            repeat=3,
                            warmup=5,
                        )
                    )
            for label in ("before", "after"):
                backend, core, req, pol, hits = setups[label]
                print(
                    f"ours Redis {algo.upper()} {label}: p50 {statistics.median(times[label]) * 1e3:.3f} ms "
                    f"(rounds {', '.join(f'{t * 1e3:.3f}' for t in times[label])}); "
                    f"client thread CPU p50 {statistics.median(cpu[label]) * 1e3:.3f} ms; "
                    f"entries read {hits[1]}/{len(probes)}, served {hits[0]}; unreadable entries read {backend.corrupt}"
                )
                client.execute_command("FT.DROPINDEX", backend.index_name, "DD")
        exact_top = np.argsort(-(probes @ vecs.T), axis=1)[:, :10]
        out, notes = bc._redis_lookup_latency(url, vecs, keys, probes, quick, n, exact_top)
        for k, v in out.items():
            print(f"row {k}: {v * 1e3:.3f} ms; {notes.get(k, '')}")
        for k, v in notes.items():
            if k not in out:
                print(f"note {k}: {v}")
    finally:
        if srv is not None:
            srv.stop()


if __name__ == "__main__":
    main()
