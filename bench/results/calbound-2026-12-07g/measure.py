"""Does a bound `calibrate` claims hold on unseen test traffic? Banking77, HWU64, MRPC, several seeds.

Intent sets: calibration rows = a train sample (the bench's first 3000, or a seeded random 3000)
plus 300 off-topic queries (the other set's test rows); unseen traffic = 600 test rows (first 600
or a seeded random 600) plus 300 other off-topic rows, against the calibration rows as the cache.
MRPC: calibrate on the train pairs, serve the test pairs with the claimed threshold.

    python bench/results/calbound-2026-12-07g/measure.py [--seeds 4] [--targets 0.95,0.9] [--all-labels-stored]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.bench_cache import _embed_cached, _intent_sets, _read_mrpc, _semantic_cache_dir  # noqa: E402
from llm_cost_hooks.cache._calibrate import _verified_scores, calibrate_intents, calibrate_pairs  # noqa: E402
from llm_cost_hooks.cache._signals import wilson_lower_bound  # noqa: E402
from llm_cost_hooks.cache._verifier import PairVerifier  # noqa: E402

VER = PairVerifier.default()


def serve(policy, cache_t, cache_l, cv, q_t, q_l, qv):
    if not policy.enabled:
        return None
    s = qv @ cv.T
    top, sim = s.argmax(1), s.max(1)
    sc = _verified_scores(q_t, [cache_t[t] for t in top], sim, VER)
    served = (sc >= policy.pair_threshold) & (sim >= policy.min_similarity)
    idx = np.where(served)[0]
    good = sum(1 for i in idx if q_l[i] and cache_l[top[i]] == q_l[i])
    unans = sum(1 for i in idx if q_l[i] and q_l[i] not in set(cache_l))
    off = sum(1 for i in idx if not q_l[i])
    return good, len(idx), unans, off, len(q_t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--targets", default="0.95,0.9")
    ap.add_argument("--sets", default="banking77,hwu64,mrpc")
    ap.add_argument("--all-labels-stored", action="store_true", help="calibrate with new_questions=False")
    a = ap.parse_args()
    targets = [float(x) for x in a.targets.split(",")]
    full = _intent_sets(False)
    names = [n for n in full if n in a.sets.split(",")]
    print(
        "set protocol seed target | claimed fit_pt hold(c/h) lowb | test c/h prec upper | wrong: unanswerable off-topic | test hit rate"
    )
    fails = claims = 0
    for name in names:
        tr, trl, te, tel = full[name]
        other = full[[n for n in full if n != name][0]]
        otv = _embed_cached(other[2])
        trv, tev = _embed_cached(tr), _embed_cached(te)
        for proto in ("first", "random"):
            for seed in range(a.seeds):
                rng = np.random.default_rng(1000 + seed)
                if proto == "first":
                    ci, ti = np.arange(3000), np.arange(600)
                else:
                    ci = np.sort(rng.choice(len(tr), 3000, replace=False))
                    ti = np.sort(rng.choice(len(te), 600, replace=False))
                oi = rng.permutation(len(other[2]))
                off_cal, off_test = oi[:300], oi[300:600]
                ct, cl = [tr[i] for i in ci], [trl[i] for i in ci]
                texts = ct + [other[2][i] for i in off_cal]
                labels = cl + [""] * 300
                vec = np.concatenate([trv[ci], otv[off_cal]])
                qt = [te[i] for i in ti] + [other[2][i] for i in off_test]
                ql = [tel[i] for i in ti] + [""] * 300
                qv = np.concatenate([tev[ti], otv[off_test]])
                for tgt in targets:
                    extra = {"new_questions": False} if a.all_labels_stored else {}
                    res = calibrate_intents(
                        texts, labels, vectors=(vec, vec), target_precision=tgt, seed=seed, **extra
                    )
                    h = res.holdout
                    ev = serve(res.policy, ct, cl, trv[ci], qt, ql, qv)
                    line = f"{name} {proto} {seed} {tgt} | {'MET' if res.met else 'not'} "
                    shown = res.point if res.met else res.rejected
                    line += f"{shown.precision:.4f} " if shown else "- "
                    line += f"{h.correct}/{h.hits} {h.precision_lower:.4f} | " if h else "- | "
                    if ev is None:
                        line += "disabled"
                    else:
                        g, n, un, off, nq = ev
                        p = g / n if n else float("nan")
                        up = 1 - wilson_lower_bound(n - g, n, 0.95) if n else 1.0
                        claims += 1
                        fail = p < tgt
                        fails += fail
                        line += f"{g}/{n} {p:.4f} {up:.4f}{' FAIL' if fail else ''}{' CLEAR' if up < tgt else ''} | {un} {off} | {n / nq:.4f}"
                    print(line, flush=True)
    if "mrpc" in a.sets:
        base = _semantic_cache_dir() / "mrpc"
        trp = _read_mrpc(base / "msr_paraphrase_train.txt.gz")
        tep = _read_mrpc(base / "msr_paraphrase_test.txt.gz")
        A, B = _embed_cached([p[0] for p in trp]), _embed_cached([p[1] for p in trp])
        TA, TB = _embed_cached([p[0] for p in tep]), _embed_cached([p[1] for p in tep])
        sims = (TA * TB).sum(1)
        tsc = _verified_scores([p[1] for p in tep], [p[0] for p in tep], sims, VER)
        ty = np.array([p[2] == "1" for p in tep])
        for seed in range(a.seeds):
            for tgt in targets:
                res = calibrate_pairs(
                    [p[0] for p in trp],
                    [p[1] for p in trp],
                    [p[2] for p in trp],
                    vectors=(A, B),
                    target_precision=tgt,
                    seed=seed,
                )
                h = res.holdout
                line = f"mrpc pairs {seed} {tgt} | {'MET' if res.met else 'not'} "
                line += f"{h.correct}/{h.hits} {h.precision_lower:.4f} | " if h else "- | "
                if not res.met:
                    line += "disabled"
                else:
                    sv = tsc >= res.policy.pair_threshold
                    n, g = int(sv.sum()), int((sv & ty).sum())
                    p = g / n if n else float("nan")
                    up = 1 - wilson_lower_bound(n - g, n, 0.95) if n else 1.0
                    claims += 1
                    fail = p < tgt
                    fails += fail
                    line += f"{g}/{n} {p:.4f} {up:.4f}{' FAIL' if fail else ''}{' CLEAR' if up < tgt else ''} | | {n / len(tep):.4f}"
                print(line, flush=True)
    print(f"claims {claims}, test precision below target {fails}")


if __name__ == "__main__":
    main()
