"""Where the offline MiniLM embedder's time goes, and the fused graph against the export's own.

    python bench/embedder_speed.py [N]          # N texts per data set (default 300)
    python bench/embedder_speed.py router [N]   # only 4.: N held-out GSM8K prompts (default 150)
    python bench/embedder_speed.py threads [N]  # only 5.: N Banking77 queries (default 300)

Reads real texts from ../shared/data (Banking77 queries, GSM8K prompts; skips a set that is
absent) and prints:
1. agreement: cosine between the fused graph's and the plain graph's vectors, one by one
   (``embed_one``) and in padded batches of 32 (``embed``);
2. one query split into tokenizer / ``session.run`` / pooling+normalisation / the rest;
3. per token-length bucket, the median time of each session variant. The variants run in
   the same process, block-interleaved (25 texts of one, then 25 of the next, rotating,
   two rounds), because the box is shared: read the ratios, and the load printed beside them;
4. the trained router's decision (MiniLM embedding + ridge, as in ``python -m bench routing``)
   with the fused and with the plain embedder, interleaved the same way;
5. one Banking77 query on 1 thread, on 2 threads and with the threads chosen by load (the
   default), block-interleaved: p50 wall and process CPU per query, which session the
   default used, and the memory its second session costs.
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
csv.field_size_limit(1 << 30)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _texts(n: int) -> dict[str, list[str]]:
    sets = {
        "banking77": (DATA / "semantic_cache" / "banking77" / "test.csv.gz", "text"),
        "gsm8k": (DATA / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz", "prompt"),
    }
    out = {}
    for name, (path, col) in sets.items():
        if not path.is_file():
            print(f"[embedder_speed] {path} absent: {name} skipped", file=sys.stderr)
            continue
        with gzip.open(path, "rt", newline="") as f:
            rows = [r[col] for r in csv.DictReader(f)]
        # A spread of rows, not the first n (files are often sorted by intent or source).
        out[name] = [rows[i] for i in np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)]
    return out


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "load unknown"


def router_decision(n: int) -> None:
    from llm_cost_hooks.embeddings import OnnxEmbedder
    from llm_cost_hooks.routing import RouteRequest, RouterModel, TrainedRouter, load_routellm
    from llm_cost_hooks.routing._model import embed_texts

    path = DATA / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if not path.is_file():
        print(f"[embedder_speed] {path} absent: router decision skipped", file=sys.stderr)
        return
    data = load_routellm(
        path, cost_per_call={"mistralai/Mixtral-8x7B-Instruct-v0.1": 1e-4, "gpt-4-1106-preview": 1e-3}
    )
    fused, plain = OnnxEmbedder(), OnnxEmbedder(fused=False)
    train_n = 300
    model = RouterModel.fit(
        data.subset(np.arange(train_n)),
        fused,
        kind="ridge",
        embeddings=embed_texts(fused, data.prompts[:train_n]),
    )
    tiers = {"small": data.tiers[0], "large": data.tiers[1]}
    routers = [TrainedRouter(model, embedder=e, tier_map=tiers) for e in (fused, plain)]
    samples = data.prompts[train_n : train_n + n]
    print(
        f"\n4. trained router decision, {len(samples)} held-out GSM8K prompts (p50 "
        f"{np.median([len(p) for p in samples]):.0f} chars, {np.median([fused.count_tokens(p) for p in samples]):.0f}"
        f" tokens), router of {train_n} rows ({_load()} before)"
    )
    times = np.full((2, len(samples), 2), np.nan)
    block = 25
    for rnd in range(2):
        for b0 in range(0, len(samples), block):
            for k in (0, 1) if (b0 // block + rnd) % 2 == 0 else (1, 0):
                routers[k].route(RouteRequest(samples[b0]), ["small", "large"])  # untimed: settle threads
                for i in range(b0, min(b0 + block, len(samples))):
                    t0 = time.perf_counter()
                    routers[k].route(RouteRequest(samples[i]), ["small", "large"])
                    times[k, i, rnd] = time.perf_counter() - t0
    for k, name in enumerate(("fused", "plain (export graph)")):
        print(
            f"   {name:22s} p50 {np.median(times[k]) * 1e3:6.2f} ms  p95 {np.percentile(times[k], 95) * 1e3:6.2f} ms"
        )
    print(
        f"   median per-prompt ratio fused/plain (best of 2 rounds) "
        f"{np.median(times[0].min(axis=1) / times[1].min(axis=1)):.3f}  ({_load()} after)"
    )


def _blocks(n: int, names: list[str], block: int = 25) -> Iterator[tuple[str, range]]:
    """Two rounds of blocks of ``block`` texts, each block run by every variant in a rotating order."""
    for rnd in range(2):
        for b0 in range(0, n, block):
            k = (b0 // block + rnd) % len(names)
            for name in names[k:] + names[:k]:
                yield name, range(b0, min(b0 + block, n))


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # pragma: no cover
        return float("nan")


def threads_by_load(n: int) -> None:
    from llm_cost_hooks.embeddings import OnnxEmbedder

    texts = _texts(n).get("banking77")
    if not texts:
        return
    auto = OnnxEmbedder()
    rss0 = _rss_mib()
    one = OnnxEmbedder(threads=1)
    one.embed_one(texts[0])
    session_mib = _rss_mib() - rss0  # what one more session (with its tokenizer) adds
    variants = {"1 thread": one, "2 threads": OnnxEmbedder(threads=2), "by load": auto}
    print(
        f"\n5. one query, threads fixed or chosen by load, {len(texts)} Banking77 queries ({_load()} before)"
    )
    for e in variants.values():
        for t in texts[:10]:
            e.embed_one(t)
    names = list(variants)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    used: list[int] = []
    for name, rows in _blocks(len(texts), names):
        e = variants[name]
        for t in (texts[i] for i in rows):
            c0, t0 = time.process_time(), time.perf_counter()
            e.embed_one(t)
            t1, c1 = time.perf_counter(), time.process_time()
            wall[name].append(t1 - t0)
            cpu[name].append(c1 - c0)
            if e is auto:
                used.append(auto.threads)
    for name in names:
        print(
            f"   {name:10s} p50 wall {np.median(wall[name]) * 1e3:6.2f} ms  p90 "
            f"{np.percentile(wall[name], 90) * 1e3:6.2f} ms  p50 process CPU {np.median(cpu[name]) * 1e3:6.2f} ms"
        )
    print(
        f"   by load: {used.count(1)} queries on 1 thread, {used.count(2)} on 2; sessions loaded "
        f"{sorted(auto._sessions)}; a session costs +{session_mib:.0f} MiB process RSS ({_load()} after)"
    )


def main() -> None:
    from llm_cost_hooks.embeddings import OnnxEmbedder

    if len(sys.argv) > 1 and sys.argv[1] == "router":
        router_decision(int(sys.argv[2]) if len(sys.argv) > 2 else 150)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "threads":
        threads_by_load(int(sys.argv[2]) if len(sys.argv) > 2 else 300)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    texts = _texts(n)
    if not texts:
        print("no data under ../shared/data: nothing to measure", file=sys.stderr)
        return
    fused, plain = OnnxEmbedder(), OnnxEmbedder(fused=False)
    assert fused.fused and not plain.fused

    print("1. agreement, fused vs plain graph (cosine)")
    for name, ts in texts.items():
        one = np.array([float(fused.embed_one(t) @ plain.embed_one(t)) for t in ts])
        bf = np.concatenate([fused.embed(ts[i : i + 32]) for i in range(0, len(ts), 32)])
        bp = np.concatenate([plain.embed(ts[i : i + 32]) for i in range(0, len(ts), 32)])
        batch = (bf * bp).sum(axis=1)
        print(
            f"   {name:10s} n={len(ts)}  one-by-one min {one.min():.7f} mean {one.mean():.7f}"
            f"  | batches of 32 min {batch.min():.7f}  | fused batch vs fused one min "
            f"{min(float(bf[i] @ fused.embed_one(t)) for i, t in enumerate(ts)):.7f}"
        )

    all_texts = [t for ts in texts.values() for t in ts]
    sample = texts.get("gsm8k", all_texts)
    print(f"\n2. one query, fused graph, 2 threads ({len(sample)} texts; {_load()})")
    tok, np_ = fused._tokenizer, np
    parts: dict[str, list[float]] = {
        "tokenize": [],
        "session.run": [],
        "pool+norm": [],
        "embed_one total": [],
    }
    for t in sample:
        t0 = time.perf_counter()
        enc = tok.encode(t)
        t1 = time.perf_counter()
        ids = np_.asarray([enc.ids], dtype=np_.int64)
        mask = np_.ones_like(ids)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np_.zeros_like(ids)}
        t2 = time.perf_counter()
        h = fused._session.run(None, feeds)[0]
        t3 = time.perf_counter()
        m = mask[:, :, None].astype(np_.float32)
        p = (h * m).sum(axis=1) / m.sum(axis=1)
        p / np_.linalg.norm(p, axis=1, keepdims=True)
        t4 = time.perf_counter()
        fused.embed_one(t)
        t5 = time.perf_counter()
        parts["tokenize"].append(t1 - t0)
        parts["session.run"].append(t3 - t2)
        parts["pool+norm"].append(t4 - t3)
        parts["embed_one total"].append(t5 - t4)
    for k, v in parts.items():
        print(f"   {k:16s} p50 {np.median(v) * 1e3:8.3f} ms")

    print(f"\n3. session variants, block-interleaved ({_load()} before)")
    variants = {
        "plain (export graph)": plain,
        "fused": fused,
        "fused, 1 thread": OnnxEmbedder(threads=1),
        "plain, 1 thread": OnnxEmbedder(fused=False, threads=1),
    }
    names = list(variants)
    lengths = [fused.count_tokens(t) for t in all_texts]
    times: dict[str, list[list[float]]] = {k: [[] for _ in all_texts] for k in names}
    for e in variants.values():
        for t in all_texts[:5]:
            e.embed_one(t)
    for name, rows in _blocks(len(all_texts), names):
        e = variants[name]
        for i in rows:
            t0 = time.perf_counter()
            e.embed_one(all_texts[i])
            times[name][i].append(time.perf_counter() - t0)
    buckets = [(0, 16), (16, 32), (32, 64), (64, 128), (128, 257)]
    head = "".join(f"{f'{lo}-{hi - 1} tok':>14s}" for lo, hi in buckets)
    print(f"   {'p50 ms (n texts)':24s}{head}{'all':>10s}{'ratio to plain':>16s}")
    base = np.array([min(x) for x in times[names[0]]])
    for name in names:
        best = np.array([min(x) for x in times[name]])  # min of the two rounds: less load noise
        cells = ""
        for lo, hi in buckets:
            sel = [i for i, L in enumerate(lengths) if lo <= L < hi]
            cells += f"{np.median(best[sel]) * 1e3:9.2f} ({len(sel):3d})" if sel else f"{'-':>14s}"
        print(f"   {name:24s}{cells}{np.median(best) * 1e3:10.2f}{np.median(best / base):16.3f}")
    print(f"   ({_load()} after)")
    router_decision(150)


if __name__ == "__main__":
    main()
