"""The pair verifier's training and evaluation script (``bench/train_pair_verifier.py``):
class balancing, the embedding features, and how a threshold is chosen without the test split."""

from __future__ import annotations

import numpy as np
import pytest

import bench.train_pair_verifier as tpv
from bench.train_pair_verifier import _fit, _fit_sets, _pick_threshold, _scores, _Set
from llm_cost_hooks.cache._verifier import PAIR_FEATURE_NAMES


@pytest.fixture(autouse=True)
def _features_cache_in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tpv, "CACHE", tmp_path)


PAIRS = [
    ("How do I reset my PIN?", "How can I reset my PIN?", 0.97, True, 0, 1),
    ("Where is my card?", "When will my card arrive?", 0.81, True, 2, 3),
    ("Can I top up by cheque?", "How do I top up by card?", 0.78, False, 4, 5),
]


def _vecs() -> np.ndarray:
    v = np.random.default_rng(1).normal(size=(6, 8))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_embedding_features_sit_beside_the_hand_features() -> None:
    vecs = _vecs()
    d = _Set(PAIRS, vecs=vecs)
    hand = d.features(embedding=False)
    assert hand.shape == (3, len(PAIR_FEATURE_NAMES))
    full = d.features(embedding=True)
    assert full.shape == (3, len(PAIR_FEATURE_NAMES) + 2 * 8)
    np.testing.assert_allclose(full[:, : hand.shape[1]], hand)
    np.testing.assert_allclose(full[0, hand.shape[1] : hand.shape[1] + 8], vecs[0] * vecs[1])
    np.testing.assert_allclose(full[2, hand.shape[1] + 8 :], np.abs(vecs[4] - vecs[5]))


def test_without_vectors_only_the_hand_features_are_used() -> None:
    d = _Set(PAIRS)
    np.testing.assert_array_equal(d.features(embedding=True), d.features(embedding=False))


def test_subset_keeps_vectors_and_indices() -> None:
    d = _Set(PAIRS, vecs=_vecs())
    part = d.subset(np.array([False, True, True]))
    assert part.qi.tolist() == [2, 4] and part.ci.tolist() == [3, 5]
    np.testing.assert_allclose(part.features(True), d.features(True)[1:])


def _one_feature(n_pos: int, n_neg: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(1.0, 1.0, n_pos), rng.normal(-1.0, 1.0, n_neg)]
    return x[:, None], np.r_[np.ones(n_pos), np.zeros(n_neg)]


def test_balanced_weights_put_the_boundary_between_the_classes() -> None:
    """Rare positives: unweighted, the 0.5 boundary moves far into the positives; with each
    class weighing half, it sits near the midpoint of the two class means."""
    X, y = _one_feature(200, 4000)
    w_plain, b_plain = _fit(X, y, np.ones(len(y)))
    balanced = np.where(y > 0, 0.5 / y.sum(), 0.5 / (1 - y).sum())
    w_bal, b_bal = _fit(X, y, balanced)
    assert -b_bal / w_bal[0] == pytest.approx(0.0, abs=0.15)
    assert -b_plain / w_plain[0] > 1.0


def test_fit_sets_leaves_vetoed_pairs_out() -> None:
    """A pair a contrast check vetoes never reaches the fit and always scores 0."""
    pairs = [
        ("How do I unblock my card?", "How do I block my card?", 0.95, False, 0, 1),
        *PAIRS,
        ("What is the status of order 1234?", "What is the status of order 5678?", 0.97, False, 2, 3),
    ]
    d = _Set(pairs * 20)
    assert d.veto[0] and d.veto[4]
    W, b = _fit_sets([d])
    p = _scores(d, W, b)
    assert (p[d.veto] == 0).all() and (p[~d.veto] > 0).all()


def _slice(scores: list[float], same: list[bool]) -> tuple[_Set, np.ndarray]:
    d = _Set([])
    d.y, d.veto = np.array(same, dtype=float), np.zeros(len(same), dtype=bool)
    d.cos = np.array(scores)
    return d, np.array(scores)


def test_threshold_is_the_lowest_that_meets_precision_on_every_intent_slice() -> None:
    a, pa = _slice([0.99] * 99 + [0.95] + [0.7] * 50, [True] * 99 + [False] + [False] * 50)
    b, pb = _slice([0.97] * 200 + [0.93] * 3, [True] * 200 + [False] * 3)
    t = _pick_threshold({"banking77": a, "hwu64": b}, {"banking77": pa, "hwu64": pb})
    # a alone: precision 0.99 from 0.701 (99 of 100 above the 0.7s); b needs more than 0.93
    assert t == pytest.approx(0.931)
    lone, pl = _slice([0.9, 0.8], [False, False])
    assert _pick_threshold({"banking77": lone}, {"banking77": pl}) is None


def test_threshold_on_paraphrase_slice_alone_bounds_false_hits() -> None:
    y = [True] * 100 + [False] * 200
    s = [0.95] * 100 + [0.9, 0.85] + [0.1] * 198
    m, pm = _slice(s, y)
    # 1 % of 200 non-paraphrases: at most 2 false hits, so the lowest grid value above none
    assert _pick_threshold({"mrpc": m}, {"mrpc": pm}) == pytest.approx(0.5)
    s2 = [0.95] * 100 + [0.9, 0.85, 0.8] + [0.1] * 197
    m2, pm2 = _slice(s2, y)
    assert _pick_threshold({"mrpc": m2}, {"mrpc": pm2}) == pytest.approx(0.801)
