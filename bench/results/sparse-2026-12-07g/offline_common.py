"""Neighbour lists of every test question against seeded samples of the training questions."""

import os
import sys

sys.path.append(os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")))
import numpy as np

from bench.bench_cache import _embed_cached, _intent_sets
from llm_cost_hooks.cache._signals import _DEFAULT_WEIGHTS as W
from llm_cost_hooks.cache._signals import _TAU

sets = _intent_sets(False)


def feats(s, same, D=None, M=None):
    # s: (n,10) sims desc, same: (n,10) bool
    s1 = s[:, :1]
    sd = s.copy()
    if D is not None:
        sd = np.where(~same, np.maximum(sd, s1 - D), sd)
    diffmax = np.where(~same, sd, -np.inf).max(1)
    diffmax = np.where(np.isfinite(diffmax), diffmax, 0.0)
    margin = s1[:, 0] - diffmax
    w = np.exp((sd - s1) / _TAU)
    a5 = (w[:, :5] * same[:, :5]).sum(1) / w[:, :5].sum(1)
    a10 = (w * same).sum(1) / w.sum(1)
    s15 = s1[:, 0] - sd[:, 4]
    if M is not None:
        margin = np.minimum(margin, M)
        s15 = np.minimum(s15, M)
    F = np.stack([s[:, 0], s[:, 1], margin, a5, a10, s15], 1)
    z = W[-1] + F @ np.asarray(W[:-1])
    return 1 / (1 + np.exp(-np.clip(z, -50, 50))), F


def neigh(TE, TRs, lab_s, qlab, qtexts, trtexts_s):
    S = TE @ TRs.T
    k = min(10, S.shape[1])
    idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
    ss = np.take_along_axis(S, idx, 1)
    o = np.argsort(-ss, 1)
    idx = np.take_along_axis(idx, o, 1)
    ss = np.take_along_axis(ss, o, 1)
    keys = lab_s[idx]
    same = keys == keys[:, :1]
    if k < 10:
        ss = np.concatenate([ss, np.zeros((len(ss), 10 - k))], 1)
        same = np.concatenate([same, np.zeros((len(ss), 10 - k), bool)], 1)
    correct = keys[:, 0] == qlab
    tset = set(trtexts_s)
    exact = np.array([q in tset for q in qtexts])
    return ss, same, correct, exact


def decide(ss, same, D=None, M=None, s1min=0.5, thr=0.95, agree_win=None):
    p, F = feats(ss, same, D, M)
    ag = (ss[:, 1:] >= 0.5) & same[:, 1:]
    if agree_win is not None:
        ag &= ss[:, 1:] >= ss[:, :1] - agree_win
    return (ss[:, 0] >= s1min) & (ag.sum(1) >= 2) & (p >= thr), p, F


configs = {}


def build():
    out = []
    for name in ["banking77", "hwu64"]:
        tr, trl, te, tel = sets[name]
        TR, TE = _embed_cached(tr), _embed_cached(te)
        trl = np.asarray(trl)
        tel = np.asarray(tel)
        jobs = []
        for size in [100, 300, 1000, 3000]:
            for seed in [0, 1, 2]:
                rng = np.random.default_rng(seed)
                jobs.append(
                    (
                        size,
                        seed,
                        np.sort(rng.choice(len(tr), min(size, len(tr)), replace=False)),
                        np.arange(len(te)),
                    )
                )
        jobs.append(("all", "-", np.arange(len(tr)), np.arange(len(te))))
        jobs.append(("quick", "q", np.arange(3000), np.arange(600)))
        for size, seed, idx, qi in jobs:
            ss, same, correct, exact = neigh(
                TE[qi], TR[idx], trl[idx], tel[qi], [te[i] for i in qi], [tr[i] for i in idx]
            )
            out.append((name, size, seed, ss[~exact], same[~exact], correct[~exact]))
    return out
