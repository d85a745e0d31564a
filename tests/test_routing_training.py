"""The router users ship: what it reads of a request, cross-fitted training whose
calibration is the saved file's, scoring a saved file, the outcome formats, and shadow mode."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._routed import RoutedChatModel
from llm_cost_hooks.routing import (
    HashingEmbedder,
    OutcomeDataError,
    OutcomeDataset,
    QualityTarget,
    RouteRequest,
    RouterModel,
    ShadowMode,
    ShadowStore,
    TextSelector,
    TrainedRouter,
    evaluate,
    evaluate_router,
    load_long,
    load_outcomes,
    load_routellm,
    outcomes_from_ledger,
    simulate_shadow,
    train_router,
    write_long,
)
from llm_cost_hooks.routing._cli import add_route_commands
from llm_cost_hooks.routing._model import embed_texts, fold_of
from llm_cost_hooks.routing._strategies import calibrate_points, choose_tiers, pick_tiers

FEW_SHOT = "\n".join(
    f"Example {k}: a worked question about topic {k} with its careful answer, kept for the format. Answer: {k}"
    for k in range(40)
)  # ~3,000 characters: longer than what any embedder reads from the start


def templated(n: int, seed: int = 0) -> OutcomeDataset:
    """Every prompt starts with the same long few-shot block; whether the cheap tier is
    right depends only on the question at the end."""
    rng = np.random.default_rng(seed)
    prompts, quality = [], []
    for i in range(n):
        a, b = rng.integers(1, 99, size=2)
        if i % 2 == 0:
            prompts.append(f"{FEW_SHOT}\nQuestion: what is {a} plus {b}?\nAnswer:")
            quality.append([1.0, 1.0])
        else:
            prompts.append(
                f"{FEW_SHOT}\nQuestion: prove rigorously the conjecture on prime gaps number {a}{b}.\nAnswer:"
            )
            quality.append([0.0, 1.0])
    return OutcomeDataset(
        prompts=prompts,
        tiers=["small", "large"],
        quality=np.array(quality),
        cost=np.tile([1e-4, 2e-3], (n, 1)),
        features=["t"] * n,
        source="templated",
    )


# -- what the router reads ------------------------------------------------------------------
def test_selector_drops_the_shared_block_and_keeps_a_template_feature() -> None:
    ds = templated(60)
    sel = TextSelector.learn(ds.prompts)
    body, vec = sel.select(ds.prompts[0])
    assert body.startswith("Question: what is") and "Example 3" not in body
    assert float(np.linalg.norm(vec)) == pytest.approx(1.0)
    # The raw text's first 2,000 characters are the same for every prompt; the selected text is not.
    emb = HashingEmbedder(128)
    raw = embed_texts(emb, ds.prompts)
    assert np.allclose(raw[0], raw[2])
    x = sel.features(emb, ds.prompts)
    assert not np.allclose(x[0], x[2]) and x.shape == (60, 128 + sel.buckets)
    # An unseen request with no template line: no template feature, the text itself.
    body, vec = sel.select("Completely new question?")
    assert body == "Completely new question?" and not vec.any()


def test_selector_long_input_keeps_head_and_tail_and_short_followups_get_context() -> None:
    sel = TextSelector(head_chars=50, tail_chars=100)
    text = "START " + "x" * 5000 + " END"
    body, _ = sel.select(text)
    assert body.startswith("START") and body.endswith("END") and len(body) < 200
    sel = TextSelector()
    body, _ = sel.select(
        "and the second one?", context="Here are two options: the red car and the blue bike."
    )
    assert "blue bike" in body and body.endswith("and the second one?")
    long_q = "Explain in detail " * 20
    assert sel.select(long_q, context="unrelated")[0] == long_q.strip()


def test_router_reads_the_question_behind_a_shared_prefix() -> None:
    emb = HashingEmbedder(128)
    train, test = templated(200, seed=1), templated(100, seed=2)
    target = QualityTarget(share=0.95)
    router = train_router(train, emb, target=target)
    rep = evaluate_router(router, test)
    got = rep.result("saved-router").calibrated
    strong = rep.singles["large"]
    assert got.quality >= 0.95 * strong.quality and got.cost < 0.6 * strong.cost
    # The same data through the raw text (the old path) cannot tell the prompts apart.
    raw = evaluate(test, train=train, embedder=emb, kinds=("ridge",), target=target, cascade=False)
    blind = raw.result("trained-ridge").calibrated
    assert blind.cost > got.cost + 0.2 * strong.cost


# -- the saved artefact is what was calibrated -------------------------------------------------
def test_saved_router_reproduces_its_calibration_exactly(tmp_path: Path) -> None:
    emb = HashingEmbedder(64)
    train = templated(120, seed=3)
    target = QualityTarget(share=0.95)
    router = train_router(train, emb, target=target, out=tmp_path / "r")
    loaded = TrainedRouter.load(str(tmp_path / "r"))
    assert loaded.model.n_folds == 5 and loaded.model.selector is not None
    # Each training prompt is answered by the fold model that never saw it, so the saved
    # file's predictions on the training prompts are the held-out predictions it was
    # calibrated on: re-calibrating on them gives the promised point.
    q, c = loaded.predict_texts(train.prompts)
    again = calibrate_points(train.quality, train.cost, q, c, train.tiers, target, texts=train.prompts)
    op = loaded.operating_point
    assert op is not None
    assert again.quality == pytest.approx(op.quality)
    assert again.cost == pytest.approx(op.cost)
    # Replaying the file's own decisions (mixing by request hash included) on those
    # prompts realises exactly the promised quality and cost.
    pick = pick_tiers(q, c, op, train.prompts)
    rows = np.arange(len(train))
    assert float(train.quality[rows, pick].mean()) == pytest.approx(op.quality)
    assert float(train.cost[rows, pick].mean()) == pytest.approx(op.cost)
    assert router.operating_point == loaded.operating_point
    # route() answers a request with its fold's model.
    p = train.prompts[1]
    d = loaded.route(RouteRequest(p), ["small", "large"])
    fq, _ = loaded.model.fold_model(fold_of(p, 5)).predict(
        loaded.model.selector.feature_one(loaded.embedder, p)
    )
    assert d.scores == {"small": round(float(fq[0, 0]), 4), "large": round(float(fq[0, 1]), 4)}


def test_old_single_model_files_still_route(tmp_path: Path) -> None:
    emb = HashingEmbedder(64)
    m = RouterModel.fit(templated(40), emb)
    m.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "router.json").read_text())
    meta["format_version"] = 1
    (tmp_path / "old" / "router.json").write_text(json.dumps(meta))
    r = TrainedRouter.load(str(tmp_path / "old"))
    assert r.model.selector is None and r.model.n_folds == 0
    assert r.route(RouteRequest("what is 2 plus 2?"), ["small", "large"]).tier in ("small", "large")


# -- outcome formats ------------------------------------------------------------------------------
def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_long_form_with_costs_tokens_and_missing_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = _write_csv(
        tmp_path / "o.csv",
        ["prompt_id", "prompt", "model", "quality", "input_tokens", "output_tokens", "task"],
        [
            [1, "2+2?", "gpt-4o-mini", 1, 10, 2, "math"],
            [1, "2+2?", "gpt-4o", 1, 10, 2, "math"],
            [2, "prove it", "gpt-4o-mini", 0, 12, 50, "proof"],
            [2, "prove it", "gpt-4o", 0.8, 12, 60, "proof"],
            [3, "orphan", "gpt-4o", 1, 5, 5, "x"],
        ],
    )
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        ds = load_outcomes(f)
    assert ds.tiers == ["gpt-4o-mini", "gpt-4o"] and len(ds) == 2 and ds.dropped_rows == 1
    assert "dropped 1 prompts" in caplog.text
    assert ds.features == ["math", "proof"] and ds.quality[1].tolist() == [0.0, 0.8]
    assert 0 < ds.cost[0, 0] < ds.cost[0, 1]  # priced from the price book
    with pytest.raises(OutcomeDataError, match="prompt_id '3' has no answer"):
        load_long(f, missing="error")
    # An unknown model: a typed error that says how to price it, then --price fixes it.
    g = _write_csv(
        tmp_path / "u.csv",
        ["prompt_id", "prompt", "model", "quality", "input_tokens", "output_tokens"],
        [[1, "q", "my-llama", 1, 1_000_000, 0], [1, "q", "gpt-4o", 1, 1_000_000, 0]],
    )
    with pytest.raises(OutcomeDataError, match="--price 'my-llama=INPUT,OUTPUT'"):
        load_long(g)
    assert load_long(g, prices={"my-llama": (0.2e-6, 0.6e-6)}).cost[0, 0] == pytest.approx(0.2)
    bad = _write_csv(
        tmp_path / "b.csv", ["prompt_id", "prompt", "model", "quality", "cost"], [[1, "q", "m", 7, 0.1]]
    )
    with pytest.raises(OutcomeDataError, match="must be in \\[0, 1\\]"):
        load_long(bad)


def test_long_form_round_trip(tmp_path: Path) -> None:
    ds = templated(10)
    back = load_long(write_long(ds, tmp_path / "x.csv.gz"))
    assert (
        back.prompts == ds.prompts
        and np.allclose(back.quality, ds.quality)
        and np.allclose(back.cost, ds.cost)
    )


@pytest.mark.parametrize("with_subject", [False, True])
def test_routellm_mmlu_layout_without_responses(tmp_path: Path, with_subject: bool) -> None:
    header = [
        "prompt",
        *(["subject"] if with_subject else []),
        "mixtral-8x7b-instruct-v0.1",
        "gpt-4-1106-preview",
    ]
    rows = [
        [f"Question {i}?\nA. 1\nB. 2\nAnswer:", *(["algebra"] if with_subject else []), i % 2 == 0, True]
        for i in range(12)
    ]
    f = _write_csv(tmp_path / "mmlu_abstract_algebra.csv", header, rows)
    ds = load_outcomes(f, prices={"mixtral-8x7b-instruct-v0.1": (0.6e-6, 0.6e-6)})
    assert ds.tiers == ["mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"] and len(ds) == 12
    assert (
        ds.responses is None and ds.features == ["algebra"] * 12
        if with_subject
        else ds.features == ["abstract_algebra"] * 12
    )
    assert np.all(ds.cost > 0)
    rep = evaluate(ds)
    assert not any(r.name.startswith("cascade") for r in rep.results)  # no answers, no cascade row
    two = load_routellm([f, f], prices={"mixtral-8x7b-instruct-v0.1": (0.6e-6, 0.6e-6)})
    assert len(two) == 24


def test_cli_train_then_eval_the_saved_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, test = (
        write_long(templated(80, seed=4), tmp_path / "train.csv"),
        write_long(templated(40, seed=5), tmp_path / "test.csv"),
    )
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["route", "train", str(train), "--embedder", "hashing-64", "--out", str(tmp_path / "r")]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["folds"] == 5 and out["template_lines"] > 0 and out["operating_point"]["met"]
    args = parser.parse_args(
        ["route", "eval", str(test), "--router", str(tmp_path / "r"), "--train", str(train)]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "saved-router @calibrated" in text and "task-table @calibrated" in text
    args = parser.parse_args(
        ["route", "train", str(train), "--embedder", "hashing-64", "--out", str(tmp_path / "r90")]
        + ["--confidence", "0.9", "--horizon", "40"]
    )
    assert args.func(args) == 0
    sure = json.loads(capsys.readouterr().out)["operating_point"]
    rows = templated(80, seed=4)
    goal = 0.95 * float(rows.quality[:, rows.tiers.index("large")].mean())
    assert sure["target"].endswith("@0.9/40") and sure["met"] and sure["quality_low"] >= goal - 1e-9
    with pytest.raises(Exception, match="MODEL=INPUT,OUTPUT"):
        parser.parse_args(["route", "train", str(train), "--out", "x", "--price", "m=abc"]).func(
            parser.parse_args(["route", "train", str(train), "--out", "x", "--price", "m=abc"])
        )


def test_cli_template_prior_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_long(templated(80, seed=4), tmp_path / "train.csv")
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    base = ["route", "train", str(train), "--embedder", "hashing-64"]

    def run(*extra: str, out: str) -> dict[str, object]:
        args = parser.parse_args([*base, "--out", str(tmp_path / out), *extra])
        assert args.func(args) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    def shrinks(out: str) -> set[object]:
        return {
            p.get("group_shrink")
            for f in (tmp_path / out).rglob("router.json")
            for p in json.loads(f.read_text())["params"].get("fold_params", [])
        }

    assert run(out="d")["template_prior"] == 30.0 and shrinks("d") == {30.0}
    assert run("--template-prior", "5", out="five")["template_prior"] == 5.0 and shrinks("five") == {5.0}
    assert run("--no-template-prior", out="none")["template_prior"] is None and shrinks("none") == {None}
    versions = {json.loads(f.read_text())["format_version"] for f in (tmp_path / "none").rglob("router.json")}
    assert versions == {2}  # no priors: the file stays readable by the previous release
    with pytest.raises(SystemExit):  # one or the other
        parser.parse_args([*base, "--out", "x", "--template-prior", "5", "--no-template-prior"])
    capsys.readouterr()
    with pytest.raises(ConfigurationError, match="template-prior"):
        args = parser.parse_args([*base, "--out", str(tmp_path / "neg"), "--template-prior", "-1"])
        args.func(args)


# -- shadow mode ------------------------------------------------------------------------------------
def _routed(shadow: ShadowMode, small_text: str = "4", large_text: str = "4") -> RoutedChatModel:
    from llm_cost_hooks.routing import RuleRouter

    return RoutedChatModel(
        tiers={
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[small_text]),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[large_text]),
        },
        strategy=RuleRouter([], default="small"),
        builtin_checks=False,
        shadow=shadow,
    )


def test_shadow_mode_records_judged_pairs_and_its_spend_is_its_own_route(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    shadow = ShadowMode(
        lambda q, answers: {t: float(a.strip() == "4") for t, a in answers.items()}, share=1.0, store=db
    )
    llm = _routed(shadow, small_text="5", large_text="4")
    h = CostCallbackHandler(ledger="memory://")
    for i in range(12):
        msg = llm.invoke(f"What is 2 + 2? (asked {i})", config={"callbacks": [h]})
        assert msg.content == "5"  # the user gets the routed answer
    routes = [r.route for r in h.records()]
    assert routes.count("small") == 12 and routes.count("shadow:large") == 12
    assert shadow.stats["written"] == 12 and shadow.stats["spent_usd"] > 0
    ds = outcomes_from_ledger(db)
    assert sorted(ds.tiers) == ["large", "small"] and len(ds) == 12
    assert ds.quality[:, ds.index("small")].sum() == 0 and ds.quality[:, ds.index("large")].sum() == 12
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "route",
            "train",
            str(db),
            "--from-ledger",
            "--embedder",
            "hashing-64",
            "--out",
            str(tmp_path / "r"),
            "--folds",
            "2",
        ]
    )
    assert args.func(args) == 0


def test_shadow_failures_never_reach_the_user(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def bad_judge(q: str, answers: dict[str, str]) -> dict[str, float]:
        raise RuntimeError("judge down")

    shadow = ShadowMode(bad_judge, share=1.0, store=tmp_path / "l.db")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        assert _routed(shadow).invoke("hi").content == "4"
    assert shadow.stats["judge_errors"] == 1 and "shadow judge failed" in caplog.text
    budgeted = ShadowMode(
        lambda q, a: {t: 1.0 for t in a}, share=1.0, budget_usd=0.0, store=tmp_path / "l.db"
    )
    _routed(budgeted).invoke("hi")
    assert budgeted.stats["skipped_budget"] == 1 and budgeted.stats["shadowed"] == 0
    store = ShadowStore(tmp_path / "l2.db")
    (tmp_path / "l2.db").unlink()
    (tmp_path / "l2.db").mkdir()  # the file is gone and cannot be created: the write fails
    assert store.write("q", None, {"a": (1.0, 0.1, None)}, "a") is False
    assert store.failed == 1 and len(store.set_aside) == 1
    with pytest.raises(OutcomeDataError, match="no shadow outcomes"):
        sqlite3.connect(tmp_path / "empty.db").close()
        outcomes_from_ledger(tmp_path / "empty.db")


def test_simulated_shadow_stream_learns_from_no_labels() -> None:
    sim = simulate_shadow(templated(400, seed=6), HashingEmbedder(64), share=0.5, checkpoints=(10, 100, 280))
    first, last = sim["points"][0], sim["points"][-1]
    assert first["labels"] < 20 and first["router_cost_share"] == 1.0  # no router yet: the reference tier
    assert last["labels"] > 100 and last["quality_share"] >= 0.9 and last["router_cost_share"] < 0.7
    assert last["exploration_share"] > 0 and sim["full"]["cost_share"] < 0.7


def test_confidence_and_horizon_survive_the_saved_file(tmp_path: Path) -> None:
    from llm_cost_hooks.routing._train import _target_of

    emb = HashingEmbedder(64)
    train = templated(200, seed=5)
    target = QualityTarget(share=0.95, confidence=0.9, horizon=80)
    router = train_router(train, emb, target=target, out=tmp_path / "r")
    op = TrainedRouter.load(str(tmp_path / "r")).operating_point
    assert op is not None and op == router.operating_point and op.met
    # The saved promise names its confidence and horizon, and route eval's task table is
    # calibrated to the very same target.
    assert op.target == "quality>=0.95xlarge@0.9/80"
    assert _target_of(op, train) == QualityTarget(share=0.95, of="large", confidence=0.9, horizon=80)
    # Its lower bound clears the share; the point estimate sits above it.
    goal = 0.95 * float(train.quality[:, 1].mean())
    assert op.quality_low is not None and op.quality_low >= goal - 1e-9 and op.quality > op.quality_low
    plain = train_router(train, emb, target=QualityTarget(share=0.95))
    assert plain.operating_point is not None and plain.operating_point.cost < op.cost


def test_template_prior_routes_by_template_when_the_question_cannot(tmp_path: Path) -> None:
    """Two templates whose questions read alike: the cheap tier is always right behind one
    and always wrong behind the other. The template prior tells them apart; a request
    behind an unseen template gets the overall mean."""
    rng = np.random.default_rng(7)
    easy = "\n".join(f"Rule {k}: reply with the letter only, as in the sample {k}." for k in range(12))
    hard = "\n".join(f"Step {k}: show every line of the derivation for part {k}." for k in range(12))
    prompts, quality = [], []
    for i in range(240):
        words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega", "sigma"], size=6))
        prompts.append(f"{easy if i % 2 else hard}\nQuestion {i}: {words}?")
        quality.append([1.0, 1.0] if i % 2 else [0.0, 1.0])
    ds = OutcomeDataset(
        prompts=prompts,
        tiers=["small", "large"],
        quality=np.array(quality),
        cost=np.tile([1e-4, 2e-3], (240, 1)),
    )
    emb = HashingEmbedder(64)
    train, test = ds.subset(np.arange(160)), ds.subset(np.arange(160, 240))
    router = train_router(train, emb, target=QualityTarget(share=0.95), out=tmp_path / "r")
    assert router.model.fold_model(0).params["group_cols"] == router.model.selector.buckets
    versions = {json.loads(f.read_text())["format_version"] for f in (tmp_path / "r").rglob("router.json")}
    assert versions == {3}  # priors: a reader without them would mispredict, so it refuses
    plain_dir = tmp_path / "plain"
    train_router(train, emb, target=QualityTarget(share=0.95), template_prior=None, out=plain_dir)
    versions = {json.loads(f.read_text())["format_version"] for f in plain_dir.rglob("router.json")}
    assert versions == {2}  # no priors: still readable by version 2 readers
    loaded = TrainedRouter.load(str(tmp_path / "r"), embedder=emb)
    q, _ = loaded.predict_texts(test.prompts)
    assert np.allclose(q, router.predict_texts(test.prompts)[0], atol=1e-6)  # the file keeps the priors
    small_right = test.quality[:, 0] == 1.0
    assert q[small_right, 0].min() > 0.8 and q[~small_right, 0].max() < 0.2
    # At any price weight between the two tiers' value gaps: easy -> small, hard -> large.
    pick = choose_tiers(q, loaded.predict_texts(test.prompts)[1], 100.0)
    assert np.array_equal(pick, np.where(small_right, 0, 1))
    # A template never seen in training: the prior is the overall mean of the training rows.
    m = loaded.model.fold_model(0)
    x = np.zeros((1, m.dim), dtype=np.float32)
    x[0, -1] = 1.0
    plain = RouterModel(
        kind="ridge",
        tiers=m.tiers,
        embedder_name=m.embedder_name,
        dim=m.dim,
        arrays={k: v for k, v in m.arrays.items() if not k.startswith("g")},
        params={},
    )
    expect = np.clip(plain.predict(x)[0] + m.arrays["gq_all"], 0, 1)
    assert np.allclose(m.predict(x)[0], expect, atol=1e-6)
