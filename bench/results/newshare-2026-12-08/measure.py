"""Does a bound `calibrate --new-share F` claims hold on traffic whose real share of new questions is T?

Banking77 and HWU64, per seed: 40 % of the labels are kept out of the cache ("unseen"); the cache
(and calibration rows) = 3,000 random train rows of the other labels plus 300 off-topic queries
(the other set's test rows). Test traffic for a true share T = 400 in-domain test queries, of which
round(T*400) ask an unseen label and the rest a stored one, plus 200 other off-topic rows, served
against the 3,000 cache rows with the policy calibration wrote. Every calibration (one per
--new-share value G) is served on the traffic of every T, so G == T rows are the matched ones and
the others show what a wrong G costs.

    python bench/results/newshare-2026-12-08/measure.py [--seeds 4] [--targets 0.95,0.9] [--cals 0,0.25,0.5,0.75]
        [--cal-from train|test] [--n-traffic 400]

``--cals`` may also hold ``legacy`` (``calibrate_intents`` defaults, ``new_questions=True``) and
``legacy0`` (``new_questions=False``), which run on code without ``new_share`` too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(os.environ.get("NEWSHARE_ROOT", Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(ROOT))

from bench.bench_cache import _embed_cached, _intent_sets  # noqa: E402
from llm_cost_hooks.cache._calibrate import _verified_scores, calibrate_intents  # noqa: E402
from llm_cost_hooks.cache._signals import wilson_lower_bound  # noqa: E402
from llm_cost_hooks.cache._verifier import PairVerifier  # noqa: E402

VER = PairVerifier.default()
TRUE_SHARES = (0.0, 0.25, 0.5, 0.75)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--targets", default="0.95,0.9")
    ap.add_argument("--sets", default="banking77,hwu64")
    ap.add_argument("--cals", default="0,0.25,0.5,0.75")
    ap.add_argument("--n-cache", type=int, default=3000)
    ap.add_argument("--n-traffic", type=int, default=400)
    ap.add_argument("--unseen", type=float, default=0.4, help="share of labels kept out of the cache")
    ap.add_argument(
        "--cal-from",
        choices=["train", "test"],
        default="train",
        help="'test': the cache and calibration rows are half of the stored labels' test rows (rows the "
        "pair verifier was not fitted on; it was fitted on the train splits), the traffic the other half",
    )
    a = ap.parse_args()
    print(f"code: {ROOT}; load {Path('/proc/loadavg').read_text().strip()}", flush=True)
    targets = [float(x) for x in a.targets.split(",")]
    full = _intent_sets(False)
    print(
        "set seed target cal traffic | claimed estimate | test correct/served prec upper | wrong: unseen-label off-topic | test hit rate"
    )
    for name in [n for n in full if n in a.sets.split(",")]:
        tr0, trl0, te, tel = full[name]
        other = full[[n for n in full if n != name][0]]
        otv = _embed_cached(other[2])
        trv0, tev = _embed_cached(tr0), _embed_cached(te)
        for seed in range(a.seeds):
            tr, trl, trv = tr0, trl0, trv0
            rng = np.random.default_rng(3000 + seed)
            labs = sorted(set(trl))
            unseen = set(rng.choice(labs, round(a.unseen * len(labs)), replace=False).tolist())
            if a.cal_from == "train":
                pool = [i for i, lab in enumerate(trl) if lab not in unseen]
                ci = np.sort(rng.choice(pool, a.n_cache, replace=False))
            oi = rng.permutation(len(other[2]))
            off_cal, off_test = oi[:300], oi[300:500]
            te_u = rng.permutation([i for i, lab in enumerate(tel) if lab in unseen])
            te_s = rng.permutation([i for i, lab in enumerate(tel) if lab not in unseen])
            if a.cal_from == "test":  # store half of the stored labels' test rows, ask the other half
                tr, trl, trv = te, tel, tev
                ci, te_s = np.sort(te_s[: len(te_s) // 2]), te_s[len(te_s) // 2 :]
            ct, cl = [tr[i] for i in ci], [trl[i] for i in ci]
            texts, labels = ct + [other[2][i] for i in off_cal], cl + [""] * 300
            vec = np.concatenate([trv[ci], otv[off_cal]])
            # Every test row and the off-topic traffic scored once against the cache.
            qv = np.concatenate([tev, otv[off_test]])
            qt = te + [other[2][i] for i in off_test]
            ql = tel + [""] * len(off_test)
            s = qv @ trv[ci].T
            top, sim = s.argmax(1), s.max(1)
            sc = _verified_scores(qt, [ct[t] for t in top], sim, VER)
            traffic = {}
            for share in TRUE_SHARES:
                nu = round(share * a.n_traffic)
                assert nu <= len(te_u) and a.n_traffic - nu <= len(te_s), (name, share)
                traffic[share] = np.concatenate(
                    [te_u[:nu], te_s[: a.n_traffic - nu], len(te) + np.arange(len(off_test))]
                ).astype(int)
            for tgt in targets:
                for cal in a.cals.split(","):
                    if cal == "legacy":
                        extra: dict = {}
                    elif cal == "legacy0":
                        extra = {"new_questions": False}
                    else:
                        extra = {"new_share": float(cal)}
                    res = calibrate_intents(
                        texts, labels, vectors=(vec, vec), target_precision=tgt, seed=seed, **extra
                    )
                    est = getattr(res, "new_share_estimate", None)
                    est_s = "-" if est is None else f"{est:.3f}"
                    p = res.policy
                    for share, idx in traffic.items():
                        line = f"{name} {seed} {tgt} {cal} {share} | {'MET' if res.met else 'not'} {est_s} | "
                        if not p.enabled:
                            print(line + "disabled", flush=True)
                            continue
                        served = idx[(sc[idx] >= p.pair_threshold) & (sim[idx] >= p.min_similarity)]
                        n = len(served)
                        g = sum(1 for i in served if ql[i] and cl[top[i]] == ql[i])
                        un = sum(1 for i in served if ql[i] in unseen)
                        off = sum(1 for i in served if not ql[i])
                        prec = g / n if n else float("nan")
                        up = 1 - wilson_lower_bound(n - g, n, 0.95) if n else 1.0
                        fail = n > 0 and prec < tgt
                        line += f"{g}/{n} {prec:.4f} {up:.4f}{' FAIL' if fail else ''}{' CLEAR' if up < tgt else ''} | {un} {off} | {n / len(idx):.4f}"
                        print(line, flush=True)
    print(f"done; load {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
