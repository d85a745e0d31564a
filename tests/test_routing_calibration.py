"""The confidence bound of a calibrated operating point: what it counts besides the
calibration rows' spread (a mixed point's hash split on the requests it is judged on, the
optimism of choosing the cheapest passing candidate on the same rows)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from llm_cost_hooks.routing import QualityTarget
from llm_cost_hooks.routing import _strategies as strategies
from llm_cost_hooks.routing._strategies import calibrate_points, pick_tiers


def test_margin_adds_the_horizon_spread_it_is_given() -> None:
    z = NormalDist().inv_cdf(0.9)
    t = QualityTarget(confidence=0.9, horizon=100)
    assert t.margin(0.3, 400) == pytest.approx(z * 0.3 * math.sqrt(1 / 400 + 1 / 100))
    # A mixed point: the requests the promise is judged on also carry the split's coin.
    assert t.margin(0.3, 400, 0.5) == pytest.approx(z * math.sqrt(0.09 / 400 + 0.25 / 100))
    assert t.margin(0.3, 400, 0.5) > t.margin(0.3, 400)
    assert QualityTarget(confidence=0.9).margin(0.3, 400, 0.5) == pytest.approx(z * 0.3 / 20)
    assert QualityTarget().margin(0.3, 400, 0.5) == 0.0


def _world(rng: np.random.Generator, n: int, signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cheap tier is right with chance p per request, the strong one 90 % of the time;
    the router's score for the cheap tier is p plus noise (``signal`` 0: noise only)."""
    p = rng.uniform(0.3, 1.0, n)
    quality = np.stack([(rng.random(n) < p), (rng.random(n) < 0.9)], axis=1).astype(float)
    guess = signal * p + (1 - signal) * rng.uniform(0.3, 1.0, n) + rng.normal(0, 0.1, n)
    pred = np.stack([np.clip(guess, 0, 0.9), np.full(n, 0.95)], axis=1)
    return quality, np.tile([1e-4, 2e-3], (n, 1)), pred


def test_choosing_on_the_calibration_rows_is_paid_for_above_confidence_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a score that knows nothing, every cheap candidate that passes does so by luck:
    the bound takes that optimism off, so the point shipped is dearer and its promised
    lower bound lower than without it; at confidence 0.5 nothing changes."""
    rng = np.random.default_rng(11)
    q, c, pred = _world(rng, 300, signal=0.0)
    texts = [f"request {i}" for i in range(len(q))]
    sure = QualityTarget(share=0.95, confidence=0.9, horizon=300)
    with_opt = calibrate_points(q, c, pred, c, ["small", "large"], sure, texts=texts)
    half = calibrate_points(q, c, pred, c, ["small", "large"], QualityTarget(share=0.95), texts=texts)
    monkeypatch.setattr(strategies, "_OPTIMISM_PARTS", 10**9)  # too few rows to split: none measured
    without = calibrate_points(q, c, pred, c, ["small", "large"], sure, texts=texts)
    half_without = calibrate_points(q, c, pred, c, ["small", "large"], QualityTarget(share=0.95), texts=texts)
    assert with_opt.optimism > 0.0 and without.optimism == 0.0
    assert with_opt.cost > without.cost
    assert with_opt.quality_low is not None and without.quality_low is not None
    assert with_opt.met and with_opt.quality_low >= 0.95 * q[:, 1].mean() - 1e-9
    assert half == half_without and half.optimism == 0.0


def test_the_promise_at_confidence_0_9_holds_on_fresh_requests() -> None:
    """Calibrated at 0.9 on 200 rows and judged on 200 new requests each time, the share
    is reached in 28 or more of 30 fresh worlds (with the bound ignoring the split's coin
    and the choice's optimism, in 27 of these 30)."""
    met = 0
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        q, c, pred = _world(rng, 200, signal=0.6)
        target = QualityTarget(share=0.95, confidence=0.9, horizon=200)
        op = calibrate_points(
            q, c, pred, c, ["small", "large"], target, texts=[f"a{seed}-{i}" for i in range(200)]
        )
        qt, ct, pt = _world(rng, 200, signal=0.6)
        pick = pick_tiers(pt, ct, op, [f"b{seed}-{i}" for i in range(200)])
        met += bool(qt[np.arange(200), pick].mean() >= 0.95 * qt[:, 1].mean())
    assert met >= 28
