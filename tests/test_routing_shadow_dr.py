"""The doubly robust calibration: every request seen counts with its predicted outcome,
and each labelled row corrects the prediction by its error times 1 / its propensity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, QualityTarget, simulate_shadow
from llm_cost_hooks.routing._strategies import calibrate_points, choose_tiers
from llm_cost_hooks.routing._train import train_router

TIERS = ["small", "large"]


def _population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two tiers, the large one always right; the small one is right with a chance that
    falls with each request's difficulty (30 % of requests are hard). The predictions see
    the difficulty through noise and are too hopeful for the small tier. Returns (q_true,
    c_true, q_pred, c_pred, hard)."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.3
    chance = np.where(hard, 0.2, 0.95)
    small = (rng.random(n) < chance).astype(float)
    q_true = np.column_stack([small, np.ones(n)])
    q_pred = np.column_stack([np.clip(1.0 - hard * 0.4 - rng.normal(0.0, 0.15, n), 0.0, 0.99), np.ones(n)])
    cost = np.repeat([[0.02, 1.0]], n, axis=0)
    return q_true, cost, q_pred, cost.copy(), hard


def _labelled(hard: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """As a shadow stream labels: every hard request, one easy request in ten."""
    prop = np.where(hard, 1.0, 0.1)
    keep = np.random.default_rng(seed).random(len(hard)) < prop
    return keep, prop


def test_the_estimate_over_every_request_seen_lands_on_the_traffic() -> None:
    q, c, qp, cp, hard = _population(8000, 1)
    keep, prop = _labelled(hard, 2)
    # A low share: every candidate meets it, so the point is the cheapest, all on the
    # small tier, and its quality is the estimate of the small tier's mean.
    target = QualityTarget(share=0.2)
    truth = float(q[:, 0].mean())
    args = (q[keep], c[keep], qp[keep], cp[keep], TIERS, target)
    labelled_only = calibrate_points(*args)
    dr = calibrate_points(*args, weights=1.0 / prop[keep], unlabelled=(qp[~keep], cp[~keep]))
    # The labelled rows over-represent hard requests: read alone they are far too gloomy;
    # the predictions alone are too hopeful; the doubly robust mean is neither.
    assert labelled_only.cost == pytest.approx(0.02) and dr.cost == pytest.approx(0.02, abs=1e-3)
    assert labelled_only.quality < truth - 0.1
    assert float(qp[:, 0].mean()) > truth + 0.03
    assert dr.quality == pytest.approx(truth, abs=0.015)


def test_fully_labelled_rows_calibrate_as_before() -> None:
    q, c, qp, cp, _ = _population(500, 3)
    target = QualityTarget(share=0.95, confidence=0.9, horizon=300)
    texts = [f"request {i}" for i in range(500)]
    plain = calibrate_points(q, c, qp, cp, TIERS, target, texts=texts)
    # Propensity 1 everywhere, nothing unlabelled: each pseudo-outcome is the outcome itself.
    dr = calibrate_points(
        q,
        c,
        qp,
        cp,
        TIERS,
        target,
        texts=texts,
        weights=np.ones(500),
        unlabelled=(qp[:0], cp[:0]),
        unlabelled_texts=[],
    )
    assert dr.knob == plain.knob and dr.knob_b == plain.knob_b
    assert dr.mix == pytest.approx(plain.mix, abs=1e-9)
    assert dr.quality == pytest.approx(plain.quality) and dr.cost == pytest.approx(plain.cost)
    assert dr.quality_low == pytest.approx(plain.quality_low)


def _realised(q: np.ndarray, qp: np.ndarray, cp: np.ndarray, point: Any, seed: int) -> float:
    """The share of the large tier's quality the point reaches on the traffic itself."""
    a = choose_tiers(qp, cp, point.knob)
    b = choose_tiers(qp, cp, point.knob_b) if point.knob_b is not None else a
    pick = np.where(np.random.default_rng(seed).random(len(q)) < point.mix, b, a)
    return float(q[np.arange(len(q)), pick].mean() / q[:, 1].mean())


