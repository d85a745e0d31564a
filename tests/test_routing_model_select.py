"""Which cross-fitted router `route train` saves: candidates (the ridge router, its blend with
the template table, the table, fewer tiers) calibrated on the same held-out folds, and the
saved file routing exactly as its calibrated point says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import (
    HashingEmbedder,
    OutcomeDataset,
    QualityTarget,
    RouterModel,
    TextSelector,
    TrainedRouter,
    train_router,
)
from llm_cost_hooks.routing._model import fold_of
from llm_cost_hooks.routing._strategies import pick_tiers

TIERS = ["tiny", "small", "medium", "large"]
PRICE = np.array([1e-5, 1e-4, 5e-4, 2e-3])
TEMPLATES = {
    "quiz": "You answer quiz questions.\nReply with one letter.\nBe brief.",
    "code": "You write Python functions.\nReturn only code.\nNo prose.",
}


def two_templates(n: int, seed: int = 0) -> OutcomeDataset:
    """Two templates; which tiers answer right depends on the template (and chance), not on
    the question's words, so a table of the template's means is all there is to learn."""
    rng = np.random.default_rng(seed)
    words = ["apple", "river", "stone", "cloud", "engine", "garden", "number", "signal"]
    prompts, quality, feats = [], [], []
    for i in range(n):
        task = "quiz" if i % 2 else "code"
        q = " ".join(rng.choice(words, size=6))
        prompts.append(f"{TEMPLATES[task]}\nTask {i}: {q}?")
        right = [0.55, 0.9, 0.92, 0.97] if task == "quiz" else [0.1, 0.3, 0.5, 0.95]
        quality.append((rng.random(4) < right).astype(float))
        feats.append(task)
    return OutcomeDataset(
        prompts=prompts,
        tiers=TIERS,
        quality=np.array(quality),
        cost=np.tile(PRICE, (n, 1)),
        features=feats,
        source="two-templates",
    )


def test_saved_router_is_the_cheapest_calibrated_candidate_and_routes_as_promised(tmp_path: Path) -> None:
    emb = HashingEmbedder(64)
    data = two_templates(600)
    target = QualityTarget(share=0.95, of="large", confidence=0.9, horizon=300)
    router = train_router(data, emb, target=target, out=tmp_path / "r")
    info = router.model.info
    cands = info["candidates"]
    assert {"ridge", "ridge-half", "template-table"} <= set(cands)
    assert {"ridge/2 tiers", "ridge/3 tiers", "template-table/3 tiers"} <= set(cands)
    assert "ridge/4 tiers" not in cands  # four tiers is every tier: the unrestricted candidate
    met = {k: v for k, v in cands.items() if v["met"]}
    assert met, cands
    assert info["candidate"] in met
    assert cands[info["candidate"]]["cost"] == min(v["cost"] for v in met.values())
    op = router.operating_point
    assert op is not None and op.met
    assert op.cost == pytest.approx(cands[info["candidate"]]["cost"], rel=1e-6)
    # The file as loaded answers each training row with the model of its fold: routing the
    # training rows with it reproduces the calibrated point exactly (it is what was calibrated).
    loaded = TrainedRouter.load(str(tmp_path / "r"), embedder=emb)
    assert loaded.model.info["candidate"] == info["candidate"]
    q, c = loaded.predict_texts(data.prompts)
    pick = pick_tiers(q, c, op, data.prompts)
    rows = np.arange(len(data))
    assert float(data.quality[rows, pick].mean()) == pytest.approx(op.quality, abs=1e-9)
    assert float(data.cost[rows, pick].mean()) == pytest.approx(op.cost, rel=1e-9)
    # A restricted candidate never routes to a tier it left out.
    if "tiers" in info["candidate"]:
        allowed = [TIERS.index(t) for t in loaded.model.info["active_tiers"]]
        assert set(pick.tolist()) <= set(allowed) and len(allowed) < len(TIERS)


def test_without_templates_and_with_two_tiers_only_the_ridge_router_is_fitted(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    prompts = [f"question {i} about {'sums' if i % 2 else 'proofs'}" for i in range(80)]
    data = OutcomeDataset(
        prompts=prompts,
        tiers=["small", "large"],
        quality=np.column_stack([(rng.random(80) < 0.5).astype(float), np.ones(80)]),
        cost=np.tile([1e-4, 1e-3], (80, 1)),
    )
    router = train_router(data, HashingEmbedder(32), out=tmp_path / "r")
    assert set(router.model.info["candidates"]) == {"ridge"}
    assert router.model.info["candidate"] == "ridge"
    assert "question_weight" not in router.model.params["fold_params"][0]


def _features(data: OutcomeDataset) -> tuple[np.ndarray, TextSelector]:
    sel = TextSelector.learn(data.prompts)
    return sel.features(HashingEmbedder(64), data.prompts), sel


def test_question_weight_blends_the_ridge_part_with_the_template_prior(tmp_path: Path) -> None:
    data = two_templates(300, seed=2)
    x, sel = _features(data)
    emb = HashingEmbedder(64)
    kw = {"kind": "ridge", "group_cols": sel.buckets, "group_shrink": 30.0}
    full, _, _ = RouterModel.cross_fit(data, emb, x, **kw)  # type: ignore[arg-type]
    table, _, _ = RouterModel.cross_fit(data, emb, x, question_weight=0.0, **kw)  # type: ignore[arg-type]
    folds = [fold_of(p, full.n_folds) for p in data.prompts]
    q1, c1 = full.predict(x, folds)
    q0, c0 = table.predict(x, folds)
    qz, cz = full.with_question_weight(0.0).predict(x, folds)
    assert np.allclose(q0, qz, atol=1e-5) and np.allclose(c0, cz, atol=1e-9)
    # Half the question's part: the mean of the two wherever neither is clipped.
    qh, _ = full.with_question_weight(0.5).predict(x, folds)
    inside = (q1 > 0) & (q1 < 1) & (q0 > 0) & (q0 < 1)
    assert inside.mean() > 0.5
    assert np.allclose(qh[inside], 0.5 * (q0 + q1)[inside], atol=1e-5)
    assert not np.allclose(q1, q0)  # the question's part is not nothing
    # Saved and loaded, a blended router predicts the same.
    d = full.with_question_weight(0.5).save(tmp_path / "half")
    again = RouterModel.load(d)
    assert np.allclose(again.predict(x, folds)[0], qh)
    assert all(p["question_weight"] == 0.5 for p in again.params["fold_params"])
    with pytest.raises(ConfigurationError):
        full.with_question_weight(1.5)
    with pytest.raises(ConfigurationError):
        RouterModel.fit(data, emb, kind="ridge_guarded", embeddings=x, question_weight=0.5)


def test_with_tiers_never_chooses_a_left_out_tier(tmp_path: Path) -> None:
    data = two_templates(200, seed=3)
    x, sel = _features(data)
    emb = HashingEmbedder(64)
    full, _, _ = RouterModel.cross_fit(data, emb, x, group_cols=sel.buckets)
    two = RouterModel.load(full.with_tiers(["tiny", "large"]).save(tmp_path / "two"))
    folds = [fold_of(p, two.n_folds) for p in data.prompts]
    q, c = two.predict(x, folds)
    assert (q[:, [1, 2]] == -1.0).all() and (q[:, [0, 3]] >= 0).all()
    for knob in (0.0, 10.0, 1e3, 1e6):
        picks = set(np.argmax(q - knob * c, axis=1).tolist())
        assert picks <= {0, 3}
    assert two.info["active_tiers"] == ["tiny", "large"]
    with pytest.raises(ConfigurationError):
        full.with_tiers(["huge"])


def test_a_line_found_in_a_few_questions_is_not_a_template_line() -> None:
    """Answer options that recur in a handful of questions stay part of the question."""
    prompts = [f"{TEMPLATES['quiz']}\nQuestion {i}: who left first?\nA) Sam\nB) Kim {i}" for i in range(200)]
    for i in range(3, 200):  # "A) Sam" in 3 of 200 prompts (1.5 %: below the 2 % threshold)
        prompts[i] = prompts[i].replace("A) Sam", f"A) Person {i}")
    sel = TextSelector.learn(prompts)
    body, vec = sel.select(prompts[0])
    assert "A) Sam" in body and "Reply with one letter." not in body
    assert np.allclose(vec, sel.select(prompts[10])[1])  # one template: one group
    # The share is a parameter: at 1 % the line is taken for a template line.
    assert "A) Sam" not in TextSelector.learn(prompts, min_share=0.01).select(prompts[0])[0]
