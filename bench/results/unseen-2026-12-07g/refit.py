"""Refit of the neighbourhood model with unseen-intent questions as negatives: fit on one set's
settings, pick the threshold there (worst setting >= 0.99), apply to the other set."""

import sys

import numpy as np
from offline_unseen import _TAU, GAP, base_accept, evaluate, prepare

from llm_cost_hooks.cache._calibrate import fit_logistic


def X(ss, same):
    s1 = ss[:, :1]
    sd = np.where(~same, np.maximum(ss, s1 - GAP), ss)
    diffmax = np.where(~same, sd, -np.inf).max(1)
    diffmax = np.where(np.isfinite(diffmax), diffmax, s1[:, 0] - GAP)  # all agree: capped
    w = np.exp((sd - s1) / _TAU)
    a10 = (w * same).sum(1) / w.sum(1)
    return np.stack(
        [ss[:, 0], ss[:, 1], s1[:, 0] - diffmax, a10, ss[:, 4], ss[:, 9], ss[:, :10].mean(1), same.all(1)], 1
    )


def run(train, test):
    A, B = prepare(train), prepare(test)
    Xs = np.concatenate([X(d["ss"], d["same"]) for d in A])
    ys = np.concatenate([d["correct"] for d in A]).astype(float)
    w = np.asarray(fit_logistic(Xs, ys))

    def prob(d):
        z = X(d["ss"], d["same"]) @ w[:-1] + w[-1]
        return 1 / (1 + np.exp(-z))

    # threshold: lowest with every train setting >= 0.99 (base acceptance also required)
    for t in np.arange(0.5, 1.0, 0.005):
        ok = True
        for d in A:
            acc0, _ = base_accept(d)
            s, g, _, _ = evaluate(d, acc0 & (prob(d) >= t))
            if s and g / s < 0.99:
                ok = False
                break
        if ok:
            break
    print(f"fit on {train}: threshold {t:.3f}")
    for name, D in ((train, A), (test, B)):
        cells = []
        for d in D:
            acc0, _ = base_accept(d)
            s, g, _, hr = evaluate(d, acc0 & (prob(d) >= t))
            cells.append(f"{d['label']}/{d['seed']}:{g / s if s else 1:.3f}@{hr:.2f}")
        print(f"  {name}: " + " ".join(cells))


run(sys.argv[1], sys.argv[2])
