"""Routing core (framework-free): data loaders, strategies, trained router, calibration,
checks and cascade loop, metrics and the evaluation harness."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import (
    Answer,
    BudgetTarget,
    Cascade,
    HashingEmbedder,
    OutcomeDataError,
    OutcomeDataset,
    QualityFloor,
    QualityTarget,
    RouteDecision,
    RouteRequest,
    RouterModel,
    RouterModelError,
    Rule,
    RuleRouter,
    TrainedRouter,
    arun_cascade,
    evaluate,
    load_outcomes,
    load_routellm,
    load_routerbench,
    not_refusal,
    not_truncated,
    parses,
    run_cascade,
)
from llm_cost_hooks.routing._cli import add_route_commands
from llm_cost_hooks.routing._metrics import aiq, apgr, cpt, nondecreasing_hull

TIERS = ["small", "large"]


def synthetic(n: int = 120, seed: int = 0) -> OutcomeDataset:
    """Arithmetic prompts: both tiers right. Proof prompts: only the large tier right."""
    rng = np.random.default_rng(seed)
    prompts, quality, feats = [], [], []
    for i in range(n):
        if i % 2 == 0:
            prompts.append(f"What is {rng.integers(1, 99)} plus {rng.integers(1, 99)}? Answer with a number.")
            quality.append([1.0, 1.0])
            feats.append("arith")
        else:
            prompts.append(
                f"Prove rigorously the theorem about prime gaps number {rng.integers(1, 999)} step by step."
            )
            quality.append([0.0, 1.0])
            feats.append("proof")
    cost = np.tile([1e-4, 2e-3], (n, 1))
    return OutcomeDataset(
        prompts=prompts,
        tiers=list(TIERS),
        quality=np.array(quality),
        cost=cost,
        responses={"small": ["ans"] * n, "large": ["ANS"] * n},
        features=feats,
        ids=[str(i) for i in range(n)],
        source="synthetic",
    )


def write_routerbench(path: Path, rows: list[dict[str, str]]) -> Path:
    cols = [
        "",
        "sample_id",
        "prompt",
        "eval_name",
        "m1",
        "m2",
        "m1|model_response",
        "m2|model_response",
        "m1|total_cost",
        "m2|total_cost",
    ]
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    return path


def rb_row(i: int, **over: str) -> dict[str, str]:
    row = {
        "": str(i),
        "sample_id": f"s{i}",
        "prompt": repr([f"question {i}"]),
        "eval_name": "t",
        "m1": "1.0",
        "m2": "0.0",
        "m1|model_response": repr([f"A{i}"]),
        "m2|model_response": "B",
        "m1|total_cost": "0.001",
        "m2|total_cost": "0.01",
    }
    row.update(over)
    return row


# -- data ---------------------------------------------------------------------------------
def test_load_routerbench_parses_layout(tmp_path: Path) -> None:
    f = write_routerbench(tmp_path / "a.csv.gz", [rb_row(1), rb_row(2, m2="1.0"), rb_row(3, m1="")])
    ds = load_routerbench(f)
    assert ds.tiers == ["m1", "m2"]
    assert ds.prompts == ["question 1", "question 2"]  # list literal unwrapped
    assert ds.dropped_rows == 1  # the empty cell
    assert ds.quality.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    assert ds.cost[0].tolist() == [0.001, 0.01]
    assert ds.responses is not None and ds.responses["m1"][0] == "A1"
    assert ds.features == ["t", "t"]
    assert load_outcomes(tmp_path).tiers == ["m1", "m2"]  # directory + auto layout


def test_load_routerbench_bad_input_names_row_and_column(tmp_path: Path) -> None:
    f = write_routerbench(tmp_path / "a.csv.gz", [rb_row(1), rb_row(2, m2="maybe")])
    with pytest.raises(OutcomeDataError, match=r"row 3, column 'm2'.*'maybe'"):
        load_routerbench(f)
    g = write_routerbench(tmp_path / "b.csv.gz", [rb_row(1, m1="")])
    with pytest.raises(OutcomeDataError, match=r"row 2, column 'm1' is empty"):
        load_routerbench(g, missing="error")
    with pytest.raises(OutcomeDataError, match=r"missing columns \['m9'\]"):
        load_routerbench(f, tiers=["m1", "m9"])
    h = tmp_path / "c.jsonl"
    h.write_text(json.dumps({"prompt": "x", "m1": 1}) + "\n")
    with pytest.raises(OutcomeDataError, match=r"missing column 'm1\|total_cost'"):
        load_routerbench(h)
    k = write_routerbench(tmp_path / "d.csv.gz", [rb_row(1, m1="1.5")])
    with pytest.raises(OutcomeDataError, match="outside"):
        load_routerbench(k)


def test_load_routellm_costs_and_contamination(tmp_path: Path) -> None:
    f = tmp_path / "gsm8k_responses.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "weak", "strong", "weak_response", "strong_response"])
        w.writerow(["What is 2+2?", "True", "True", "4", "4"])
        w.writerow(["Seen in training", "False", "True", "x", "y"])
        w.writerow(["Hard one", "False", "True", "wrong", "right answer here"])
    with gzip.open(tmp_path / "gsm8k_contaminated_prompts.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"train_prompt": "seen", "eval_prompt": "Seen in training"}) + "\n")
    ds = load_routellm(f, cost_per_call={"weak": 0.001, "strong": 0.01})
    assert ds.prompts == ["What is 2+2?", "Hard one"] and ds.extra["contaminated_dropped"] == 1
    assert ds.quality.tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert ds.cost[:, 1].tolist() == [0.01, 0.01]
    ds2 = load_routellm(f, prices={"weak": (1e-6, 1e-6), "strong": (1e-5, 3e-5)}, drop_contaminated=False)
    assert len(ds2) == 3 and ds2.cost[2, 1] > ds2.cost[0, 1] > 0  # longer answer costs more
    assert load_outcomes(f, cost_per_call={"weak": 0.001, "strong": 0.01}).tiers == ["weak", "strong"]


def test_split_is_disjoint_and_stratified() -> None:
    ds = synthetic(100)
    tr, te = ds.split(0.3, seed=1)
    assert len(tr) + len(te) == 100 and not set(tr.ids) & set(te.ids)  # type: ignore[arg-type]
    assert te.features.count("arith") == te.features.count("proof") == 15  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError):
        ds.split(1.5)


# -- rules, floor, cascade decision -----------------------------------------------------------
def test_rule_router() -> None:
    r = RuleRouter(
        [
            Rule(tier="small", feature=["classification"]),
            Rule(tier="large", keywords=["prove", "step by step"]),
            Rule(tier="large", min_chars=200),
        ],
        default="small",
    )
    tiers = ["small", "large"]
    assert r.route(RouteRequest("prove it", {"feature": "classification"}), tiers).tier == "small"
    assert r.route(RouteRequest("Please PROVE this"), tiers).reason == "rule:keyword"
    assert r.route(RouteRequest("improve this"), tiers).tier == "small"  # whole words only
    assert r.route(RouteRequest("x" * 300), tiers).reason == "rule:chars>=200"
    assert r.route(RouteRequest("hello"), tiers).reason == "rule:default"
    with pytest.raises(ValueError, match="no condition"):
        Rule(tier="small")
    with pytest.raises(ConfigurationError, match="'huge'"):
        RuleRouter([Rule(tier="huge", max_chars=5)], default="small").check_tiers(tiers)


def test_quality_floor_from_outcomes() -> None:
    ds = synthetic(40)
    floor = QualityFloor.from_outcomes(ds, {"arith": 0.9, "proof": 0.9})
    assert floor.min_tier == {"arith": "small", "proof": "large"}
    d = floor.apply(RouteDecision("small", "rule:default"), RouteRequest("x", {"feature": "proof"}), TIERS)
    assert d.tier == "large" and d.reason.endswith("+floor:proof")
    same = floor.apply(RouteDecision("small", "r"), RouteRequest("x", {"feature": "arith"}), TIERS)
    assert same.tier == "small"


def test_cascade_decision() -> None:
    d = Cascade().route(RouteRequest("x"), ["a", "b", "c"])
    assert (d.tier, d.escalation) == ("a", ("b", "c"))
    d2 = Cascade("b", max_tiers=1).route(RouteRequest("x"), ["a", "b", "c"])
    assert (d2.tier, d2.escalation) == ("b", ())


# -- trained router ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ridge", "logistic"])
def test_trained_router_learns_and_calibrates(kind: str) -> None:
    emb = HashingEmbedder(128)
    train, cal = synthetic(160, seed=1), synthetic(80, seed=2)
    model = RouterModel.fit(train, emb, kind=kind)  # type: ignore[arg-type]
    router = TrainedRouter(model, embedder=emb)
    point = router.calibrate(cal, QualityTarget(share=0.95))
    assert point.met and point.quality >= 0.95 * 1.0
    assert point.cost < 0.8 * 2e-3  # cheaper than always-large
    assert router.route(RouteRequest("What is 3 plus 4? Answer with a number."), TIERS).tier == "small"
    d = router.route(
        RouteRequest("Prove rigorously the theorem about prime gaps number 5 step by step."), TIERS
    )
    assert d.tier == "large" and d.reason.startswith("trained:") and set(d.scores or {}) == set(TIERS)
    budget = router.calibrate(cal, BudgetTarget(usd_per_request=1.5e-4))
    assert budget.met and budget.cost <= 1.5e-4


def test_router_model_save_load(tmp_path: Path) -> None:
    emb = HashingEmbedder(64)
    m = RouterModel.fit(synthetic(40), emb, kind="ridge")
    m.save(tmp_path / "r")
    loaded = RouterModel.load(tmp_path / "r", embedder=emb)
    x = emb.embed(["Prove this theorem", "What is 1 plus 2?"])
    assert np.allclose(loaded.predict(x)[0], m.predict(x)[0])
    with pytest.raises(RouterModelError, match="hashing-32"):
        RouterModel.load(tmp_path / "r", embedder=HashingEmbedder(32))
    (tmp_path / "r" / "router.npz").write_bytes(b"garbage")
    with pytest.raises(RouterModelError, match="checksum"):
        RouterModel.load(tmp_path / "r")
    with pytest.raises(RouterModelError, match="missing"):
        RouterModel.load(tmp_path / "nothing")


def test_trained_router_tier_map_and_unknown_tiers() -> None:
    emb = HashingEmbedder(64)
    router = TrainedRouter(
        RouterModel.fit(synthetic(40), emb),
        embedder=emb,
        knob=1e6,
        tier_map={"cheap": "small", "pricey": "large"},
    )
    assert router.route(RouteRequest("Prove it"), ["cheap", "pricey"]).tier == "cheap"  # huge knob: cheapest
    with pytest.raises(ConfigurationError, match="tier_map"):
        TrainedRouter(RouterModel.fit(synthetic(40), emb), embedder=emb).check_tiers(["x", "y"])


# -- checks and the cascade loop -------------------------------------------------------------
def test_builtin_checks() -> None:
    assert not_refusal(Answer("I'm sorry, but I can't help with that.", "t")) == "refusal"
    assert not_refusal(Answer("I cannot comply.", "t")) == "refusal"
    assert not_refusal(Answer("Sorry for the wait: the answer is 4.", "t")) is True
    assert not_truncated(Answer("abc", "t", finish_reason="length")) != True  # noqa: E712
    assert parses(Answer('```json\n{"a": 1}\n```', "t", expects_json=True)) is True
    assert str(parses(Answer("{oops", "t", expects_json=True))).startswith("not JSON")
    assert parses(Answer("", "t", parse_error="bad")) == "parse error: bad"


def _caller(script: dict[str, object]):
    calls: list[str] = []

    def call(tier: str, attempt: int) -> tuple[str, Answer]:
        calls.append(tier)
        out = script[tier]
        if isinstance(out, Exception):
            raise out
        return f"result-{tier}", Answer(str(out), tier)

    return call, calls


def test_run_cascade_escalates_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    tiers = ["a", "b", "c"]
    call, calls = _caller({"a": "I'm sorry, but I can't.", "b": "fine", "c": "best"})
    out = run_cascade(RouteDecision("a", "r", escalation=("b", "c")), tiers, call, [not_refusal])
    assert (out.tier, calls, out.checks_passed) == ("b", ["a", "b"], True)
    assert [a.ok for a in out.attempts] == [False, True]
    assert "escalated[a:refusal,b:ok]" in out.route_reason(RouteDecision("a", "r"))

    # A tier that errors without escalation falls back to another tier.
    call, calls = _caller({"a": RuntimeError("down"), "b": "ok", "c": "ok"})
    out = run_cascade(RouteDecision("b", "r"), tiers, call, [])
    assert calls == ["b"] and out.tier == "b"
    call, calls = _caller({"a": "ok", "b": RuntimeError("down"), "c": RuntimeError("down")})
    out = run_cascade(RouteDecision("b", "r"), tiers, call, [])
    assert calls == ["b", "c", "a"] and out.tier == "a" and out.attempts[0].reason == "error:RuntimeError"

    # Every tier errors: the last error is raised.
    call, _ = _caller({t: ValueError(t) for t in tiers})
    with pytest.raises(ValueError, match="c"):
        run_cascade(RouteDecision("a", "r", escalation=("b", "c")), tiers, call, [])

    # All answers fail the checks: the last is returned, flagged.
    call, _ = _caller({t: "I cannot do that." for t in tiers})
    out = run_cascade(RouteDecision("a", "r", escalation=("b", "c")), tiers, call, [not_refusal])
    assert out.tier == "c" and not out.checks_passed

    # A check that raises counts as failed and is logged, never a crash.
    def broken(answer: Answer) -> bool:
        raise KeyError("boom")

    call, _ = _caller({"a": "x", "b": "y", "c": "z"})
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        out = run_cascade(RouteDecision("a", "r", escalation=("b",)), tiers, call, [broken])
    assert out.attempts[0].reason == "broken raised KeyError" and "broken" in caplog.text


async def test_arun_cascade_with_async_check() -> None:
    async def wants_long(answer: Answer) -> bool | str:
        return True if len(answer.text) > 3 else "too short"

    async def call(tier: str, attempt: int) -> tuple[str, Answer]:
        return tier, Answer({"a": "no", "b": "long answer"}[tier], tier)

    out = await arun_cascade(RouteDecision("a", "r", escalation=("b",)), ["a", "b"], call, [wants_long])
    assert out.tier == "b" and out.attempts[0].reason == "too short"


# -- metrics and the harness -----------------------------------------------------------------
def test_metrics() -> None:
    assert nondecreasing_hull([(0, 0.5), (1, 0.6), (2, 0.9), (3, 0.8)]) == [(0.0, 0.5), (2.0, 0.9)]
    # A single point at the cheap end scores its quality over the whole range.
    assert aiq([(0.0, 0.8)], 0.0, 1.0) == pytest.approx(0.8)
    # Random mixing is the diagonal: APGR 0.5, CPT(50%) = 0.5.
    diag = [(x, 0.6 + 0.2 * x) for x in np.linspace(0, 1, 11)]
    assert apgr(diag, 0.6, 0.8) == pytest.approx(0.5, abs=1e-3)
    assert cpt(diag, 0.6, 0.8, 0.5) == pytest.approx(0.5, abs=2e-3)
    assert np.isnan(cpt([(0, 0.6), (1, 0.7)], 0.6, 0.8, 0.8))


def test_evaluate_harness() -> None:
    emb = HashingEmbedder(128)
    train, test = synthetic(200, seed=3), synthetic(100, seed=4)
    rules = RuleRouter([Rule(tier="large", keywords=["prove"])], default="small")
    report = evaluate(test, train=train, embedder=emb, kinds=("logistic", "ridge"), rules=rules)
    assert (report.weak, report.strong) == ("small", "large")
    oracle, rnd = report.result("oracle"), report.result("random(weak,strong)")
    logit = report.result("trained-logistic")
    assert rnd.apgr == pytest.approx(0.5, abs=0.01)
    # Half the prompts need the strong tier: a perfect router recovers the whole gap at a
    # 50% strong share, so the best possible APGR here is 0.75.
    assert (
        logit.apgr > 0.7 and oracle.apgr == pytest.approx(0.75, abs=0.01) and oracle.apgr >= logit.apgr - 1e-9
    )
    # Calibrated on the convex hull: exactly the 95% target on the training rows (two
    # knobs mixed by a stable per-request hash), so held-out quality is ~95% +- noise.
    assert logit.calibration is not None and logit.calibration["train_quality"] == pytest.approx(0.95)
    assert (
        logit.calibrated is not None
        and logit.calibrated.quality >= 0.9
        and logit.calibrated.strong_share < 0.7
    )
    assert report.result("rules").points[0].quality == 1.0
    text = report.format()
    assert "trained-ridge @calibrated" in text and "AIQ" in text
    assert report.result("trained-ridge").apgr > 0.6
    assert json.loads(report.to_json())["n_test"] == 100
    casc = report.result("cascade(weak->strong, built-in checks)")
    assert casc.points[0].cost >= report.singles["small"].cost  # the weak attempt is always paid


def test_cli_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for i, ex in enumerate(synthetic(60).prompts):
        hard = "Prove" in ex
        rows.append(rb_row(i, prompt=repr([ex]), m1="0.0" if hard else "1.0", m2="1.0"))
    f = write_routerbench(tmp_path / "d.csv.gz", rows)
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["route", "eval", str(f), "--embedder", "hashing-64", "--kinds", "ridge", "logistic"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "trained-logistic @calibrated" in out and "oracle" in out
    args = parser.parse_args(
        ["route", "train", str(f), "--embedder", "hashing-64", "--out", str(tmp_path / "r")]
    )
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["operating_point"]["met"] in (True, False)
    loaded = TrainedRouter.load(str(tmp_path / "r"), embedder=HashingEmbedder(64))
    assert loaded.operating_point is not None and loaded.knob == loaded.operating_point.knob
    with pytest.raises(ConfigurationError, match="unknown embedder"):
        parser.parse_args(["route", "eval", str(f), "--embedder", "nope"]).func(
            parser.parse_args(["route", "eval", str(f), "--embedder", "nope"])
        )


# -- MT-Bench layout ---------------------------------------------------------------------------
def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    with gzip.open(path, "wt") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _judge_prompt(turn: int, q1: str, a1: str, q2: str = "", a2: str = "") -> str:
    if turn == 1:
        return f"[Question]\n{q1}\n\n[The Start of Assistant's Answer]\n{a1}\n[The End of Assistant's Answer]"
    return (
        "<|The Start of Assistant A's Conversation with User|>\n\n### User:\n"
        + q1
        + "\n\n### Assistant A:\n"
        + a1
        + "\n\n### User:\n"
        + q2
        + "\n\n### Assistant A:\n"
        + a2
        + "\n\n<|The End of Assistant A's Conversation with User|>"
    )


def test_load_mtbench_layout(tmp_path: Path) -> None:
    from llm_cost_hooks.routing import load_mtbench

    qs = [
        {
            "question_id": i,
            "category": "math" if i == 1 else "writing",
            "turns": [f"Question {i}?", f"Follow-up {i}?"],
        }
        for i in (1, 2, 3, 4)
    ]
    _write_jsonl(tmp_path / "mt_bench_question.jsonl.gz", qs)
    scores = {
        ("big", 1): (9, 7),
        ("small", 1): (5, 8),
        ("big", 2): (10, 10),
        ("small", 2): (6, -1),
        ("big", 3): (8, 8),
        ("small", 3): (8, 6),
        ("big", 4): (9, 9),
        ("small", 4): (9, 9),
    }
    judgements = []
    for (model, qid), (s1, s2) in scores.items():
        a1, a2 = f"{model} answer {qid}", f"{model} second answer {qid}"
        judgements.append(
            {
                "question_id": qid,
                "model": model,
                "turn": 1,
                "score": s1,
                "user_prompt": _judge_prompt(1, f"Question {qid}?", a1),
            }
        )
        judgements.append(
            {
                "question_id": qid,
                "model": model,
                "turn": 2,
                "score": s2,
                "user_prompt": _judge_prompt(2, f"Question {qid}?", a1, f"Follow-up {qid}?", a2),
            }
        )
    _write_jsonl(tmp_path / "mt_bench_judgements.jsonl.gz", judgements)
    _write_jsonl(tmp_path / "mt_bench_contaminated_prompts.jsonl.gz", [{"eval_prompt": "Question 4?"}])
    costs = {"big": 0.01, "small": 0.001}
    ds = load_mtbench(tmp_path, cost_per_call=costs)
    # Question 2 lacks a valid turn-2 score for "small" (-1: no rating); question 4 is contaminated.
    assert (
        ds.ids == ["1", "3"] and ds.extra["contaminated_dropped"] == 1 and ds.extra["incomplete_dropped"] == 1
    )
    assert ds.quality[:, ds.index("big")].tolist() == pytest.approx([0.8, 0.8])
    assert ds.quality[:, ds.index("small")].tolist() == pytest.approx([0.65, 0.7])
    assert ds.responses["small"][0] == "small answer 1" and ds.features == ["math", "writing"]
    assert ds.extra["turns"][0] == ["Question 1?", "Follow-up 1?"] and ds.cost[0, ds.index("big")] == 0.01
    wins = load_mtbench(tmp_path / "mt_bench_question.jsonl.gz", cost_per_call=costs, success_threshold=7)
    assert wins.quality[:, wins.index("small")].tolist() == [0.0, 1.0]
    assert load_outcomes(tmp_path, cost_per_call=costs).ids == ["1", "3"]  # auto-detected layout
    # Priced from tokens: the second call re-sends turn 1 and its answer, so it costs more.
    priced = load_mtbench(tmp_path, prices={"big": (1e-5, 3e-5), "small": (1e-7, 1e-7)})
    assert priced.cost[0, priced.index("big")] > 30 * priced.cost[0, priced.index("small")] > 0
    (tmp_path / "mt_bench_judgements.jsonl.gz").unlink()
    with pytest.raises(OutcomeDataError, match="judgements"):
        load_mtbench(tmp_path)


def test_load_mtbench_real_files() -> None:
    from _shared_data import need_shared

    from llm_cost_hooks.routing import load_mtbench

    path = need_shared("routing", "routellm_gsm8k_mtbench", "mt_bench_question.jsonl.gz").parent
    ds = load_mtbench(
        path, cost_per_call={"gpt-4-1106-preview": 0.03, "mistralai/Mixtral-8x7B-Instruct-v0.1": 0.001}
    )
    assert len(ds) + ds.extra["contaminated_dropped"] + ds.extra["incomplete_dropped"] == 80
    assert ds.extra["contaminated_dropped"] > 0 and set(ds.tiers) == {
        "gpt-4-1106-preview",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    }
    assert all(r for t in ds.tiers for r in ds.responses[t])  # every answer recovered from the judge prompts
    assert ds.strongest == "gpt-4-1106-preview" and ds.quality.min() >= 0.1 and ds.quality.max() <= 1.0


# -- learned answer check ------------------------------------------------------------------------
def _sums(n: int, seed: int) -> tuple[list[str], list[str], list[float]]:
    rng = np.random.default_rng(seed)
    reqs, resps, ok = [], [], []
    for i in range(n):
        a, b = int(rng.integers(10, 99)), int(rng.integers(10, 99))
        reqs.append(f"Tom has {a} apples and buys {b} more. How many apples now?")
        if i % 3 == 0:  # a wrong answer that copies a number of the question
            resps.append(f"He has {a} apples.\nThe answer is {b}.")
            ok.append(0.0)
        else:
            resps.append(f"{a} + {b} = {a + b}\nThe answer is {a + b}.")
            ok.append(1.0)
    return reqs, resps, ok


def test_answer_scorer_learns_and_checks(tmp_path: Path) -> None:
    from llm_cost_hooks.routing import AnswerScorer

    scorer = AnswerScorer.fit(*_sums(90, 0))
    reqs, resps, ok = _sums(30, 1)
    s = scorer.scores(reqs, resps)
    assert s[np.array(ok) == 1].min() > s[np.array(ok) == 0].max()
    loaded = AnswerScorer.load(scorer.save(tmp_path / "scorer.json"))
    assert np.allclose(loaded.scores(reqs, resps), s)
    check = scorer.check(0.5)

    def call(tier: str, attempt: int) -> tuple[str, Answer]:
        text = resps[0] if tier == "small" else "Fine."
        return tier, Answer(text, tier, request=reqs[0])

    out = run_cascade(RouteDecision("small", "r", escalation=("large",)), TIERS, call, [check])
    assert out.tier == "large" and out.attempts[0].reason.startswith("scorer")  # resps[0] copies a number
    with pytest.raises(ConfigurationError, match="same length"):
        AnswerScorer.fit(["a"] * 5, ["b"] * 4, [1.0] * 5)
    with pytest.raises(ConfigurationError, match="threshold"):
        scorer.check()


def test_calibration_confidence_aims_above_the_share() -> None:
    from llm_cost_hooks.routing._strategies import calibrate_points, choose_tiers

    rng = np.random.default_rng(0)
    n = 400
    q_true = np.stack([rng.random(n) < 0.6, rng.random(n) < 0.9], axis=1).astype(float)
    cost = np.tile([1e-4, 1e-3], (n, 1))
    q_pred = q_true * 0.6 + 0.2 + rng.normal(0, 0.2, (n, 2))
    goal = 0.95 * q_true[:, 1].mean()
    exact = calibrate_points(q_true, cost, q_pred, cost, TIERS, QualityTarget(share=0.95))
    assert exact.quality == pytest.approx(goal) and exact.knob_b is not None  # on the hull, mixed
    assert exact.quality_low == pytest.approx(goal)

    def low_bound(point, z: float, extra: float = 0.0) -> float:
        # The per-request gap of the point's expected decisions, and its lower bound: less
        # the optimism of the choice; the horizon's requests also carry the mix's split.
        a = choose_tiers(q_pred, cost, point.knob)
        b = choose_tiers(q_pred, cost, point.knob_b if point.knob_b is not None else point.knob)
        rows = np.arange(n)
        qa, qb = q_true[rows, a], q_true[rows, b]
        gap = (1 - point.mix) * qa + point.mix * qb - 0.95 * q_true[:, 1]
        split = point.mix * (1 - point.mix) * float(np.mean((qa - qb) ** 2))
        var = gap.var(ddof=1) / n + extra * (gap.var(ddof=1) + split)
        return float(gap.mean() - point.optimism - z * np.sqrt(var))

    sure = calibrate_points(q_true, cost, q_pred, cost, TIERS, QualityTarget(share=0.95, confidence=0.8))
    assert sure.met and sure.cost > exact.cost and sure.target.endswith("@0.8")
    assert exact.optimism == 0.0 and sure.optimism > 0.0  # paid above confidence 0.5 only
    # The cheapest point whose one-sided 80% lower bound of the gap reaches 0: on the bound.
    assert low_bound(sure, 0.8416) == pytest.approx(0.0, abs=1e-6)
    assert sure.quality_low == pytest.approx(goal, abs=1e-6) and sure.quality > goal
    # A promise judged on 100 requests also carries their sampling noise: it aims higher.
    day = calibrate_points(
        q_true, cost, q_pred, cost, TIERS, QualityTarget(share=0.95, confidence=0.8, horizon=100)
    )
    assert day.target.endswith("@0.8/100") and day.cost > sure.cost and day.quality > sure.quality
    assert low_bound(day, 0.8416, 1 / 100) == pytest.approx(0.0, abs=1e-6)


# -- arithmetic check, router + cascade --------------------------------------------------------
def test_check_arithmetic_catches_wrong_lines() -> None:
    from llm_cost_hooks.routing._checks import arithmetic_consistent, check_arithmetic

    text = (
        "He runs 3 x 60 = <<3*60=180>>180 meters a session, so 180 x 3 = 530 meters a week.\n"
        "The discount is 8 x $5 x 60% = $24 and 10 / 3 = 3.33 each; 2^10 = 1024."
    )
    checked, wrong = check_arithmetic(text)
    assert checked == 6 and wrong == ["180 x 3 = 530 (is 540)"]  # the annotated line counts twice
    assert check_arithmetic("<<15+25=45>>45 cups")[1] == ["15+25 = 45 (is 40)"]  # calculator annotations
    assert check_arithmetic("12 x 34 = 409 pens")[1]  # a whole-number result must be exact ...
    assert not check_arithmetic("100 / 3 = 33.3, 2 / 3 = 0.67 and 7 / 3 = 2 each")[
        1
    ]  # ... others may be rounded
    # Not arithmetic: words, variables, a huge power or code are never evaluated or counted.
    assert check_arithmetic("x = 5, 3x + 2 = 11, 9^999999 = 1, __import__('os') = 2") == (0, [])
    assert arithmetic_consistent(Answer("2 + 2 = 5\nSo 5.", "small")) == "arithmetic: 2 + 2 = 5 (is 4)"
    assert arithmetic_consistent(Answer("2 + 2 = 4\nSo 4.", "small")) is True
    assert arithmetic_consistent(Answer("No numbers here.", "small")) is True

    def call(tier: str, attempt: int) -> tuple[str, Answer]:
        return tier, Answer("12 x 12 = 124" if tier == "small" else "12 x 12 = 144", tier)

    out = run_cascade(
        RouteDecision("small", "r", escalation=("large",)), TIERS, call, [arithmetic_consistent]
    )
    assert out.tier == "large" and out.attempts[0].reason == "arithmetic: 12 x 12 = 124 (is 144)"


def _slips(n: int, seed: int) -> tuple[list[str], list[str], list[float]]:
    """Worked answers of the same shape; the wrong ones slip in one line of arithmetic."""
    rng = np.random.default_rng(seed)
    reqs, resps, ok = [], [], []
    for i in range(n):
        a, b, c = (int(v) for v in rng.integers(10, 99, 3))
        slip = int(i % 3 == 0)
        reqs.append(f"A box holds {a} pens, {b} boxes arrive and {c} pens break. How many pens are left?")
        total = a * b + slip
        resps.append(
            f"{a} x {b} = {total} pens arrive.\n{total} - {c} = {total - c} pens are left.\n#### {total - c}"
        )
        ok.append(float(not slip))
    return reqs, resps, ok


def test_answer_scorer_sees_arithmetic_slips() -> None:
    from llm_cost_hooks.routing import AnswerScorer
    from llm_cost_hooks.routing._scorer import FEATURES, answer_features

    f = dict(zip(FEATURES, answer_features("12 x 3 = 35\n#### 35", "12 boxes of 3. How many?")))
    assert (
        f["any_wrong_equation"] == 1.0 and f["has_final_marker"] == 1.0 and f["request_numbers_used"] == 1.0
    )
    cut = dict(zip(FEATURES, answer_features("So 15 + 25 = <<15+2", "15 and 25")))
    assert cut["looks_cut_off"] == 1.0
    scorer = AnswerScorer.fit(*_slips(120, 0))
    reqs, resps, ok = _slips(60, 1)
    s = scorer.scores(reqs, resps)
    assert s[np.array(ok) == 1].min() > s[np.array(ok) == 0].max()  # the slip is the only difference
    check = scorer.check(0.5, tiers=["small"])
    assert check(Answer(resps[0], "small", request=reqs[0])) != True  # noqa: E712 - a slip fails ...
    assert check(Answer(resps[0], "large", request=reqs[0])) is True  # ... but only on the tier it judges
    assert check(Answer(resps[1], "small", request=reqs[1])) is True


def _router_cascade_data(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """A hidden difficulty drives both tiers' correctness; the router sees it before any
    call (noisy), the answer check sees the cheap answer's correctness (noisy)."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n)
    qw = (rng.random(n) > 0.15 + 0.8 * hard).astype(float)
    qs = (rng.random(n) > 0.05 + 0.2 * hard).astype(float)
    cw = np.full(n, 1e-4) * rng.uniform(0.5, 1.5, n)
    cs = np.full(n, 3e-3) * rng.uniform(0.5, 1.5, n)
    router = 1 - hard + rng.normal(0, 0.15, n)
    answer = qw + rng.normal(0, 0.6, n)
    return qw, qs, cw, cs, router, answer


