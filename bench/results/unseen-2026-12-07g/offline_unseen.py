"""Unseen-intent evaluation of the keyed default decision, offline (numpy, cached vectors).

Stores a random share of the intents (all their training rows, or N per intent), asks the
whole test split, seeds 0-2. Precision counts every semantic hit (a hit on a question whose
intent is not stored is wrong); hit rate is over questions whose intent IS stored. Contrast
checks are applied to the hits a variant accepts (as the core does). Exact text matches are
left out (the exact tier answers them).
"""

import os
import sys

sys.path.append(os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")))
import numpy as np

from bench.bench_cache import _embed_cached, _intent_sets
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.cache._signals import _DEFAULT_WEIGHTS as W
from llm_cost_hooks.cache._signals import _TAU

GAP = 0.15


def feats(s, same):
    s1 = s[:, :1]
    sd = np.where(~same, np.maximum(s, s1 - GAP), s)
    diffmax = np.where(~same, sd, -np.inf).max(1)
    diffmax = np.where(np.isfinite(diffmax), diffmax, 0.0)
    margin = s1[:, 0] - diffmax
    w = np.exp((sd - s1) / _TAU)
    a5 = (w[:, :5] * same[:, :5]).sum(1) / w[:, :5].sum(1)
    a10 = (w * same).sum(1) / w.sum(1)
    F = np.stack([s[:, 0], s[:, 1], margin, a5, a10, s1[:, 0] - sd[:, 4]], 1)
    z = W[-1] + F @ np.asarray(W[:-1])
    return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


def neigh(Q, C, clab, k=10):
    S = Q @ C.T
    kk = min(k, S.shape[1])
    idx = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
    ss = np.take_along_axis(S, idx, 1)
    o = np.argsort(-ss, 1)
    idx = np.take_along_axis(idx, o, 1)
    ss = np.take_along_axis(ss, o, 1)
    keys = clab[idx]
    same = keys == keys[:, :1]
    if kk < k:
        ss = np.concatenate([ss, np.zeros((len(ss), k - kk))], 1)
        same = np.concatenate([same, np.zeros((len(ss), k - kk), bool)], 1)
        idx = np.concatenate([idx, np.zeros((len(ss), k - kk), int)], 1)
    return ss, same, idx


def settings(name, quick_only=False):
    tr, trl, te, tel = _intent_sets(False)[name]
    trl, tel = np.asarray(trl), np.asarray(tel)
    intents = np.unique(trl)
    out = []
    if not quick_only:
        for share in (0.3, 0.6, 1.0):
            for seed in (0, 1, 2):
                if share == 1.0 and seed:
                    continue
                rng = np.random.default_rng(seed)
                keep = set(rng.choice(intents, round(share * len(intents)), replace=False))
                idx = np.array([i for i, lab in enumerate(trl) if lab in keep])
                out.append((f"{int(share * 100)}%all", seed, idx, np.arange(len(te))))
        for share in (0.3, 1.0):  # a fixed number per stored intent: a sparse store of known intents
            for seed in (0, 1, 2):
                rng = np.random.default_rng(100 + seed)
                keep = rng.choice(intents, round(share * len(intents)), replace=False)
                idx = np.sort(
                    np.concatenate(
                        [
                            rng.choice(np.flatnonzero(trl == lab), min(10, (trl == lab).sum()), replace=False)
                            for lab in keep
                        ]
                    )
                )
                out.append((f"{int(share * 100)}%x10", seed, idx, np.arange(len(te))))
    out.append(("quick", "-", np.arange(3000), np.arange(600)))
    return tr, trl, te, tel, out


def prepare(name, quick_only=False):
    tr, trl, te, tel, sets = settings(name, quick_only)
    TR, TE = _embed_cached(tr), _embed_cached(te)
    res = []
    for label, seed, idx, qi in sets:
        ss, same, nidx = neigh(TE[qi], TR[idx], trl[idx])
        stored = set(trl[idx])
        trset = {tr[i] for i in idx}
        q = [te[i] for i in qi]
        exact = np.array([t in trset for t in q])
        top_text = [tr[idx[j]] for j in nidx[:, 0]]
        correct = trl[idx][nidx[:, 0]] == tel[qi]
        known = np.array([lab in stored for lab in tel[qi]])
        keep = ~exact
        res.append(
            dict(
                label=label,
                seed=seed,
                ss=ss[keep],
                same=same[keep],
                correct=correct[keep],
                known=known[keep],
                q=[t for t, e in zip(q, exact) if not e],
                top=[t for t, e in zip(top_text, exact) if not e],
                # spread: the nearest entry's class members' similarity to each other (median of each
                # member's nearest same-class neighbour), for the "class spread" candidate
                nidx=nidx[keep],
                idx=idx,
                TR=TR,
                trl=trl,
            )
        )
    return res


_cf = {}


def contrast(q, t):
    key = (q, t)
    if key not in _cf:
        _cf[key] = bool(contrast_flags(q, t))
    return _cf[key]


def base_accept(d):
    ss, same = d["ss"], d["same"]
    p = feats(ss, same)
    ag = ((ss[:, 1:] >= 0.5) & same[:, 1:]).sum(1)
    return (ss[:, 0] >= 0.5) & (ag >= 2) & (p >= 0.95), p


def evaluate(d, acc):
    acc = acc.copy()
    for i in np.flatnonzero(acc):
        if contrast(d["q"][i], d["top"][i]):
            acc[i] = False
    served = acc.sum()
    good = (acc & d["correct"]).sum()
    unseen_wrong = (acc & ~d["known"]).sum()
    hr_known = (acc & d["known"]).sum() / max(1, d["known"].sum())
    return served, good, unseen_wrong, hr_known
