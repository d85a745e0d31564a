"""Shadow mode's exploration policy: by direction, decaying as outcomes accumulate."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, ShadowMode, simulate_shadow

ORDER = ["small", "medium", "large"]


def _judge(q: str, answers: dict[str, str]) -> dict[str, float]:
    return {t: 1.0 for t in answers}


def _picks(shadow: ShadowMode, chosen: str, n: int = 2000) -> int:
    return sum(shadow.pick(chosen, ORDER) is not None for _ in range(n))


def test_default_policy_is_the_flat_share(tmp_path: Path) -> None:
    shadow = ShadowMode(_judge, share=0.3, store=tmp_path / "l.db", seed=7)
    rng = random.Random(7)
    for chosen in ["small", "large", "medium"] * 50:
        expect = rng.random() < 0.3
        got = shadow.pick(chosen, ORDER)
        assert (got is not None) == expect
        if got is not None:
            assert got == ("large" if chosen != "large" else "small")
    assert shadow.cheap_share == 0.3 and shadow.decay_after is None


def test_cheap_share_applies_when_the_shadow_tier_is_cheaper(tmp_path: Path) -> None:
    shadow = ShadowMode(_judge, share=0.0, cheap_share=1.0, store=tmp_path / "l.db", seed=0)
    assert _picks(shadow, "large", 200) == 200  # strong answered: the cheap tier is asked
    assert _picks(shadow, "small", 200) == 0  # cheap answered: asking the strong tier is not wanted
    fixed = ShadowMode(_judge, share=0.0, cheap_share=1.0, tier="small", store=tmp_path / "l.db")
    assert fixed.pick("medium", ORDER) == "small" and fixed.pick("small", ORDER) is None


def test_share_decays_with_recorded_outcomes_down_to_the_floor(tmp_path: Path) -> None:
    shadow = ShadowMode(_judge, share=1.0, decay_after=10, store=tmp_path / "l.db", seed=1)
    assert _picks(shadow, "small", 300) == 300  # fewer than 10 outcomes: the full share
    shadow.stats["written"] = 1000  # sqrt(10 / 1000) = 0.1
    n = _picks(shadow, "small", 4000)
    assert 300 < n < 500
    floored = ShadowMode(_judge, share=1.0, decay_after=10, min_share=0.5, store=tmp_path / "l.db", seed=1)
    floored.stats["written"] = 1_000_000
    assert 1800 < _picks(floored, "small", 4000) < 2200
    # The floor never lifts a share above what it was set to.
    low = ShadowMode(_judge, share=0.0, min_share=0.5, store=tmp_path / "l.db")
    assert _picks(low, "small", 100) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"share": 1.5}, {"cheap_share": -0.1}, {"min_share": 2.0}, {"decay_after": 0}],
)
def test_bad_policy_settings_are_refused(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        ShadowMode(_judge, store=tmp_path / "l.db", **kwargs)  # type: ignore[arg-type]


def _stream(n: int, seed: int = 0) -> OutcomeDataset:
    """Even rows: sums the cheap tier gets right; odd rows: proofs only the strong tier gets."""
    nums = np.random.default_rng(seed).integers(1, 99, size=(n, 2))
    hard = np.arange(n) % 2 == 1
    prompts = [
        f"prove rigorously the conjecture on prime gaps number {a}{b}" if h else f"what is {a} plus {b}?"
        for (a, b), h in zip(nums.tolist(), hard)
    ]
    quality = np.where(hard[:, None], np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    return OutcomeDataset(
        prompts=prompts, tiers=["small", "large"], quality=quality, cost=np.tile([1e-4, 2e-3], (n, 1))
    )


def test_simulated_policy_spends_less_on_exploration_than_a_flat_share() -> None:
    data, emb = _stream(400, seed=3), HashingEmbedder(64)
    flat = simulate_shadow(data, emb, share=0.3, checkpoints=(100, 280))
    tuned = simulate_shadow(
        data, emb, share=0.3, cheap_share=1.0, decay_after=40, min_share=0.02, checkpoints=(100, 280)
    )
    assert tuned["policy"] == {"share": 0.3, "cheap_share": 1.0, "decay_after": 40, "min_share": 0.02}
    last_flat, last = flat["points"][-1], tuned["points"][-1]
    assert last["exploration_share"] < last_flat["exploration_share"]
    assert tuned["points"][0]["labels"] > flat["points"][0]["labels"]  # cheap labels early
    assert last["quality_share"] >= 0.9 and 0 < last["curve_cost_share"] < 0.7
    assert last["curve_total_share"] == pytest.approx(last["curve_cost_share"] + last["exploration_share"])
    assert 0 < tuned["full"]["curve_cost_share"] < 0.7


def test_hull_reading_mixes_two_points_and_never_costs_more_than_one() -> None:
    from llm_cost_hooks.routing._shadow import _hull_cost_at

    pts = [(0.80, 0.10), (0.93, 0.85), (1.00, 1.00)]
    # 95 % lies between the cheap point and the strong one: mixing them costs 0.1 + 0.75 * 0.9.
    assert _hull_cost_at(pts, 0.95) == pytest.approx(0.10 + (0.95 - 0.80) / 0.20 * 0.90)
    assert _hull_cost_at(pts, 0.80) == pytest.approx(0.10)  # a point that reaches it alone
    assert _hull_cost_at(pts, 1.01) is None  # nothing reaches it
    single = min(c for q, c in pts if q >= 0.95)
    assert _hull_cost_at(pts, 0.95) <= single


def test_simulation_reports_the_hull_reading_and_what_the_answers_cost() -> None:
    data, emb = _stream(300, seed=5), HashingEmbedder(64)
    sim = simulate_shadow(data, emb, share=0.02, cheap_share=1.0, checkpoints=(100, 200), seed=1)
    first, last = sim["points"]
    # No router before the first checkpoint: every answer comes from the strong tier.
    assert first["served_share"] == pytest.approx(1.0)
    assert last["served_share"] < first["served_share"]  # the deployed router sends sums to the cheap tier
    for p in sim["points"]:
        assert p["hull_cost_share"] <= p["curve_cost_share"] + 1e-12
        assert p["hull_total_share"] == pytest.approx(p["hull_cost_share"] + p["exploration_share"])
    assert 0 < sim["full"]["hull_cost_share"] <= sim["full"]["curve_cost_share"] + 1e-12


def test_without_shares_the_measured_default_policy_applies(tmp_path: Path) -> None:
    from llm_cost_hooks.routing._shadow import DEFAULT_CHEAP_SHARE, DEFAULT_SHARE

    shadow = ShadowMode(_judge, store=tmp_path / "l.db", seed=3)
    assert (shadow.share, shadow.cheap_share) == (DEFAULT_SHARE, DEFAULT_CHEAP_SHARE)
    assert DEFAULT_SHARE < DEFAULT_CHEAP_SHARE  # the dear check is the rarer one
    up, down = _picks(shadow, "small", 4000), _picks(shadow, "large", 4000)
    assert abs(up / 4000 - DEFAULT_SHARE) < 0.02 and abs(down / 4000 - DEFAULT_CHEAP_SHARE) < 0.03
    # A share given alone still applies in both directions, as before.
    given = ShadowMode(_judge, share=1.0, store=tmp_path / "l.db")
    assert given.cheap_share == 1.0
    only_cheap = ShadowMode(_judge, cheap_share=1.0, store=tmp_path / "l.db")
    assert (only_cheap.share, only_cheap.cheap_share) == (DEFAULT_SHARE, 1.0)
    sim = simulate_shadow(_stream(120, seed=1), HashingEmbedder(32), checkpoints=(60,))
    assert sim["policy"]["share"] == DEFAULT_SHARE and sim["policy"]["cheap_share"] == DEFAULT_CHEAP_SHARE


def test_the_bench_replays_the_default_policy() -> None:
    from bench.bench_routing import SHADOW_POLICY
    from llm_cost_hooks.routing._shadow import DEFAULT_CHEAP_SHARE, DEFAULT_SHARE

    assert SHADOW_POLICY == {"share": DEFAULT_SHARE, "cheap_share": DEFAULT_CHEAP_SHARE}