def test_calibrate_router_cascade_meets_its_target() -> None:
    from llm_cost_hooks.routing._strategies import _cuts, calibrate_router_cascade, replay_router_cascade

    qw, qs, cw, cs, router, answer = _router_cascade_data(4000, 0)
    cal, test = slice(0, 2000), slice(2000, 4000)
    target = QualityTarget(share=0.95, confidence=0.8)
    point = calibrate_router_cascade(qw[cal], qs[cal], cw[cal], cs[cal], router[cal], answer[cal], target)
    goal = 0.95 * qs[cal].mean() + 0.8416 * qs[cal].std() / np.sqrt(2000)
    assert point.met and point.quality >= goal and point.target == "quality>=0.95xstrong@0.8"
    assert 0 < point.direct_share < point.strong_share < 1  # both knobs are used

    def replay(sl: slice, p) -> tuple[float, float, float]:
        direct = router[sl] < p.direct_below
        esc = ~direct & (answer[sl] < p.accept_at)
        q = np.where(direct | esc, qs[sl], qw[sl])
        c = np.where(direct, cs[sl], np.where(esc, cw[sl] + cs[sl], cw[sl]))
        return float(q.mean()), float(c.mean()), float((direct | esc).mean())

    q_cal, c_cal, s_cal = replay(cal, point)
    assert (q_cal, c_cal, s_cal) == pytest.approx((point.quality, point.cost, point.strong_share))
    q_new, c_new, _ = replay(test, point)  # fresh rows of the same kind
    assert q_new >= 0.95 * qs[test].mean() - 0.01 and c_new < 0.7 * cs[test].mean()
    # Cheaper than the best cascade without the router at the same target (the router
    # saves the cheap call on hopeless requests and escalates fewer).
    alone = calibrate_router_cascade(
        qw[cal], qs[cal], cw[cal], cs[cal], np.ones(2000), answer[cal], target, router_grid=1
    )
    assert alone.direct_share == 0 and point.cost < alone.cost
    # The vectorised replay equals a row-by-row replay at every grid point.
    grid = replay_router_cascade(
        qw[cal],
        qs[cal],
        cw[cal],
        cs[cal],
        router[cal],
        answer[cal],
        _cuts(router[cal], 5),
        _cuts(answer[cal], 7),
    )
    for a, t, qq, cc, ss, dd in grid[::3]:
        p = type(point)(
            direct_below=a,
            accept_at=t,
            quality=0,
            cost=0,
            strong_share=0,
            direct_share=0,
            target="",
            met=True,
        )
        assert (qq, cc, ss) == pytest.approx(replay(cal, p))
        assert dd == pytest.approx(float((router[cal] < a).mean()))
    budget = calibrate_router_cascade(
        qw[cal], qs[cal], cw[cal], cs[cal], router[cal], answer[cal], BudgetTarget(usd_per_request=1e-3)
    )
    assert budget.met and budget.cost <= 1e-3 and budget.quality > qw[cal].mean()
    with pytest.raises(ConfigurationError, match="same non-zero length"):
        calibrate_router_cascade(qw, qs, cw, cs, router, answer[:10], target)
    with pytest.raises(ConfigurationError, match="NaN"):
        calibrate_router_cascade(qw, qs, cw, cs, router * np.nan, answer, target)


