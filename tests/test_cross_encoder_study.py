"""Pure helpers of bench/train_cross_encoder.py: splits, pair mining, thresholds, baselines."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "train_cross_encoder", Path(__file__).resolve().parents[1] / "bench" / "train_cross_encoder.py"
)
assert _spec is not None and _spec.loader is not None
tce = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tce)


def test_split_is_seeded_disjoint_and_complete() -> None:
    fit, val = tce.split_indices(100, seed=3)
    again = tce.split_indices(100, seed=3)
    assert len(val) == 20 and len(fit) == 80
    assert not set(fit) & set(val)
    assert sorted(set(fit) | set(val)) == list(range(100))
    assert np.array_equal(fit, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, tce.split_indices(100, seed=4)[1])


def test_mined_pairs_take_nearest_same_and_other_label() -> None:
    v = np.array([[1.0, 0.0], [0.99, 0.14], [0.9, 0.44], [0.0, 1.0]])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    pairs = tce.mined_pairs(v, ["a", "b", "a", "b"], negatives=1)
    of0 = [(j, same) for i, j, same, _ in pairs if i == 0]
    # row 0: nearest same label is row 2, nearest other label is row 1 (the hard negative)
    assert of0 == [(2, True), (1, False)]
    assert all(i != j for i, j, _, _ in pairs)
    assert len(pairs) == 8


def test_pick_threshold_meets_precision_on_every_intent_slice() -> None:
    p = np.array([0.99, 0.98, 0.97, 0.9, 0.8])
    el = np.ones(5, dtype=bool)
    y = np.array([True, True, False, True, True])
    # 0.971+ serves only the two correct ones; anything at or under 0.97 includes the wrong one
    t = tce.pick_threshold({"banking77": (p, el, y)})
    assert t is not None and 0.97 < t <= 0.98
    # an ineligible (vetoed) wrong pair never counts against the threshold
    el2 = np.array([True, True, False, True, True])
    assert tce.pick_threshold({"banking77": (p, el2, y)}) == 0.5


def test_pick_threshold_mrpc_false_hits_and_none() -> None:
    y = np.array([True] * 50 + [False] * 100)
    p = np.r_[np.full(50, 0.9), np.full(99, 0.1), [0.95]]
    el = np.ones(150, dtype=bool)
    t = tce.pick_threshold({"mrpc": (p, el, y)})
    assert t == 0.5  # one false hit of 100 is within 1 %
    p2 = np.r_[np.full(50, 0.9), np.full(98, 0.1), [0.95, 0.96]]
    assert tce.pick_threshold({"mrpc": (p2, el, y)}) == 0.951  # leaves one of the two above
    wrong_on_top = {"hwu64": (np.array([0.999, 0.5]), np.ones(2, dtype=bool), np.array([False, True]))}
    assert tce.pick_threshold(wrong_on_top) is None


def test_cosine_recall_at_same_false_hits() -> None:
    cos = np.array([0.95, 0.9, 0.85, 0.8, 0.65, 0.92, 0.7, 0.6])
    y = np.array([True, True, True, True, True, False, False, False])
    assert tce.cosine_recall_at(cos, y, 1) == 0.8  # above 0.7 (one false hit, 0.92): four of five
    assert tce.cosine_recall_at(cos, y, 0) == 0.2  # 1 % of 3 rounds to 0: above 0.92
    assert tce.cosine_recall_at(cos, y, 3) == 1.0


def test_oracle_hit_rate() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6])
    y = np.array([True, True, False, True])
    el = np.ones(4, dtype=bool)
    assert tce.oracle_hit_rate(p, el, y, 0.99) == 0.5
    assert tce.oracle_hit_rate(p, el, y, 0.75) == 1.0
    assert tce.oracle_hit_rate(p, np.zeros(4, dtype=bool), y, 0.99) == 0.0
