"""One query through the default embedder: where the time goes, and session variants side by side.

    python bench/results/embed-2026-12-07g/measure.py breakdown [N]
    python bench/results/embed-2026-12-07g/measure.py variants [N] [names,...]
    python bench/results/embed-2026-12-07g/measure.py fixed [N] [variant] [reps]   # for callgrind

Texts: Banking77 and HWU64 test queries (a spread of rows) and the longest GSM8K prompts.
``variants`` runs every session variant in the same process, block-interleaved (blocks of 20
queries, rotating order, two rounds), and prints p50/p90 wall and p50 process CPU per query.
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[3]
# EMBED_CODE_ROOT: import llm_cost_hooks from another tree (an export of the code before).
sys.path.insert(0, os.environ.get("EMBED_CODE_ROOT", str(ROOT)))
DATA = ROOT.parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")


def _spread(rows: list[str], n: int) -> list[str]:
    return [rows[i] for i in np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)]


def texts(n: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with gzip.open(DATA / "semantic_cache" / "banking77" / "test.csv.gz", "rt", newline="") as f:
        out["banking77"] = _spread([r["text"] for r in csv.DictReader(f)], n)
    with gzip.open(DATA / "semantic_cache" / "hwu64" / "hwu64_kfold1.csv.gz", "rt", newline="") as f:
        out["hwu64"] = _spread([r["answer_from_user"] for r in csv.DictReader(f) if r["split"] == "test"], n)
    p = DATA / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if p.is_file():
        csv.field_size_limit(1 << 30)
        with gzip.open(p, "rt", newline="") as f:
            prompts = sorted({r["prompt"] for r in csv.DictReader(f)}, key=len)
        out["long"] = prompts[-max(4, n // 10) :]
    return out


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _old_embed_one(self, text):  # type: ignore[no-untyped-def]
    """embed_one as it was before: the batch path with a masked mean for one text."""
    np_ = self._np
    encs = [self._tokenizer.encode(text)]
    input_ids = np_.asarray([e.ids for e in encs], dtype=np_.int64)
    mask = np_.asarray([e.attention_mask for e in encs], dtype=np_.int64)
    feeds = {"input_ids": input_ids, "attention_mask": mask}
    if "token_type_ids" in self._input_names:
        feeds["token_type_ids"] = np_.zeros_like(input_ids)
    hidden = self._current_session().run(None, feeds)[0]
    m = mask[:, :, None].astype(np_.float32)
    pooled = (hidden * m).sum(axis=1) / np_.clip(m.sum(axis=1), 1e-9, None)
    norms = np_.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np_.clip(norms, 1e-12, None)).astype(np_.float32, copy=False)[0]


def variant(name: str):  # type: ignore[no-untyped-def]
    """An OnnxEmbedder whose session is rebuilt with the options ``name`` says:
    ``default`` (as shipped), ``shipped1``/``shipped2`` (as shipped, threads fixed), or
    ``t{1,2}-{spin[US],nospin}[-int8][-oldpy]``; ``-oldpy``: the
    Python side of embed_one as it was before (masked-mean pooling through the batch path)."""
    import types

    from llm_cost_hooks.embeddings import OnnxEmbedder, _onnx

    if name.endswith("-oldpy"):
        e = variant(name[: -len("-oldpy")])
        e.embed_one = types.MethodType(_old_embed_one, e)
        return e
    if name == "default":
        return OnnxEmbedder()
    if name.startswith("shipped"):  # shipped1 / shipped2: as shipped, threads fixed
        return OnnxEmbedder(threads=int(name[-1]))
    threads = int(name[1])
    spin = "-spin" in name
    int8 = name.endswith("-int8")
    e = OnnxEmbedder(threads=threads, int8_matmul=int8)
    ort = e._ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    us = name.split("-spin", 1)[1].split("-", 1)[0] if spin else ""
    if us:  # t2-spin200: spin at most 200 us before a worker blocks
        opts.add_session_config_entry("session.intra_op.spin_duration_us", us)
    data = e._path.read_bytes()
    from llm_cost_hooks.embeddings._fused import build_fused_minilm

    s = ort.InferenceSession(
        build_fused_minilm(data, int8_matmul=int8), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    e._session = s
    e._sessions = {threads: s}
    _onnx._release_freed_heap()
    return e


def breakdown(n: int) -> None:
    e = variant("default")
    np_ = np
    print(f"breakdown, default embedder (threads now {e.threads}), {load()}")
    for set_name, ts in texts(n).items():
        tok, run, pool, total, ntok = [], [], [], [], []
        for t in ts[:5]:
            e.embed_one(t)
        for t in ts:
            c0 = time.perf_counter()
            enc = e._tokenizer.encode(t)
            ids = np_.asarray([enc.ids], dtype=np_.int64)
            mask = np_.asarray([enc.attention_mask], dtype=np_.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np_.zeros_like(ids)}
            c1 = time.perf_counter()
            hidden = e._current_session().run(None, feeds)[0]
            c2 = time.perf_counter()
            m = mask[:, :, None].astype(np_.float32)
            pooled = (hidden * m).sum(axis=1) / np_.clip(m.sum(axis=1), 1e-9, None)
            norms = np_.linalg.norm(pooled, axis=1, keepdims=True)
            (pooled / np_.clip(norms, 1e-12, None)).astype(np_.float32, copy=False)
            c3 = time.perf_counter()
            e.embed_one(t)
            c4 = time.perf_counter()
            tok.append(c1 - c0)
            run.append(c2 - c1)
            pool.append(c3 - c2)
            total.append(c4 - c3)
            ntok.append(len(enc.ids))
        ms = lambda xs: f"{np.median(xs) * 1e3:7.3f}"  # noqa: E731
        print(
            f"  {set_name:10s} n={len(ts):3d} tokens p50 {np.median(ntok):4.0f} (max {max(ntok)})"
            f"  tokenise {ms(tok)}  run {ms(run)}  pool+norm {ms(pool)}  embed_one {ms(total)} ms p50"
        )
    print(f"  ({load()} after)")


def variants(n: int, names: list[str]) -> None:
    es = {k: variant(k) for k in names}
    sets = texts(n)
    print(f"variants {names}, {load()} before")
    for set_name, ts in sets.items():
        for e in es.values():
            for t in ts[:5]:
                e.embed_one(t)
        wall: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        block = 20 if set_name != "long" else 4
        for rnd in range(2):
            for b0 in range(0, len(ts), block):
                k = (b0 // block + rnd) % len(names)
                for name in names[k:] + names[:k]:
                    e = es[name]
                    for t in ts[b0 : b0 + block]:
                        c0, t0 = time.process_time(), time.perf_counter()
                        e.embed_one(t)
                        t1, c1 = time.perf_counter(), time.process_time()
                        wall[name].append(t1 - t0)
                        cpu[name].append(c1 - c0)
        print(f"  {set_name} ({len(ts)} texts x 2 rounds), {load()}")
        for name in names:
            w, c = np.array(wall[name]) * 1e3, np.array(cpu[name]) * 1e3
            print(
                f"    {name:16s} wall p50 {np.median(w):6.2f} p90 {np.percentile(w, 90):6.2f} ms"
                f"  CPU p50 {np.median(c):6.2f} mean {c.mean():6.2f} ms"
            )
    print(f"  ({load()} after)")


def spaced(n: int, names: list[str], gap_ms: float) -> None:
    """Queries ``gap_ms`` apart (traffic, not a loop): wall p50 per query, and process CPU
    over each block divided by its queries, so what worker threads burn between queries
    (spinning after a run) is counted too."""
    es = {k: variant(k) for k in names}
    ts = texts(n)["banking77"]
    print(f"spaced queries, {gap_ms:.0f} ms apart, {names}, {load()} before")
    for e in es.values():
        for t in ts[:5]:
            e.embed_one(t)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, float] = {k: 0.0 for k in names}
    count: dict[str, int] = {k: 0 for k in names}
    block = 20
    for rnd in range(2):
        for b0 in range(0, len(ts), block):
            k = (b0 // block + rnd) % len(names)
            for name in names[k:] + names[:k]:
                e = es[name]
                time.sleep(0.05)  # let the previous variant's threads go quiet
                c0 = time.process_time()
                for t in ts[b0 : b0 + block]:
                    t0 = time.perf_counter()
                    e.embed_one(t)
                    wall[name].append(time.perf_counter() - t0)
                    time.sleep(gap_ms / 1e3)
                cpu[name] += time.process_time() - c0
                count[name] += len(ts[b0 : b0 + block])
    for name in names:
        w = np.array(wall[name]) * 1e3
        print(
            f"    {name:16s} wall p50 {np.median(w):6.2f} p90 {np.percentile(w, 90):6.2f} ms"
            f"  process CPU per query (gaps included) {cpu[name] / count[name] * 1e3:6.2f} ms"
        )
    print(f"  ({load()} after)")


def fixed(n: int, name: str, reps: int) -> None:
    """Embed the same n Banking77 + n HWU64 queries ``reps`` times (callgrind: the difference
    of reps=2 and reps=1 is the instruction count of one pass, model loading excluded)."""
    e = variant(name)
    ts = texts(n)
    qs = ts["banking77"] + ts["hwu64"]
    sync = os.environ.get("CG_SYNC")  # callgrind.sh turns instrumentation on here
    if sync:
        for t in qs[:5]:
            e.embed_one(t)
        Path(sync + ".ready").touch()
        while not Path(sync + ".go").exists():
            time.sleep(0.05)
    for _ in range(reps):
        for t in qs:
            e.embed_one(t)
    import llm_cost_hooks

    print(f"{name}: embedded {len(qs)} queries x {reps} ({llm_cost_hooks.__file__})")


if __name__ == "__main__":
    cmd = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if cmd == "breakdown":
        breakdown(n)
    elif cmd == "variants":
        names = (
            sys.argv[3].split(",")
            if len(sys.argv) > 3
            else ["default", "t1-spin", "t1-nospin", "t2-spin", "t2-nospin"]
        )
        variants(n, names)
    elif cmd == "spaced":
        spaced(n, sys.argv[3].split(","), float(sys.argv[4]) if len(sys.argv) > 4 else 20.0)
    else:
        fixed(
            n, sys.argv[3] if len(sys.argv) > 3 else "default", int(sys.argv[4]) if len(sys.argv) > 4 else 1
        )
