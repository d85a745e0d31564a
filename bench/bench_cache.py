"""Semantic cache: quality at a precision bound, latency, isolation.

Quality (banking77, or LLM_COST_HOOKS_CACHE_BENCH_DIR with train.csv[.gz]/test.csv[.gz] of
``text,category|label``): the train queries fill the cache (the intent stands for the
answer) and every test query is looked up. Ours is calibrated on the cache's own entries
only (leave-one-out on train) and evaluated on test; redisvl ``SemanticCache`` and
langchain-redis ``RedisSemanticCache`` run for real at their default thresholds, and the
*best single threshold* is picked on the test set itself (an oracle choice, generous to
them). Every system gets the same vectors (our int8 MiniLM).

Latency: exact hit end to end through a LangChain chat model vs. a no-cache invoke;
semantic lookup excluding embedding at 10k and 100k entries (vectors: banking77 vectors
plus small Gaussian noise, renormalised, so the neighbourhoods are realistic) for ours
(embedded, Redis), redisvl and langchain-redis; one query embedding p50.

Isolation: the same query under 100 tenants, 0 cross-tenant hits (embedded and Redis).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import Row, percentile, time_per_call

ROOT = Path(__file__).resolve().parents[1]
B = "cache"


def _data_dir() -> Path:
    base = Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", ROOT / ".." / "shared" / "data"))
    return Path(os.environ.get("LLM_COST_HOOKS_CACHE_BENCH_DIR", base / "semantic_cache" / "banking77"))


def _read(path: Path) -> tuple[list[str], list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    lab = "category" if "category" in rows[0] else "label"
    return [r["text"] for r in rows], [r[lab] for r in rows]


def _find(d: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (d / name).is_file():
            return d / name
    return None


def _embed_cached(texts: list[str]) -> np.ndarray:
    from llm_cost_hooks.embeddings import default_embedder

    emb = default_embedder()
    h = hashlib.sha256(("\n".join(texts) + emb.name).encode()).hexdigest()[:16]
    cache_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "llm_cost_hooks_bench"
    cache_dir.mkdir(exist_ok=True)
    f = cache_dir / f"vec_{h}.npy"
    if f.is_file():
        return np.load(f)
    vecs = np.concatenate([emb.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    np.save(f, vecs)
    return vecs


def _best_single(dist_or_neg_sim: np.ndarray, correct: np.ndarray, target: float) -> tuple[float, float, float]:
    """Oracle best threshold on top-1 (smaller = closer): (hit rate, precision, threshold)."""
    o = np.argsort(dist_or_neg_sim, kind="stable")
    c = correct[o]
    cum = np.cumsum(c) / np.arange(1, len(c) + 1)
    ok = np.where(cum >= target)[0]
    if not len(ok):
        return 0.0, float("nan"), float("nan")
    n = ok.max() + 1
    return n / len(c), float(cum[n - 1]), float(dist_or_neg_sim[o][n - 1])


# The negation/number "minimal pair" guard that was measured here and removed from the
# library (it lowered the hit rate at precision >= 0.99 without removing wrong hits on
# banking77). Kept in the benchmark so that decision can be re-checked on other data.
_NEG = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot|can't|won't|don't|doesn't|"
    r"didn't|isn't|aren't|wasn't|weren't|haven't|hasn't|hadn't|shouldn't|wouldn't|couldn't|mustn't|"
    r"cant|wont|dont|doesnt|didnt|isnt|arent|havent|hasnt)\b|n't\b",
    re.IGNORECASE,
)
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _minimal_pair_veto(query: str, matched: str, overlap: float = 0.6) -> bool:
    """True when the two texts share most words (Jaccard >= overlap) but differ in
    negation parity or in the numbers they contain."""
    def words(t: str) -> set[str]:
        return {w for w in _WORD.findall(t.lower())
                if not _NEG.fullmatch(w) and not _NUM.fullmatch(w) and not w.endswith("n't")}

    a, b = words(query), words(matched)
    if not a or not b or len(a & b) / len(a | b) < overlap:
        return False
    negated = [len(_NEG.findall(t)) % 2 for t in (query, matched)]
    numbers = [frozenset(n.replace(",", "") for n in _NUM.findall(t)) for t in (query, matched)]
    return negated[0] != negated[1] or numbers[0] != numbers[1]


# --------------------------------------------------------------------------- quality
def quality_rows(quick: bool, redis_url: str | None) -> list[Row]:
    d = _data_dir()
    tr_p, te_p = _find(d, "train"), _find(d, "test")
    if tr_p is None or te_p is None:
        print(f"[bench cache] no train/test csv under {d}; skipping quality rows", file=sys.stderr)
        return [Row(B, "quality", float("nan"), "", note=f"data missing under {d}; skipped")]
    tr, trl = _read(tr_p)
    te, tel = _read(te_p)
    if quick:
        rng = np.random.default_rng(0)
        ti = np.sort(rng.choice(len(tr), min(3000, len(tr)), replace=False))
        qi = np.sort(rng.choice(len(te), min(1000, len(te)), replace=False))
        tr, trl = [tr[i] for i in ti], [trl[i] for i in ti]
        te, tel = [te[i] for i in qi], [tel[i] for i in qi]
    TR, TE = _embed_cached(tr), _embed_cached(te)
    trl_a, tel_a = np.asarray(trl), np.asarray(tel)

    from llm_cost_hooks.cache._calibrate import calibrate_intents, knn_features

    rows: list[Row] = []
    # Every test query against the full train cache.
    X, top, _ = knn_features(TE, TR, trl)
    correct = trl_a[top] == tel_a
    s1 = X[:, 0]
    veto = np.array([_minimal_pair_veto(q, tr[t]) for q, t in zip(te, top)])
    name = d.name
    single: dict[float, float] = {}
    for target in (0.99, 0.95):
        hr, prec, thr = _best_single(-s1, correct, target)
        single[target] = hr
        rows.append(Row(B, f"{name} single cosine threshold (oracle on test) hit@p>={target}", hr, "hit rate",
                        note=f"precision {prec:.4f} at cosine {-thr:.4f}; the best any top-1 threshold cache can do"))
        for rule in ("bound", "point"):
            # Calibrated on the cache's own labelled entries (leave-one-out on train); test unseen.
            res = calibrate_intents(tr, trl, vectors=(TR, TR), target_precision=target, rule=rule)
            pol = res.policy
            w = np.asarray(pol.weights)
            score = 1 / (1 + np.exp(-np.clip(X @ w[:-1] + w[-1], -50, 50)))
            acc = (score >= pol.threshold) & (s1 >= pol.min_similarity) & pol.enabled
            hr = float(acc.mean())
            prec = float(correct[acc].mean()) if acc.any() else float("nan")
            rows.append(Row(
                B, f"{name} ours (calibrated, {rule} rule) hit@p>={target}", hr, "hit rate",
                anchor_name="best single threshold", anchor_value=single[target] or None,
                target=f"precision>={target} on test; >= 3x single" if target == 0.99 else f"precision>={target} on test",
                ok=bool(acc.any() and prec >= target and (target != 0.99 or hr >= 3 * single[target])),
                note=f"test precision {prec:.4f} on {int(acc.sum())} hits of {len(te)}; calibration (leave-one-out on "
                     f"train) said precision {res.point.precision:.4f} (95% lower bound {res.point.precision_lower:.4f})",
            ))
            if rule == "bound":
                # The negation/number guards on top of the served hits: do they remove wrong ones?
                g = acc & ~veto
                gp = float(correct[g].mean()) if g.any() else float("nan")
                rows.append(Row(
                    B, f"{name} ours + negation/number guards hit@p>={target}", float(g.mean()), "hit rate",
                    anchor_name="ours without guards", anchor_value=hr or None,
                    note=f"test precision {gp:.4f} (without guards {prec:.4f}); vetoed {int((acc & veto).sum())} served "
                         f"hits, {int((acc & veto & correct).sum())} of them correct",
                ))
        if target == 0.99:
            rows += _ablation(X, correct, veto, TR, trl, target, name)
    if redis_url is None:
        rows.append(Row(B, "redisvl / langchain-redis quality", float("nan"), "", note="Redis unavailable; skipped"))
        return rows
    rows += _redis_baselines(redis_url, tr, TR, te, TE, trl_a, tel_a, name, single)
    return rows


def _ablation(X, correct_ev, veto, TR, trl, target, name) -> list[Row]:
    from llm_cost_hooks.cache._calibrate import fit_logistic, knn_features, operating_point

    Xc, topc, _ = knn_features(TR, TR, trl, leave_one_out=True)
    cc = np.asarray(trl)[topc] == np.asarray(trl)
    out = []
    sets = {"s1+s2": [0, 1], "margin only": [2], "agreement10 only": [4]}
    for label, cols in sets.items():
        w = np.asarray(fit_logistic(Xc[:, cols], cc.astype(float)))
        sc = 1 / (1 + np.exp(-(Xc[:, cols] @ w[:-1] + w[-1])))
        pt, _ = operating_point(list(sc), list(cc), target=target, rule="bound")
        if pt is None:
            out.append(Row(B, f"{name} ablation {label} hit@p>={target}", 0.0, "hit rate", note="target not reachable"))
            continue
        se = 1 / (1 + np.exp(-(X[:, cols] @ w[:-1] + w[-1])))
        acc = se >= pt.threshold
        prec = float(correct_ev[acc].mean()) if acc.any() else float("nan")
        out.append(Row(B, f"{name} ablation {label} hit@p>={target}", float(acc.mean()), "hit rate",
                       note=f"eval precision {prec:.4f}"))
    vetoed_correct = int((veto & correct_ev).sum())
    out.append(Row(B, f"{name} minimal-pair guards veto rate (top-1)", float(veto.mean()), "share",
                   note=f"{int(veto.sum())} of {len(veto)} top-1 matches vetoed; {vetoed_correct} of them were correct"))
    return out


def _lc_embeddings(table):
    from langchain_core.embeddings import Embeddings

    class E(Embeddings):
        def embed_documents(self, texts):
            return [table[t].tolist() for t in texts]

        def embed_query(self, text):
            if text not in table:  # langchain-redis probes the dimension with a dummy text
                return [0.0] * (len(next(iter(table.values()))) - 1) + [1.0]
            return table[text].tolist()

    return E()


def _redisvl_cache(redis_url: str, table: dict[str, np.ndarray], name: str, threshold: float | None = None):
    from redisvl.extensions.cache.llm import SemanticCache as RVLCache
    from redisvl.utils.vectorize import CustomTextVectorizer

    dim = len(next(iter(table.values()))) if table else 384
    zero = [0.0] * (dim - 1) + [1.0]  # only for redisvl's own "dimension test" probe
    vec = CustomTextVectorizer(embed=lambda t, **k: table[t].tolist() if t in table else zero,
                               embed_many=lambda ts, **k: [table[t].tolist() if t in table else zero for t in ts])
    kw = {} if threshold is None else {"distance_threshold": threshold}
    return RVLCache(name=name, vectorizer=vec, redis_url=redis_url, overwrite=True, **kw)


def _redis_baselines(redis_url, tr, TR, q_texts, QV, trl_a, q_lab, name, single) -> list[Row]:
    rows: list[Row] = []
    table = {t: v for t, v in zip(tr, TR)}
    table.update({t: v for t, v in zip(q_texts, QV)})
    # redisvl SemanticCache (default threshold), real store/check.
    try:
        rvl = _redisvl_cache(redis_url, table, f"bench-rvl-{uuid.uuid4().hex[:6]}")
        default_thr = rvl.distance_threshold
        for t, lab in zip(tr, trl_a):
            rvl.store(prompt=t, response=str(lab), vector=table[t].tolist())
        served, dist, resp = [], [], []
        for t in q_texts:
            r = rvl.check(vector=table[t].tolist(), num_results=1, distance_threshold=2.0 if hasattr(rvl, "distance_threshold") else None)
            dist.append(float(r[0]["vector_distance"]) if r else 9.0)
            resp.append(r[0]["response"] if r else None)
        dist_a = np.asarray(dist)
        corr = np.asarray([r == lab for r, lab in zip(resp, q_lab)])
        hit = dist_a <= default_thr
        rows.append(Row(B, f"{name} redisvl SemanticCache default (distance<={default_thr:g})", float(hit.mean()), "hit rate",
                        note=f"precision {corr[hit].mean() if hit.any() else float('nan'):.4f}"))
        for target in (0.99, 0.95):
            hr, prec, thr = _best_single(dist_a, corr, target)
            rows.append(Row(B, f"{name} redisvl best single threshold hit@p>={target}", hr, "hit rate",
                            note=f"precision {prec:.4f} at distance {thr:.4f} (oracle on eval)"))
        rvl.delete()
    except Exception as exc:  # noqa: BLE001 - report, do not fake
        rows.append(Row(B, "redisvl quality", float("nan"), "", note=f"failed: {type(exc).__name__}: {exc}"))
    # langchain-redis RedisSemanticCache through its LangChain API.
    try:
        from langchain_core.outputs import Generation
        from langchain_redis import RedisSemanticCache

        lc = RedisSemanticCache(embeddings=_lc_embeddings(table), redis_url=redis_url,
                                name=f"bench-lcr-{uuid.uuid4().hex[:6]}", prefix=f"lcr{uuid.uuid4().hex[:6]}")
        thr = lc._distance_threshold if hasattr(lc, "_distance_threshold") else 0.2
        for t, lab in zip(tr, trl_a):
            lc.update(t, "llm", [Generation(text=str(lab))])
        got = [lc.lookup(t, "llm") for t in q_texts]
        hit = np.asarray([g is not None for g in got])
        corr = np.asarray([g is not None and g[0].text == lab for g, lab in zip(got, q_lab)])
        rows.append(Row(B, f"{name} langchain-redis RedisSemanticCache default (distance<={thr:g})", float(hit.mean()),
                        "hit rate", note=f"precision {corr[hit].mean() if hit.any() else float('nan'):.4f}"))
        rows.append(Row(B, f"{name} langchain-redis best single threshold hit@p>=0.99", single[0.99], "hit rate",
                        note="top-1 cosine like redisvl (it wraps redisvl's SemanticCache); same curve as the single-threshold rows"))
        lc.clear()
    except Exception as exc:  # noqa: BLE001
        rows.append(Row(B, "langchain-redis quality", float("nan"), "", note=f"failed: {type(exc).__name__}: {exc}"))
    return rows


# --------------------------------------------------------------------------- latency
def exact_hit_rows(quick: bool) -> list[Row]:
    from langchain_core.caches import InMemoryCache
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import FakeChatModelWithUsage
    from llm_cost_hooks.langchain._cache import SemanticCache

    n = 100 if quick else 400
    model = FakeChatModelWithUsage(responses=["The answer is 42."])
    msg = "What is the answer to everything?"
    rows = []
    try:
        set_llm_cache(None)
        base = time_per_call(lambda: model.invoke(msg), number=n, repeat=5, warmup=20)
        cache = SemanticCache(path=":memory:")
        set_llm_cache(cache)
        model.invoke(msg)
        ours = time_per_call(lambda: model.invoke(msg), number=n, repeat=5, warmup=20)
        assert cache.stats.exact_hits > 0
        set_llm_cache(InMemoryCache())
        model.invoke(msg)
        inmem = time_per_call(lambda: model.invoke(msg), number=n, repeat=5, warmup=20)
    finally:
        set_llm_cache(None)
    rows.append(Row(B, "exact hit end to end (embedded)", ours * 1e3, "ms", "no-cache invoke (fake model)", base * 1e3,
                    target="<= 1.2x no-cache invoke", ok=ours <= 1.2 * base,
                    note=f"LangChain InMemoryCache hit: {inmem * 1e3:.3f} ms"))
    return rows


def _noisy_vectors(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(base), n)
    v = base[idx] + rng.normal(0, 0.03, (n, base.shape[1])).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _filled_core(vecs: np.ndarray, keys: list[str], ann: Any = None) -> tuple[Any, Any]:
    """A core on a fresh embedded backend holding ``vecs`` in one partition, written through
    ``put`` (so a large partition's index is built and maintained as in use)."""
    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheEntry, CacheScope, EmbeddedBackend

    core = CacheCore(EmbeddedBackend(max_entries=len(vecs) + 10, ann=ann), embedder=_FixedEmbedder(),
                     config=CacheConfig())
    req = core.request("probe", llm_string="m", scope=CacheScope(tenant="t"))
    for i in range(len(vecs)):
        core.backend.put(CacheEntry(id=f"e{i}", partition=req.partition, exact_key=f"x{i}", tenant="t",
                                    query=f"q{i}", normalized_query=f"q{i}", embedding_model="e", answer="a",
                                    answer_key=keys[i]), vecs[i])
    return core, req


def lookup_rows(quick: bool, redis_url: str | None) -> list[Row]:
    from llm_cost_hooks.cache import AnnIndexConfig

    d = _data_dir()
    p = _find(d, "train")
    if p is None:
        return [Row(B, "semantic lookup", float("nan"), "", note="data missing; skipped")]
    texts, _ = _read(p)
    base = _embed_cached(texts if not quick else texts[:3000])
    sizes = [10_000] if quick else [10_000, 100_000]
    rows: list[Row] = []
    probes = _noisy_vectors(base, 200, seed=1)
    number = 50 if quick else 100
    for n in sizes:
        vecs = _noisy_vectors(base, n)
        keys = [f"k{i % 77}" for i in range(n)]
        results: dict[str, float] = {}
        notes: dict[str, str] = {}
        exact_top = np.argsort(-(probes @ vecs.T), axis=1)[:, :10]
        # ours, embedded (default settings: HNSW graph from AnnIndexConfig.exact_below
        # vectors, exact below): search + decision, what a semantic lookup costs after embedding
        t0 = time.perf_counter()
        core, req = _filled_core(vecs, keys)
        fill_s = time.perf_counter() - t0
        part = core.backend._parts[req.partition]
        pol = core.config.default
        it = iter(range(10**9))

        def timed(c: Any) -> float:
            return time_per_call(lambda: c.decide(req, c.backend.search(req.partition, probes[next(it) % len(probes)],
                                                                           pol.k), pol),
                                 number=number, repeat=5, warmup=10)

        results["ours embedded"] = timed(core)
        got = [[int(nb.entry_id[1:]) for nb in core.backend.search(req.partition, pr, 10)] for pr in probes]
        recall = float(np.mean([len(set(g) & set(e.tolist())) / len(e) for g, e in zip(got, exact_top)]))
        top1 = float(np.mean([bool(g) and g[0] == e[0] for g, e in zip(got, exact_top)]))
        indexed = part.flat is None
        # The anchor: the same lookup with exact search (index off; above the threshold),
        # or the floor of any exact float32 scan, one bare matrix-vector product over the
        # same rows, through BLAS (its thread pool) or on the calling thread (below it).
        mat = np.ascontiguousarray(vecs)
        blas = time_per_call(lambda: mat @ probes[next(it) % len(probes)], number=number, repeat=5, warmup=10)
        local = time_per_call(lambda: np.vecdot(mat, probes[next(it) % len(probes)]), number=number, repeat=5,
                              warmup=10)
        exact_t = None
        if indexed:
            del core, part
            exact_core, _ = _filled_core(vecs, keys, AnnIndexConfig(enabled=False))
            exact_t = timed(exact_core)
            del exact_core
        gpt = _gptcache_latency(vecs, probes, number)
        if isinstance(gpt, float):
            results["GPTCache (faiss Flat store search only)"] = gpt
        else:
            notes["gptcache"] = gpt
        if redis_url is not None:
            redis_res, redis_notes = _redis_lookup_latency(redis_url, vecs, keys, probes, quick, n, exact_top)
            results.update(redis_res)
            notes.update(redis_notes)
        emb = results["ours embedded"]
        others = {k: v for k, v in results.items() if not k.startswith("ours")}
        ann = AnnIndexConfig()
        emb_note = (f"usearch HNSW (M {ann.connectivity}, ef {ann.expansion_search}) on noisy copies of banking77 "
                    f"vectors (real-text recall: the ANN rows): recall@10 vs exact "
                    f"{recall:.4f}, same top-1 {top1:.3f} over {len(probes)} probes; exact search (index off) "
                    f"{exact_t * 1e3:.3f} ms; filled through put() in {fill_s:.0f} s"
                    if indexed else f"exact search (below the {ann.exact_below:,}-vector graph threshold)")
        emb_note += (f"; bare float32 matvec over the same {n:,}x{vecs.shape[1]} rows: BLAS {blas * 1e3:.3f} ms, "
                     f"calling thread {local * 1e3:.3f} ms")
        for name, t in results.items():
            is_ours = name.startswith("ours")
            is_emb = name == "ours embedded"
            limit = 1e-3 if is_emb else 2e-3
            rivals = [v for k, v in others.items() if ("Redis" in name) == ("GPTCache" not in k)] if is_ours else []
            if is_emb:
                anchor_name, anchor = (("ours, exact search (index off)", exact_t * 1e3) if indexed
                                       else ("float32 scan floor", min(blas, local) * 1e3))
            else:
                anchor_name, anchor = "ours embedded", emb * 1e3
            target = ""
            if is_ours:
                target = (f"<= {limit * 1e3:g} ms and faster than "
                          + ("redisvl/langchain-redis" if "Redis" in name else "GPTCache")
                          + ("; recall@10 vs exact >= 0.99" if is_emb and indexed else ""))
            rows.append(Row(
                B, f"semantic lookup excl. embedding, {n:,} entries: {name}", t * 1e3, "ms", anchor_name, anchor,
                target=target,
                ok=(t <= limit and all(t < o for o in rivals) and (recall >= 0.99 or not is_emb)) if is_ours else None,
                note=emb_note if is_emb else notes.get(name, ""),
            ))
        for key, label in (("gptcache", "GPTCache"), ("GPTCache Redis", "GPTCache on Redis")):
            if key in notes:
                rows.append(Row(B, f"semantic lookup excl. embedding, {n:,} entries: {label}", float("nan"), "",
                                note=notes[key]))
    return rows


class _FixedEmbedder:
    name = "bench-fixed"
    dim = 384

    def embed(self, texts):
        raise RuntimeError("the latency benchmark passes vectors directly")

    def embed_one(self, text):
        raise RuntimeError("the latency benchmark passes vectors directly")


def _gptcache_no_installs() -> None:
    """GPTCache pip-installs missing modules at import time (a subprocess ``pip install``
    into whatever ``pip`` is on PATH); a benchmark must never do that, so make it fail."""
    import gptcache.utils as gu
    import gptcache.utils.dependency_control as dc

    def _refuse(package: str, warn: bool = False) -> None:
        raise ModuleNotFoundError(f"GPTCache wanted to pip-install {package!r} at run time (refused)")

    dc.prompt_install = gu.prompt_install = _refuse


def _gptcache_latency(vecs: np.ndarray, probes: np.ndarray, number: int) -> float | str:
    """GPTCache's own vector store (faiss ``IDMap,Flat``, what ``VectorBase("faiss")`` builds)
    on the same vectors: only its search, not its SQL scalar store or evaluation."""
    try:
        _gptcache_no_installs()
        from gptcache.manager.vector_data.base import VectorData
        from gptcache.manager.vector_data.faiss import Faiss
    except Exception as exc:  # noqa: BLE001
        return f"not run: {type(exc).__name__}: {exc} (pip install gptcache faiss-cpu)"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = Faiss(os.path.join(tmp, "faiss.index"), vecs.shape[1], 10)
        store.mul_add([VectorData(id=i, data=vecs[i]) for i in range(len(vecs))])
        it = iter(range(10**9))
        return time_per_call(lambda: store.search(probes[next(it) % len(probes)], top_k=10),
                             number=number, repeat=5, warmup=10)


def _gptcache_redis_note() -> str:
    try:
        _gptcache_no_installs()
        from gptcache.manager.vector_data.redis_vectorstore import RedisVectorStore  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        import importlib.util

        import redis

        old_api = importlib.util.find_spec("redis.commands.search.indexDefinition") is not None
        return (f"GPTCache's Redis vector store cannot run here: {type(exc).__name__}: {exc}"
                + ("" if old_api else f"; and it imports redis.commands.search.indexDefinition, which "
                   f"redis-py {redis.__version__} no longer has (renamed index_definition)"))
    return "GPTCache's Redis vector store imports, but is not benchmarked"


def _load_ours(client, backend, partition: str, vecs, keys) -> None:
    backend._ensure_index(vecs.shape[1])
    pipe = client.pipeline(transaction=False)
    for i in range(len(vecs)):
        pipe.hset(f"{backend.prefix}:e:e{i}", mapping={"partition": partition, "answer_key": keys[i], "query": f"q{i}",
                                                       "vec": vecs[i].tobytes(), "xk": f"x{i}", "data": "{}"})
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    _wait_indexed(client, backend.index_name, len(vecs))


def _redis_lookup_latency(redis_url, vecs, keys, probes, quick, n, exact_top) -> tuple[dict[str, float], dict[str, str]]:
    import redis as redis_lib

    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, RedisBackend

    out: dict[str, float] = {}
    notes: dict[str, str] = {}
    number = 30 if quick else 50
    client = redis_lib.Redis.from_url(redis_url)
    it = iter(range(10**9))
    # ours on Redis, HNSW (default) and FLAT: bulk-load hashes in the backend's layout
    # (pipelined), then time search + decide.
    for algo in ("hnsw", "flat"):
        backend = RedisBackend(redis_url, prefix=f"bl{uuid.uuid4().hex[:6]}", timeout_s=5.0, algorithm=algo)
        core = CacheCore(backend, embedder=_FixedEmbedder(), config=CacheConfig())
        req = core.request("probe", llm_string="m", scope=CacheScope(tenant="t"))
        t0 = time.perf_counter()
        _load_ours(client, backend, req.partition, vecs, keys)
        load_s = time.perf_counter() - t0
        pol = core.config.default
        name = f"ours Redis {algo.upper()}"
        out[name] = time_per_call(
            lambda: core.decide(req, backend.search(req.partition, probes[next(it) % len(probes)], pol.k), pol),
            number=number, repeat=5, warmup=5)
        # Recall against exact search.
        got = [[int(nb.entry_id[1:]) for nb in backend.search(req.partition, pr, pol.k)] for pr in probes]
        rec = np.mean([len(set(g) & set(e.tolist())) / len(e) for g, e in zip(got, exact_top)])
        top1 = np.mean([bool(g) and g[0] == e[0] for g, e in zip(got, exact_top)])
        notes[name] = (f"recall@10 vs exact {rec:.4f}, same top-1 {top1:.3f} over {len(probes)} probes; "
                       f"load+index {load_s:.0f} s" + (f"; EF_RUNTIME {backend.ef_runtime}" if algo == "hnsw" else ""))
        client.execute_command("FT.DROPINDEX", backend.index_name, "DD")
    notes["GPTCache Redis"] = _gptcache_redis_note()
    # redisvl SemanticCache: load through its index (pipelined), time check(vector=...).
    try:
        table = {"probe": probes[0]}
        rvl = _redisvl_cache(redis_url, table, f"lat-rvl-{uuid.uuid4().hex[:6]}")
        recs = [{"entry_id": f"e{i}", "prompt": f"q{i}", "response": keys[i], "prompt_vector": vecs[i].tobytes(),
                 "inserted_at": time.time(), "updated_at": time.time()} for i in range(n)]
        rvl._index.load(recs, id_field="entry_id")
        _wait_indexed(client, rvl._index.name, n)
        out["redisvl SemanticCache"] = time_per_call(
            lambda: rvl.check(vector=probes[next(it) % len(probes)].tolist(), num_results=1),
            number=number, repeat=5, warmup=5)
        notes["redisvl SemanticCache"] = "top-1 only (num_results=1), its default FLAT index"
        rvl.delete()
    except Exception as exc:  # noqa: BLE001
        print(f"[bench cache] redisvl latency failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    # langchain-redis: same index type underneath; load via its redisvl cache, time lookup().
    try:
        from langchain_redis import RedisSemanticCache

        ptable = {f"probe{i}": probes[i] for i in range(len(probes))}
        lc = RedisSemanticCache(embeddings=_lc_embeddings(ptable), redis_url=redis_url,
                                name=f"lat-lcr-{uuid.uuid4().hex[:6]}", prefix=f"lcr{uuid.uuid4().hex[:6]}")
        inner = lc.cache
        recs = [{"entry_id": f"e{i}", "prompt": f"q{i}", "response": "[]", "prompt_vector": vecs[i].tobytes(),
                 "inserted_at": time.time(), "updated_at": time.time(), "metadata": "{\"llm_string\": \"x\"}"} for i in range(n)]
        inner._index.load(recs, id_field="entry_id")
        _wait_indexed(client, inner._index.name, n)
        out["langchain-redis RedisSemanticCache"] = time_per_call(
            lambda: lc.lookup(f"probe{next(it) % len(probes)}", "llm"), number=number, repeat=5, warmup=5)
        notes["langchain-redis RedisSemanticCache"] = "top-1, its default FLAT index (embedding table lookup included)"
        lc.clear()
        inner.delete()
    except Exception as exc:  # noqa: BLE001
        print(f"[bench cache] langchain-redis latency failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return out, notes


def _wait_indexed(client, index: str, n: int, timeout: float = 900) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        info = client.execute_command("FT.INFO", index)
        if isinstance(info, dict):
            num = int(info.get(b"num_docs", info.get("num_docs", 0)))
            pct = float(info.get(b"percent_indexed", info.get("percent_indexed", 1)))
        else:
            d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in zip(info[::2], info[1::2])}
            num, pct = int(d.get("num_docs", 0)), float(d.get("percent_indexed", 1))
        if num >= n and pct >= 1:
            return
        time.sleep(0.2)


def embed_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks.embeddings import default_embedder

    d = _data_dir()
    p = _find(d, "test")
    texts = _read(p)[0][:300] if p else [f"How do I reset my PIN number {i}?" for i in range(300)]
    emb = default_embedder()
    for t in texts[:20]:
        emb.embed_one(t)
    ts = []
    for t in texts[: 100 if quick else 300]:
        t0 = time.perf_counter()
        emb.embed_one(t)
        ts.append(time.perf_counter() - t0)
    p50 = percentile(ts, 0.5) * 1e3
    return [Row(B, "embed one query (int8 MiniLM, onnxruntime)", p50, "ms p50", target="<= 5 ms p50", ok=p50 <= 5.0,
                note=f"p90 {percentile(ts, 0.9) * 1e3:.2f} ms over {len(ts)} banking77 queries")]


def isolation_rows(redis_url: str | None) -> list[Row]:
    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, EmbeddedBackend, RedisBackend
    from llm_cost_hooks.embeddings import default_embedder

    rows = []
    cfg = CacheConfig(default=DecisionPolicy(kind="similarity", threshold=0.5, min_similarity=0.5), audit_sample_rate=0)
    backends: list[tuple[str, Any]] = [("embedded", EmbeddedBackend())]
    if redis_url:
        backends.append(("Redis", RedisBackend(redis_url, prefix=f"iso{uuid.uuid4().hex[:6]}")))
    for name, backend in backends:
        core = CacheCore(backend, embedder=default_embedder(), config=cfg)
        tenants = [f"tenant-{i}" for i in range(100)]
        for t in tenants:
            core.update(core.request("How do I reset my PIN?", llm_string="m", scope=CacheScope(tenant=t)), t)
        cross = hits = 0
        for t in tenants:
            for q in ("How do I reset my PIN?", "How can I reset my PIN?"):
                h = core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant=t)))
                hits += h is not None
                cross += h is not None and h.entry.answer != t
        anon = core.lookup(core.request("How do I reset my PIN?", llm_string="m", scope=CacheScope()))
        cross += anon is not None
        rows.append(Row(B, f"isolation, 100 tenants x identical query ({name}): cross-tenant hits", float(cross), "hits",
                        target="0", ok=cross == 0, note=f"{hits} same-tenant hits of 200 lookups (lenient 0.5 threshold)"))
    return rows


def _redis() -> tuple[str | None, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from _servers import RedisServer

        srv = RedisServer()
        srv.start()
        return srv.url, srv
    except Exception as exc:  # noqa: BLE001
        print(f"[bench cache] cannot start Redis ({exc}); Redis rows skipped", file=sys.stderr)
        return None, None


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    url, srv = _redis()
    try:
        rows = embed_rows(quick)
        rows += exact_hit_rows(quick)
        rows += quality_rows(quick, url)
        rows += lookup_rows(quick, url)
        from bench import bench_ann

        rows += bench_ann.rows(quick)
        rows += isolation_rows(url)
    finally:
        if srv is not None:
            srv.close()
    return rows
