"""Shadow outcomes carry the chance each was labelled; calibration weighs them back to the
traffic they stand for, and the bound counts the rows' effective number."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import (
    HashingEmbedder,
    OutcomeDataset,
    QualityTarget,
    ShadowMode,
    ShadowStore,
    outcomes_from_ledger,
    simulate_shadow,
)
from llm_cost_hooks.routing._cli import add_route_commands
from llm_cost_hooks.routing._strategies import _wstats, calibrate_points
from llm_cost_hooks.routing._train import propensity_weights

TIERS = ["small", "large"]


def _population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two tiers; the cheap one fails on "hard" rows (30 %); the predictions rank rows by a
    noisy hardness score. Returns (q_true, c_true, q_pred, c_pred, hard)."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.3
    q_true = np.stack([np.where(hard, rng.random(n) < 0.2, rng.random(n) < 0.95), np.ones(n)], 1).astype(
        float
    )
    c_true = np.tile([0.02, 1.0], (n, 1))
    score = np.clip(hard * 0.6 + rng.normal(0.2, 0.2, n), 0.0, 1.0)
    q_pred = np.stack([1.0 - score, np.ones(n)], 1)
    return q_true, c_true, q_pred, c_true.copy(), hard


def test_equal_weights_are_the_plain_calibration() -> None:
    q, c, qp, cp, _ = _population(400, 0)
    target = QualityTarget(share=0.95, confidence=0.9, horizon=200)
    texts = [f"request {i}" for i in range(400)]
    plain = calibrate_points(q, c, qp, cp, TIERS, target, texts=texts)
    for w in (None, np.ones(400), np.full(400, 3.0)):
        assert calibrate_points(q, c, qp, cp, TIERS, target, texts=texts, weights=w) == plain


def test_weights_undo_a_sample_that_over_represents_hard_requests() -> None:
    q, c, qp, cp, hard = _population(6000, 1)
    target = QualityTarget(share=0.95)
    full = calibrate_points(q, c, qp, cp, TIERS, target)
    # Labelled as a shadow stream does: every hard request, one easy request in ten.
    prop = np.where(hard, 1.0, 0.1)
    keep = np.random.default_rng(2).random(len(q)) < prop
    args = (q[keep], c[keep], qp[keep], cp[keep], TIERS, target)
    biased = calibrate_points(*args)
    weighted = calibrate_points(*args, weights=1.0 / prop[keep])
    # The unweighted sample reads the rows as harder than the traffic is, so its point
    # sends too many requests to the strong tier; the weighted one lands near the full data's.
    assert biased.cost > full.cost + 0.1
    assert abs(weighted.cost - full.cost) < 0.05
    assert abs(weighted.quality - full.quality) < 0.02


def test_effective_rows_follow_kish_and_widen_the_bound() -> None:
    x = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    mean, sd, n = _wstats(x, None)
    assert n == 6 and mean == pytest.approx(4 / 6) and sd == pytest.approx(float(x.std(ddof=1)))
    w = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 10.0])
    mean_w, _, n_w = _wstats(x, w)
    assert mean_w == pytest.approx(float(np.average(x, weights=w)))
    assert n_w == pytest.approx(w.sum() ** 2 / (w**2).sum()) and n_w < 6
    # Same rows, one weighted heavily: the bound is wider, so the point costs at least as much.
    q, c, qp, cp, _ = _population(600, 3)
    target = QualityTarget(share=0.95, confidence=0.9)
    uneven = np.where(np.arange(600) % 20 == 0, 20.0, 1.0)
    plain = calibrate_points(q, c, qp, cp, TIERS, target)
    wide = calibrate_points(q, c, qp, cp, TIERS, target, weights=uneven)
    assert (wide.quality_low or 0) - wide.quality <= 0
    assert plain.quality - (plain.quality_low or 0) < wide.quality - (wide.quality_low or 0)


def test_bad_weights_are_refused() -> None:
    q, c, qp, cp, _ = _population(50, 4)
    with pytest.raises(ConfigurationError, match="weights"):
        calibrate_points(q, c, qp, cp, TIERS, QualityTarget(), weights=np.ones(49))
    with pytest.raises(ConfigurationError, match="> 0"):
        calibrate_points(q, c, qp, cp, TIERS, QualityTarget(), weights=np.r_[np.ones(49), 0.0])
    ds = OutcomeDataset(
        prompts=["a", "b"],
        tiers=TIERS,
        quality=np.ones((2, 2)),
        cost=np.ones((2, 2)),
        extra={"propensity": [1.0, 0.0]},
    )
    with pytest.raises(ConfigurationError, match="propensities"):
        propensity_weights(ds)


def _judge(q: str, answers: dict[str, str]) -> dict[str, float]:
    return {t: float(a == "4") for t, a in answers.items()}


def test_shadow_mode_stores_each_outcome_with_its_propensity(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    shadow = ShadowMode(_judge, share=0.25, cheap_share=1.0, store=db, seed=0)
    recorded = 0
    for i in range(200):
        chosen = "small" if i % 2 else "large"
        other = shadow.pick(chosen, TIERS)
        if other is not None:
            answers = {chosen: "4", other: "5"}
            assert shadow.record(f"q{i}", None, answers, {chosen: 0.1, other: 0.2}, {}, explored=other)
            recorded += 1
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id, tier, shadow, propensity FROM routing_outcomes").fetchall()
    assert len(rows) == 2 * recorded
    by_request: dict[str, set[float]] = {}
    for rid, tier, explored, prop in rows:
        by_request.setdefault(rid, set()).add(prop)
        if explored:  # the explored tier says which way the request was shadowed
            assert prop == (0.25 if tier == "large" else 1.0)
    assert all(len(p) == 1 for p in by_request.values())  # one propensity per request
    ds = outcomes_from_ledger(db)
    assert sorted(set(ds.extra["propensity"])) == [0.25, 1.0]
    w = propensity_weights(ds)
    assert w is not None and sorted(set(w.tolist())) == [1.0, 4.0]
    # An explicit propensity wins over the policy's.
    assert shadow.record(
        "explicit", None, {"small": "4", "large": "4"}, {}, {}, explored="large", propensity=0.5
    )
    assert 0.5 in outcomes_from_ledger(db).extra["propensity"]


def test_an_old_outcome_table_gains_the_column_and_its_rows_weigh_one(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE routing_outcomes (request_id TEXT NOT NULL, ts TEXT NOT NULL, prompt TEXT NOT NULL, "
            "context TEXT, tier TEXT NOT NULL, model TEXT, quality REAL NOT NULL, cost_usd REAL NOT NULL, "
            "shadow INTEGER NOT NULL, PRIMARY KEY (request_id, tier))"
        )
        for i in range(3):
            conn.executemany(
                "INSERT INTO routing_outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (f"r{i}", f"t{i}", f"q{i}", None, t, None, 1.0, c, int(t == "large"))
                    for t, c in (("small", 0.1), ("large", 1.0))
                ],
            )
    # Read as it is (read-only, not migrated): no propensities, so no weights.
    old = outcomes_from_ledger(db)
    assert old.extra["propensity"] == [None, None, None] and propensity_weights(old) is None
    store = ShadowStore(db)  # opening it for writing migrates the table
    with sqlite3.connect(db) as conn:
        assert "propensity" in {r[1] for r in conn.execute("PRAGMA table_info(routing_outcomes)")}
    assert store.write("new", None, {"small": (0.0, 0.1, None), "large": (1.0, 1.0, None)}, "large", 0.1)
    ds = outcomes_from_ledger(db)
    assert len(ds) == 4 and ds.extra["propensity"].count(None) == 3
    w = propensity_weights(ds)
    assert w is not None and sorted(w.tolist()) == [1.0, 1.0, 1.0, 10.0]
    ShadowStore(db)  # opening a migrated table again is a no-op
    assert len(outcomes_from_ledger(db)) == 4


def test_cli_from_ledger_weighs_by_propensity_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ledger.db"
    store = ShadowStore(db)
    rng = np.random.default_rng(0)
    for i in range(60):
        hard = i % 3 == 0
        q_small = float(rng.random() < (0.2 if hard else 0.95))
        word = "prove the theorem" if hard else "add the numbers"
        store.write(
            f"{word} {i}",
            None,
            {"small": (q_small, 0.01, None), "large": (1.0, 1.0, None)},
            "small" if hard else "large",
            1.0 if hard else 0.2,
        )
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    base = ["route", "train", str(db), "--from-ledger", "--embedder", "hashing-64", "--folds", "2"]
    args = parser.parse_args([*base, "--out", str(tmp_path / "w")])
    assert args.func(args) == 0
    weighted = json.loads(capsys.readouterr().out)
    args = parser.parse_args([*base, "--out", str(tmp_path / "u"), "--no-propensity-weights"])
    assert args.func(args) == 0
    plain = json.loads(capsys.readouterr().out)
    w = np.where(np.arange(60) % 3 == 0, 1.0, 5.0)
    assert weighted["calibration_rows_effective"] == pytest.approx(w.sum() ** 2 / (w**2).sum(), abs=0.05)
    assert plain["calibration_rows_effective"] is None
    assert weighted["operating_point"] != plain["operating_point"]


def _stream(n: int, seed: int) -> OutcomeDataset:
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.4
    prompts = [
        (f"prove the theorem about primes number {i}" if h else f"add {i} and {i + 1} please")
        for i, h in enumerate(hard)
    ]
    quality = np.where(hard[:, None], np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    return OutcomeDataset(prompts=prompts, tiers=TIERS, quality=quality, cost=np.tile([1e-4, 2e-3], (n, 1)))


def test_simulation_weighting_leaves_the_fully_labelled_router_alone() -> None:
    data, emb = _stream(300, seed=5), HashingEmbedder(64)
    kw = {"share": 0.05, "cheap_share": 1.0, "checkpoints": (100, 200), "seed": 1}
    weighted = simulate_shadow(data, emb, **kw)
    plain = simulate_shadow(data, emb, ipw=False, **kw)
    assert weighted["ipw"] is True and plain["ipw"] is False
    assert weighted["full"] == plain["full"]  # every label has propensity 1: weight 1
    assert weighted["points"][0] == plain["points"][0]  # before any cheap answer, all weights are 1


def test_a_weight_cap_bounds_every_row_and_keeps_full_rows_at_one() -> None:
    ds = OutcomeDataset(
        prompts=["a", "b", "c"],
        tiers=TIERS,
        quality=np.ones((3, 2)),
        cost=np.ones((3, 2)),
        extra={"propensity": [1.0, 0.5, 0.02]},
    )
    w = propensity_weights(ds, clip=10.0)
    assert w is not None and w.tolist() == [1.0, 2.0, 10.0]
    # A cap at or above every weight changes nothing; a cap below 1 would reweigh full rows.
    assert (propensity_weights(ds, clip=100.0) == propensity_weights(ds)).all()
    with pytest.raises(ConfigurationError, match="cap"):
        propensity_weights(ds, clip=0.5)
    full = OutcomeDataset(
        prompts=["a", "b"],
        tiers=TIERS,
        quality=np.ones((2, 2)),
        cost=np.ones((2, 2)),
        extra={"propensity": [1.0, 1.0]},
    )
    assert propensity_weights(full, clip=5.0) is None


def test_simulation_reports_the_calibration_rows_it_counted() -> None:
    data, emb = _stream(300, seed=5), HashingEmbedder(64)
    sim = simulate_shadow(data, emb, share=0.05, cheap_share=1.0, checkpoints=(100, 200), seed=1)
    for p in sim["points"]:
        # Effective rows never exceed the labels; equal weights count every label.
        assert 0 < p["calibration_rows_effective"] <= p["labels"] + 1e-9
        if p["labels_below_1"] == 0:
            assert p["calibration_rows_effective"] == p["labels"]
        assert p["optimism"] >= 0.0