def test_router_cascade_strategy() -> None:
    from llm_cost_hooks.routing import AnswerScorer
    from llm_cost_hooks.routing._strategies import CascadePoint, RouterCascade

    ds = OutcomeDataset(
        prompts=["2+2?", "3+5?", "prove the Riemann hypothesis", "prove Fermat's last theorem"] * 3,
        tiers=["small", "large"],
        quality=np.array([[1, 1], [1, 1], [0, 1], [0, 1.0]] * 3),
        cost=np.tile([1e-4, 1e-3], (12, 1)),
    )
    emb = HashingEmbedder(64)
    router = TrainedRouter(RouterModel.fit(ds, emb), embedder=emb, knob=0.0)
    scorer = AnswerScorer.fit(*_slips(60, 2))
    point = CascadePoint(
        direct_below=0.5,
        accept_at=0.5,
        quality=1,
        cost=0,
        strong_share=0,
        direct_share=0,
        target="t",
        met=True,
    )
    rc = RouterCascade.from_point(router, scorer, point, weak="small", strong="large")
    rc.check_tiers(TIERS)
    hard = rc.route(RouteRequest("prove the Riemann hypothesis"), TIERS)
    assert hard.tier == "large" and not hard.escalation and hard.reason.startswith("router-cascade:direct")
    easy = rc.route(RouteRequest("2+2?"), TIERS)
    assert easy.tier == "small" and easy.escalation == ("large",)
    reqs, resps, ok = _slips(3, 3)  # resps[0] slips

    def call(tier: str, attempt: int) -> tuple[str, Answer]:
        return tier, Answer(resps[0] if tier == "small" else "fine", tier, request=reqs[0])

    out = run_cascade(easy, TIERS, call, rc.checks)
    assert out.tier == "large" and out.attempts[0].reason.startswith("scorer") and out.checks_passed
    with pytest.raises(ConfigurationError, match="cheaper"):
        RouterCascade(router, weak="large", strong="small", direct_below=0.5).check_tiers(TIERS)
    with pytest.raises(ConfigurationError, match="no score"):
        RouterCascade(FixedTierStub(), weak="small", strong="large", direct_below=0.5).route(
            RouteRequest("x"), TIERS
        )
    assert RouterCascade(router, weak="small", strong="large", direct_below=0.5).checks == []


