"""Where the semantic decision's thresholds can sit: validation slice of train vs test.

``python bench/pair_threshold_sweep.py [--mrpc-lookups T ...]``. For Banking77 and HWU64 (fold 1): thresholds are
read on a validation slice (a seeded 20 % of train looked up against the other 80 %), then
reported on test (test queries against all of train). Free-text answers: the pair verifier
alone decides; keyed answers: the neighbourhood model where answers repeat (pair path off).
MRPC: one stored sentence per pair, train and test, beside the single cosine threshold that
serves as many non-paraphrases. A threshold is usable only when both intent sets reach
precision 0.99 on validation.

``--mrpc-lookups 0.93 0.95 [--mrpc-split train]`` instead runs the MRPC test (or train) pairs through ``CacheCore.lookup``
(one stored sentence per partition) with ``DecisionPolicy(pair_threshold=T)``: the whole
decision, not the verifier alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_cache import _embed_cached, _intent_sets, _read_mrpc, _semantic_cache_dir, _TableEmbedder
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.cache._signals import DecisionPolicy
from llm_cost_hooks.cache._verifier import PairVerifier


def _lookups(ct, cl, C, qt, ql, Q, k: int = 10) -> dict[str, np.ndarray]:
    verifier, policy = PairVerifier.default(), DecisionPolicy()
    S = Q @ C.T
    idx = np.argsort(-S, 1)[:, :k]
    cl_a = np.asarray(cl)
    out: dict[str, list] = {f: [] for f in ("sim", "veto", "p", "score", "agreeing", "correct")}
    for i, nb in enumerate(idx):
        sims, j = S[i, nb].tolist(), nb[0]
        out["sim"].append(sims[0])
        out["veto"].append(bool(contrast_flags(qt[i], ct[j])))
        out["p"].append(verifier.probability(qt[i], ct[j], sims[0]))
        out["score"].append(policy.score(sims, [cl_a[n] == cl_a[j] for n in nb]))
        out["agreeing"].append(
            sum(1 for n, s in zip(nb[1:], sims[1:]) if cl_a[n] == cl_a[j] and s >= policy.min_similarity)
        )
        out["correct"].append(cl_a[j] == ql[i])
    return {f: np.asarray(v) for f, v in out.items()}


def _fmt(served: np.ndarray, correct: np.ndarray) -> str:
    n = int(served.sum())
    return f"{n / len(served):6.1%} @ {correct[served].mean():.4f}" if n else "  0.0 % @    -  "


def mrpc_lookups(thresholds: list[float], split: str = "test") -> int:
    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend

    p = _semantic_cache_dir() / "mrpc" / f"msr_paraphrase_{split}.txt.gz"
    if not p.is_file():
        print(f"needs {p}", file=sys.stderr)
        return 1
    rows = _read_mrpc(p)
    A, B = _embed_cached([r[0] for r in rows]), _embed_cached([r[1] for r in rows])
    table = _TableEmbedder([r[0] for r in rows] + [r[1] for r in rows], np.concatenate([A, B]))
    y, cos = np.array([r[2] == "1" for r in rows]), (A * B).sum(1)
    neg = np.sort(cos[~y])[::-1]
    for t in thresholds:
        config = CacheConfig(default=DecisionPolicy(pair_threshold=t), audit_sample_rate=0.0)
        core = CacheCore(EmbeddedBackend(), embedder=table, config=config, seed=0)
        hit = []
        for i, (stored, query, _) in enumerate(rows):
            scope = CacheScope(tenant=f"pair-{i}")
            core.update(core.request(stored, llm_string="m", scope=scope), f"answer-{i}")
            hit.append(core.lookup(core.request(query, llm_string="m", scope=scope)) is not None)
        h = np.array(hit)
        fh, rec = int((h & ~y).sum()), float((h & y).sum() / y.sum())
        k = fh or int(0.01 * len(neg))  # as bench cache: 1 % when nothing false was served
        base = float((cos[y] > neg[k]).mean())
        print(
            f"MRPC {split} pair_threshold {t}: false hits {fh} of {int((~y).sum())} ({fh / (~y).sum():.4f}), recall {rec:.4f} "
            f"({int((h & y).sum())} of {int(y.sum())}); single cosine > {neg[k]:.4f} ({k} false hits): recall "
            f"{base:.4f}; {rec / base:.2f}x"
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mrpc-lookups", type=float, nargs="+", metavar="T")
    ap.add_argument(
        "--mrpc-split",
        choices=("train", "test"),
        default="test",
        help="pick thresholds on train, report on test",
    )
    args = ap.parse_args()
    if args.mrpc_lookups:
        return mrpc_lookups(args.mrpc_lookups, args.mrpc_split)
    sets = _intent_sets(quick=False)
    if not sets:
        print(f"needs banking77/hwu64 under {_semantic_cache_dir()}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(0)
    data = {}
    for name, (tr, trl, te, tel) in sets.items():
        TR, TE = _embed_cached(tr), _embed_cached(te)
        perm = rng.permutation(len(tr))
        vi, fi = perm[: len(tr) // 5], perm[len(tr) // 5 :]
        data[f"{name} val"] = _lookups(
            [tr[i] for i in fi],
            [trl[i] for i in fi],
            TR[fi],
            [tr[i] for i in vi],
            [trl[i] for i in vi],
            TR[vi],
        )
        data[f"{name} test"] = _lookups(tr, trl, TR, te, tel, TE)
    mrpc = {}
    for split in ("train", "test"):
        p = _semantic_cache_dir() / "mrpc" / f"msr_paraphrase_{split}.txt.gz"
        if p.is_file():
            m = _read_mrpc(p)
            A, B = _embed_cached([r[0] for r in m]), _embed_cached([r[1] for r in m])
            cos = (A * B).sum(1)
            mrpc[split] = (
                np.array(
                    [
                        not contrast_flags(b, a) and PairVerifier.default().probability(b, a, float(c))
                        for (a, b, _), c in zip(m, cos)
                    ],
                    dtype=float,
                ),
                np.array([r[2] == "1" for r in m]),
                np.array([bool(contrast_flags(b, a)) for a, b, _ in m]),
                cos,
            )
    print("free-text answers: pair verifier alone (hit rate @ precision)")
    for pt in (0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.975, 0.98, 0.985):
        line = f"pair_threshold {pt:<6}"
        for k, d in data.items():
            line += f" | {k} {_fmt(~d['veto'] & (d['p'] >= pt), d['correct'])}"
        for split, (p, y, veto, cos) in mrpc.items():
            s = ~veto & (p >= pt)
            fh, rec = int((s & ~y).sum()), (s & y).sum() / y.sum()
            neg = np.sort(cos[~y])[::-1]  # the cosine threshold that serves as many non-paraphrases
            base = float((cos[y] > (neg[fh] if fh < len(neg) else -1.0)).mean())
            line += (
                f" | MRPC {split} false hits {fh / (~y).sum():.4f} recall {rec:.3f}"
                f" (single cosine {base:.3f}, {rec / base if base else float('inf'):.2f}x)"
            )
        print(line)
    print("keyed answers: neighbourhood model, pair path off (hit rate @ precision)")
    for nt in (0.9, 0.92, 0.94, 0.95, 0.96, 0.9736, 0.98, 0.99):
        line = f"threshold {nt:<6}"
        for k, d in data.items():
            line += f" | {k} {_fmt(~d['veto'] & (d['agreeing'] >= 2) & (d['score'] >= nt), d['correct'])}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