def test_the_bound_holds_on_the_traffic_across_draws() -> None:
    # Coverage: at confidence 0.9 the promised share must hold on the traffic itself in
    # about nine draws of ten; trusting the (hopeful) predictions as outcomes fails.
    target = QualityTarget(share=0.95, confidence=0.9)
    misses = trusting_misses = 0
    for seed in range(12):
        q, c, qp, cp, hard = _population(2000, 100 + seed)
        keep, prop = _labelled(hard, 200 + seed)
        point = calibrate_points(
            q[keep],
            c[keep],
            qp[keep],
            cp[keep],
            TIERS,
            target,
            weights=1.0 / prop[keep],
            unlabelled=(qp[~keep], cp[~keep]),
        )
        assert point.met
        misses += _realised(q, qp, cp, point, seed) < 0.95 - 1e-9
        trusting = calibrate_points(qp, cp, qp, cp, TIERS, target)
        trusting_misses += _realised(q, qp, cp, trusting, seed) < 0.95 - 1e-9
    assert misses <= 3
    assert trusting_misses >= 9


def test_bad_inputs_are_refused() -> None:
    q, c, qp, cp, _ = _population(60, 4)
    target = QualityTarget()
    with pytest.raises(ConfigurationError, match=">= 1"):
        calibrate_points(q, c, qp, cp, TIERS, target, weights=np.full(60, 0.5), unlabelled=(qp, cp))
    with pytest.raises(ConfigurationError, match="tiers"):
        calibrate_points(q, c, qp, cp, TIERS, target, unlabelled=(qp[:, :1], cp[:, :1]))
    with pytest.raises(ConfigurationError, match="texts"):
        calibrate_points(q, c, qp, cp, TIERS, target, unlabelled=(qp, cp), unlabelled_texts=["a"])


def _stream(n: int, seed: int) -> OutcomeDataset:
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.4
    prompts = [
        f"{'prove the theorem' if h else 'what is'} number {i} {rng.integers(1000)}"
        for i, h in enumerate(hard)
    ]
    quality = np.where(hard[:, None], np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    return OutcomeDataset(prompts=prompts, tiers=TIERS, quality=quality, cost=np.tile([1e-4, 2e-3], (n, 1)))


def test_train_router_counts_every_request_seen_only_when_asked() -> None:
    data, emb = _stream(200, 6), HashingEmbedder(64)
    labelled = data.subset(list(range(80)))
    labelled.extra["propensity"] = [0.3 if "prove" in p else 0.06 for p in labelled.prompts]
    labelled.extra["unlabelled"] = tuple(data.prompts[80:])
    target = QualityTarget(share=0.95, confidence=0.9)
    ipw = train_router(labelled, emb, target=target)
    dr = train_router(labelled, emb, target=target, doubly_robust=True)
    assert "calibration_estimate" not in ipw.model.info
    assert ipw.model.info["calibration_rows_effective"] < 80
    assert dr.model.info["calibration_estimate"].startswith("doubly robust")
    assert dr.model.info["calibration_rows_effective"] == 200
    unweighted = labelled.subset(list(range(80)))
    del unweighted.extra["propensity"]
    with pytest.raises(ConfigurationError, match="propensity"):
        train_router(unweighted, emb, target=target, doubly_robust=True)
    assert dr.operating_point is not None and dr.operating_point.target == ipw.operating_point.target  # type: ignore[union-attr]


def test_simulation_can_calibrate_over_every_request_seen() -> None:
    data, emb = _stream(300, 5), HashingEmbedder(64)
    kw = {"share": 0.2, "cheap_share": 0.5, "checkpoints": (100, 200), "seed": 1}
    dr = simulate_shadow(data, emb, doubly_robust=True, **kw)
    plain = simulate_shadow(data, emb, **kw)
    assert dr["doubly_robust"] is True and plain["doubly_robust"] is False
    assert dr["full"] == plain["full"]  # the fully-labelled router is untouched
    for p in dr["points"]:
        if p["labels"] >= 20:
            assert p["calibration_rows_effective"] == p["requests"]