class FixedTierStub:
    """A strategy whose decisions carry no scores."""

    def route(self, request: RouteRequest, tiers: list[str]) -> RouteDecision:
        return RouteDecision(tiers[0], "fixed")

    def check_tiers(self, tiers: list[str]) -> None:
        pass


# -- ridge_guarded: no winner's curse at a high willingness to pay -------------------------------
def _guard_data(n: int, seed: int, special: bool) -> tuple[OutcomeDataset, np.ndarray]:
    """Five cheap tiers whose per-prompt outcomes are pure noise and a dear reference better on
    average; with ``special`` the cheap tier "s0" is right on one region of the embedding,
    where it beats the reference."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 24))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    region = emb[:, 0] > 0
    q = np.column_stack([rng.random(n) < 0.6 for _ in range(5)] + [rng.random(n) < 0.8]).astype(float)
    if special:
        q[:, 0] = np.where(region, 1.0, rng.random(n) < 0.2)
        q[:, 5] = np.where(region, rng.random(n) < 0.6, rng.random(n) < 0.9)
    c = np.tile([1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-2], (n, 1))
    tiers = [f"s{i}" for i in range(5)] + ["large"]
    return OutcomeDataset(prompts=[f"p{i}" for i in range(n)], tiers=tiers, quality=q, cost=c), emb


def test_ridge_guarded_keeps_the_reference_against_noise() -> None:
    from llm_cost_hooks.routing import choose_tiers

    class _E:
        name = "test"

    data, emb = _guard_data(600, 1, special=False)
    tr, te = np.arange(400), np.arange(400, 600)
    grid = (0.3,)  # weak L2: the plain ridge's per-prompt predictions are noisy
    plain = RouterModel.fit(data.subset(tr), _E(), kind="ridge", embeddings=emb[tr], l2_grid=grid)
    guarded = RouterModel.fit(data.subset(tr), _E(), kind="ridge_guarded", embeddings=emb[tr], l2_grid=grid)
    assert guarded.params["reference"] == 5 and guarded.info["proven_advantage"] == {}
    qp, cp = plain.predict(emb[te])
    qg, cg = guarded.predict(emb[te])
    # Plain ridge: some noise tier looks better than the reference on some held-out prompts.
    assert np.any(choose_tiers(qp, cp, 0.0) != 5)
    # Guarded: at any price the reference answers; where the noise said otherwise, the cheap
    # tier stays just below it, so the least price weight picks it.
    assert np.all(choose_tiers(qg, cg, 0.0) == 5)
    noisy = choose_tiers(qp, cp, 0.0) != 5
    assert np.all(choose_tiers(qg, cg, 1e-3)[noisy] != 5)
    assert np.allclose(qg[:, 5], qp[:, 5]) and np.all(qg <= qp + 1e-7) and np.allclose(cg, cp)
    with pytest.raises(ConfigurationError, match="guard_z"):
        RouterModel.fit(data.subset(tr), _E(), kind="ridge_guarded", embeddings=emb[tr], guard_z=-1.0)


def test_ridge_guarded_keeps_a_proven_advantage(tmp_path: Path) -> None:
    from llm_cost_hooks.routing import choose_tiers

    class _E:
        name = "test"

    data, emb = _guard_data(900, 2, special=True)
    tr, te = np.arange(600), np.arange(600, 900)
    model = RouterModel.fit(data.subset(tr), _E(), kind="ridge_guarded", embeddings=emb[tr])
    assert model.params["reference"] == 5 and model.info["proven_advantage"].get("s0", 0.0) > 0.1
    q, c = model.predict(emb[te])
    pick = choose_tiers(q, c, 0.0)
    region = emb[te, 0] > 0
    assert np.mean(pick[region] == 0) > 0.6 and np.mean(pick[~region] == 5) > 0.9
    # Held-out accuracy at knob 0 beats always-the-reference.
    assert data.quality[te, pick].mean() > data.quality[te, 5].mean() + 0.1
    # Saved as plain arrays + JSON and loaded back to the same predictions.
    model.save(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["kind"] == "ridge_guarded" and meta["params"]["reference"] == 5
    with np.load(tmp_path / "r" / "router.npz", allow_pickle=False) as z:
        assert z["cap"].shape == (6,)
    back = RouterModel.load(tmp_path / "r")
    q2, c2 = back.predict(emb[te])
    assert np.allclose(q, q2) and np.allclose(c, c2)


def test_trained_router_defaults_to_int8_minilm_and_loads_with_the_embedder_it_was_trained_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    from llm_cost_hooks.embeddings import DEFAULT_MODEL_NAME, default_embedder

    ds = synthetic(40)
    fp32, int8 = default_embedder(), default_embedder(int8_matmul=True)
    for emb in (fp32, int8):
        model = RouterModel.fit(ds, emb, kind="ridge")
        assert model.embedder_name == emb.name
        # No embedder given: the one named in the model (not merely "the default").
        assert TrainedRouter(model).embedder is emb
        model.save(tmp_path / emb.name)
        loaded = TrainedRouter.load(str(tmp_path / emb.name))
        assert loaded.embedder is emb
        assert loaded.route(RouteRequest(ds.prompts[0]), ["small", "large"]).tier in ("small", "large")
    # The other embedder is refused with a message that says what to do.
    with pytest.raises(RouterModelError, match="same embedder or retrain"):
        TrainedRouter.load(str(tmp_path / DEFAULT_MODEL_NAME), embedder=int8)
    # The CLI's default is the router's default; minilm-fp32 gives the cache's vectors.
    from llm_cost_hooks.routing._cli import _embedder

    assert _embedder("default") is int8 and _embedder("minilm-fp32") is fp32


def test_knn_router_is_gone_with_a_pointer_to_ridge(tmp_path: Path) -> None:
    emb = HashingEmbedder(32)
    with pytest.raises(ConfigurationError, match="kind='ridge'"):
        RouterModel.fit(synthetic(40), emb, kind="knn")  # type: ignore[arg-type]
    RouterModel.fit(synthetic(40), emb).save(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    meta["kind"] = "knn"
    (tmp_path / "r" / "router.json").write_text(json.dumps(meta))
    with pytest.raises(RouterModelError, match="'ridge' replaces them"):
        RouterModel.load(tmp_path / "r")
