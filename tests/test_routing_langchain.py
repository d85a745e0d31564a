"""RoutedChatModel and ReplayChatModel in real LangChain chains, with the cost handler."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._replay import ReplayChatModel, ReplayMissError
from llm_cost_hooks.langchain._routed import RoutedChatModel
from llm_cost_hooks.routing import (
    Answer,
    Cascade,
    HashingEmbedder,
    OutcomeDataset,
    QualityFloor,
    RouterModel,
    Rule,
    RuleRouter,
    TrainedRouter,
    load_routerbench,
)

REFUSAL = "I'm sorry, but I can't help with that."
PROMPT = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])


def fake(name: str, *responses: Any, **kw: Any) -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name=name, responses=list(responses) or ["OK."], **kw)


def handler() -> CostCallbackHandler:
    return CostCallbackHandler(ledger="memory://")


def records(h: CostCallbackHandler) -> list[Any]:
    return sorted(h.records(), key=lambda r: r.timestamp)


def test_cascade_in_chain_records_each_attempt_once() -> None:
    small, large = fake("gpt-4o-mini", REFUSAL), fake("gpt-4o", "Paris.")
    llm = RoutedChatModel(tiers={"large": large, "small": small})  # order comes from prices
    h = handler()
    msg = (PROMPT | llm).invoke(
        {"q": "Capital of France?"}, config={"callbacks": [h], "metadata": {"feature": "geo"}}
    )
    route = msg.response_metadata["llm_cost_hooks_route"]
    assert msg.content == "Paris." and route["tier"] == "large" and route["delegated"] is True
    assert route["attempts"] == [
        {"tier": "small", "ok": False, "reason": "refusal"},
        {"tier": "large", "ok": True},
    ]
    assert "escalated[small:refusal,large:ok]" in route["reason"]
    recs = records(h)
    # One record per tier call (real model names), none for the router's own run.
    assert [(r.model, r.route, r.attempt, r.success) for r in recs] == [
        ("gpt-4o-mini", "small", 1, True),
        ("gpt-4o", "large", 2, True),
    ]
    assert {r.task_id for r in recs} == {recs[0].task_id} and {r.feature for r in recs} == {"geo"}
    # The failed attempt's dollars stay in the task's cost.
    h.flush()
    (task,) = h.ledger.reports().tasks()
    assert task["tasks"] == 1 and task["successful_tasks"] == 1 and task["calls"] == 2
    assert task["cost_per_successful_task"] == pytest.approx(sum(r.cost_usd for r in recs), rel=1e-6)
    assert task["retry_cost_usd"] == pytest.approx(recs[1].cost_usd, rel=1e-6) and recs[0].cost_usd > 0


def test_tier_error_falls_back_and_all_errors_raise() -> None:
    small = fake("gpt-4o-mini", errors=[TimeoutError("slow")])
    large = fake("gpt-4o", "fine")
    llm = RoutedChatModel(tiers={"small": small, "large": large}, strategy=RuleRouter([], default="small"))
    h = handler()
    msg = llm.invoke("hi", config={"callbacks": [h]})
    assert msg.content == "fine"
    assert msg.response_metadata["llm_cost_hooks_route"]["attempts"][0] == {
        "tier": "small",
        "ok": False,
        "reason": "error:TimeoutError",
    }
    recs = records(h)
    assert [(r.model, r.success, r.error_type) for r in recs] == [
        ("gpt-4o-mini", False, "TimeoutError"),
        ("gpt-4o", True, None),
    ]

    broken = RoutedChatModel(
        tiers={
            "small": fake("gpt-4o-mini", errors=[ValueError("a")]),
            "large": fake("gpt-4o", errors=[ValueError("b")]),
        }
    )
    h2 = handler()
    with pytest.raises(ValueError):
        broken.invoke("hi", config={"callbacks": [h2]})
    # Both failed tier calls recorded; the router's failure adds no record of its own.
    assert sorted((r.model, r.success) for r in h2.records()) == [("gpt-4o", False), ("gpt-4o-mini", False)]


def test_stream_batch_async_paths_record_tier_calls() -> None:
    small, large = fake("gpt-4o-mini", "short answer"), fake("gpt-4o", "long careful answer")
    llm = RoutedChatModel(
        tiers={"small": small, "large": large},
        strategy=RuleRouter([Rule(tier="large", keywords=["prove"])], default="small"),
    )
    chain = PROMPT | llm | StrOutputParser()
    h = handler()
    assert (
        "".join(chain.stream({"q": "prove it"}, config={"callbacks": [h], "metadata": {"feature": "math"}}))
        == "long careful answer"
    )
    assert chain.batch([{"q": "a"}, {"q": "prove b"}], config={"callbacks": [h]}) == [
        "short answer",
        "long careful answer",
    ]
    recs = records(h)
    assert [(r.model, r.route) for r in recs][0] == ("gpt-4o", "large") and recs[0].feature == "math"
    assert sorted(r.route for r in recs[1:]) == ["large", "small"] and len(recs) == 3
    assert all(r.input_tokens > 0 and not r.tokens_estimated for r in recs)


async def test_async_paths() -> None:
    small, large = fake("gpt-4o-mini", REFUSAL), fake("gpt-4o", "yes indeed")
    llm = RoutedChatModel(tiers={"small": small, "large": large})
    h = handler()
    msg = await llm.ainvoke("q", config={"callbacks": [h]})
    assert msg.response_metadata["llm_cost_hooks_route"]["tier"] == "large"
    chunks = [
        c async for c in (PROMPT | llm | StrOutputParser()).astream({"q": "x"}, config={"callbacks": [h]})
    ]
    assert "".join(chunks) == "yes indeed"
    assert [r.route for r in records(h)] == ["small", "large", "small", "large"]

    direct = RoutedChatModel(
        tiers={"small": fake("gpt-4o-mini", "a b c"), "large": fake("gpt-4o")},
        strategy=RuleRouter([], default="small"),
    )
    h2 = handler()
    pieces = [c async for c in direct.astream("x", config={"callbacks": [h2]})]
    assert len(pieces) > 2 and pieces[0].response_metadata["llm_cost_hooks_route"]["tier"] == "small"
    assert [(r.model, r.route) for r in h2.records()] == [("gpt-4o-mini", "small")]


def test_bind_tools_delegates_to_chosen_tier() -> None:
    call = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "t1"}])
    small, large = fake("gpt-4o-mini", call), fake("gpt-4o", "no tools")

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    llm = RoutedChatModel(tiers={"small": small, "large": large}, strategy=RuleRouter([], default="small"))
    h = handler()
    msg = llm.bind_tools([add], tool_choice="any").invoke("1+2?", config={"callbacks": [h]})
    assert msg.tool_calls[0]["name"] == "add" and msg.tool_calls[0]["args"] == {"a": 1, "b": 2}
    assert [r.route for r in h.records()] == ["small"]
    streamed = list(llm.bind_tools([add]).stream("1+2?"))
    merged = streamed[0]
    for c in streamed[1:]:
        merged = merged + c
    assert merged.tool_calls[0]["name"] == "add"


class City(BaseModel):
    city: str


def test_structured_output_escalates_on_parse_failure() -> None:
    bad = AIMessage("", tool_calls=[{"name": "City", "args": {"town": "x"}, "id": "1"}])
    good = AIMessage("", tool_calls=[{"name": "City", "args": {"city": "Paris"}, "id": "2"}])
    llm = RoutedChatModel(tiers={"small": fake("gpt-4o-mini", bad), "large": fake("gpt-4o", good)})
    h = handler()
    assert llm.with_structured_output(City).invoke("where?", config={"callbacks": [h]}) == City(city="Paris")
    assert [(r.route, r.attempt) for r in records(h)] == [("small", 1), ("large", 2)]
    raw = llm.with_structured_output(City, include_raw=True).invoke("where?")
    assert raw["parsed"] == City(city="Paris") and raw["parsing_error"] is None
    assert (
        raw["raw"]
        .response_metadata["llm_cost_hooks_route"]["attempts"][0]["reason"]
        .startswith("parse error")
    )
    # Without a tier to escalate to, the parse error reaches the caller as LangChain's would.
    only_bad = RoutedChatModel(tiers={"small": fake("gpt-4o-mini", bad)})
    with pytest.raises(Exception, match="city"):
        only_bad.with_structured_output(City).invoke("where?")


async def test_user_checks_sync_async_and_raising(caplog: pytest.LogCaptureFixture) -> None:
    def must_mention_paris(answer: Answer) -> bool:
        return "Paris" in answer.text

    async def async_len(answer: Answer) -> bool | str:
        return True if len(answer.text) > 5 else "too short"

    def broken(answer: Answer) -> bool:
        raise RuntimeError("bug in check")

    tiers = {"small": fake("gpt-4o-mini", "Lyon"), "large": fake("gpt-4o", "Paris, France")}
    assert RoutedChatModel(tiers=tiers, checks=[must_mention_paris]).invoke("x").content == "Paris, France"
    msg = await RoutedChatModel(
        tiers={"small": fake("gpt-4o-mini", "Pa"), "large": fake("gpt-4o", "Paris!!")}, checks=[async_len]
    ).ainvoke("x")
    assert msg.response_metadata["llm_cost_hooks_route"]["attempts"][0]["reason"] == "too short"
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        out = RoutedChatModel(tiers=tiers, checks=[broken]).invoke("x")
    route = out.response_metadata["llm_cost_hooks_route"]
    assert route["attempts"][0]["reason"] == "broken raised RuntimeError" and not route["checks_passed"]
    assert "check broken raised RuntimeError" in caplog.text and "bug in check" not in caplog.text


def test_quality_floor_by_feature() -> None:
    llm = RoutedChatModel(
        tiers={"small": fake("gpt-4o-mini", "s"), "large": fake("gpt-4o", "L")},
        strategy=RuleRouter([], default="small"),
        quality_floor={"legal": "large"},
    )
    assert llm.invoke("x", config={"metadata": {"feature": "legal"}}).content == "L"
    assert llm.invoke("x", config={"metadata": {"feature": "chat"}}).content == "s"
    assert llm.invoke("x").response_metadata["llm_cost_hooks_route"]["reason"] == "rule:default"


def test_bad_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="at least one tier"):
        RoutedChatModel(tiers={})
    with pytest.raises(ConfigurationError, match=r"tier 'mine' \(model 'my-private-llm'\) has no price"):
        RoutedChatModel(tiers={"mine": fake("my-private-llm"), "large": fake("gpt-4o")})
    ok = RoutedChatModel(
        tiers={"mine": fake("my-private-llm"), "large": fake("gpt-4o")},
        prices={"mine": {"input_per_million": 0.1, "output_per_million": 0.2}},
    )
    assert ok.tier_order == ["mine", "large"]
    assert ok.price_overrides()["my-private-llm"]["input_cost_per_token"] == pytest.approx(1e-7)
    with pytest.raises(ConfigurationError, match="'huge'"):
        RoutedChatModel(tiers={"small": fake("gpt-4o-mini")}, strategy=RuleRouter([], default="huge"))
    with pytest.raises(ConfigurationError, match="quality floor"):
        RoutedChatModel(tiers={"small": fake("gpt-4o-mini")}, quality_floor=QualityFloor({"x": "nope"}))
    with pytest.raises(ConfigurationError, match="strategy must be"):
        RoutedChatModel(tiers={"small": fake("gpt-4o-mini")}, strategy="cheapest")


# -- replay ------------------------------------------------------------------------------------
def small_outcomes() -> OutcomeDataset:
    return OutcomeDataset(
        prompts=["What is 2+2?", "Prove the theorem."],
        tiers=["m-small", "m-large"],
        quality=np.array([[1.0, 1.0], [0.0, 1.0]]),
        cost=np.array([[0.0001, 0.002], [0.0003, 0.004]]),
        responses={"m-small": ["4", "I cannot."], "m-large": ["Four.", "Proof: trivial by induction."]},
        ids=["r1", "r2"],
        source="mem",
    )


def test_replay_model_cost_equals_recorded_cost() -> None:
    data = small_outcomes()
    model = ReplayChatModel(data=data, tier="m-large")
    h = handler()
    msg = (PROMPT | model).invoke({"q": "Prove the theorem."}, config={"callbacks": [h]})
    assert msg.content == "Proof: trivial by induction."
    assert msg.response_metadata["llm_cost_hooks_replay"] == {"quality": 1.0, "cost_usd": 0.004, "row": "r2"}
    (rec,) = h.records()
    assert rec.cost_usd == pytest.approx(0.004) and rec.model == "m-large" and rec.tokens_estimated
    assert not rec.price_estimated and rec.output_tokens > 0
    h2 = handler()
    assert "".join(c.content for c in model.stream("What is 2+2?", config={"callbacks": [h2]})) == "Four."
    assert h2.records()[0].cost_usd == pytest.approx(0.002)
    with pytest.raises(ReplayMissError, match="not in the outcomes"):
        model.invoke("unknown prompt")
    with pytest.raises(ConfigurationError, match="m-nope"):
        ReplayChatModel(data=data, tier="m-nope")


def test_routed_over_replay_tiers_cascade_costs() -> None:
    data = small_outcomes()
    llm = RoutedChatModel(tiers=ReplayChatModel.tiers_from(data), strategy=Cascade())
    assert llm.tier_order == ["m-small", "m-large"]
    h = handler()
    assert llm.invoke("Prove the theorem.", config={"callbacks": [h]}).content.startswith("Proof")
    assert sum(r.cost_usd for r in h.records()) == pytest.approx(0.0003 + 0.004)  # failed attempt paid


def _data_dir() -> Path:
    from _shared_data import SHARED_DATA

    return SHARED_DATA


def test_trained_router_on_real_routerbench_outcomes() -> None:
    path = _data_dir() / "routing" / "routerbench_train" / "winograde_train.csv.gz"
    if not path.is_file():
        pytest.skip(
            f"needs the full development data set {path} (not shipped; ../shared/data or "
            "LLM_COST_HOOKS_SHARED_DATA)"
        )
    tiers = ["mistralai/mixtral-8x7b-chat", "gpt-4-1106-preview"]
    data = load_routerbench(path, tiers=tiers)
    train, test = data.split(0.2, seed=0)
    emb = HashingEmbedder(256)
    router = TrainedRouter(RouterModel.fit(train, emb), embedder=emb, knob=0.0)
    llm = RoutedChatModel(tiers=ReplayChatModel.tiers_from(data), strategy=router)
    h = handler()
    msgs = llm.batch(test.prompts[:20], config={"callbacks": [h]})
    recorded = 0.0
    for prompt, msg in zip(test.prompts[:20], msgs):
        tier = msg.response_metadata["llm_cost_hooks_route"]["tier"]
        recorded += float(data.cost[data.prompts.index(prompt), data.index(tier)])
    recs = h.records()
    assert len(recs) == 20 and {r.route for r in recs} <= set(tiers)
    assert sum(r.cost_usd for r in recs) == pytest.approx(recorded)


# -- call parameters, prompt caching, context budgets and spend guardrails -----------------
class Recording(FakeChatModelWithUsage):
    """A fake tier that records what each call received."""

    temperature: float | None = None
    seen: list[Any] = Field(default_factory=list)

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        self.seen.append(
            {"messages": list(messages), "stop": stop, "temperature_field": self.temperature, **kwargs}
        )
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        self.seen.append(
            {"messages": list(messages), "stop": stop, "temperature_field": self.temperature, **kwargs}
        )
        return super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def recording(name: str, *responses: Any) -> Recording:
    return Recording(model_name=name, responses=list(responses) or ["OK."])


def test_call_params_forwarded_to_the_chosen_tier() -> None:
    small, large = recording("gpt-4o-mini"), recording("gpt-4o")
    llm = RoutedChatModel(
        tiers={"small": small, "large": large},
        strategy=RuleRouter([], default="small"),
        temperature=0.1,
        max_tokens=50,
        stop=["END"],
    )
    llm.invoke("hi", stop=["\n"], max_tokens=20, top_p=0.5)
    (call,) = small.seen
    assert (call["stop"], call["temperature"], call["max_tokens"], call["top_p"]) == (["\n"], 0.1, 20, 0.5)
    assert large.seen == []
    # The model's own defaults when the call gives none; streaming and async forward too.
    "".join(c.content for c in llm.stream("hi"))  # type: ignore[misc]
    assert (small.seen[-1]["stop"], small.seen[-1]["max_tokens"], small.seen[-1]["temperature"]) == (
        ["END"],
        50,
        0.1,
    )


async def test_call_params_forwarded_async_and_through_a_cascade() -> None:
    small, large = recording("gpt-4o-mini", REFUSAL), recording("gpt-4o", "Sure.")
    llm = RoutedChatModel(tiers={"small": small, "large": large})  # cascade: small refuses, large answers
    msg = await llm.ainvoke("hi", temperature=0.7, seed=3)
    assert msg.content == "Sure."
    assert [(c["temperature"], c["seed"]) for c in small.seen + large.seen] == [(0.7, 3), (0.7, 3)]


def test_structured_output_gets_params_as_tier_fields() -> None:
    call = AIMessage("", tool_calls=[{"name": "City", "args": {"city": "Paris"}, "id": "1"}])
    small = recording("gpt-4o-mini", call)
    llm = RoutedChatModel(tiers={"small": small}, temperature=0.2)
    assert llm.with_structured_output(City).invoke("where?") == City(city="Paris")
    assert (
        small.seen[-1]["temperature_field"] == 0.2 and small.temperature is None
    )  # a copy, not the user's tier


def test_prompt_cache_breakpoints_for_the_chosen_tier_only() -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    claude, gpt = recording("claude-sonnet-4-5", "ok"), recording("gpt-4o", "ok")
    tiers = {"claude": claude, "gpt": gpt}
    policy = SystemMessage("Follow the support policy carefully. " * 400)
    for default, model in (("claude", claude), ("gpt", gpt)):
        llm = RoutedChatModel(tiers=tiers, strategy=RuleRouter([], default=default), prompt_cache=True)
        msg = llm.invoke([policy, HumanMessage("Where is my order?")])
        sent = model.seen[-1]["messages"]
        route = msg.response_metadata["llm_cost_hooks_route"]
        if default == "claude":  # explicit breakpoints: the long stable system prompt is marked
            assert sent[0].content[-1]["cache_control"] == {"type": "ephemeral"}
            assert sent[-1].content == "Where is my order?" and route["prompt_cache"]["breakpoints"] >= 1
        else:  # OpenAI caches implicitly: nothing added
            assert sent[0].content == policy.content and route["prompt_cache"]["breakpoints"] == 0
    # The caller's messages are never modified; options are checked.
    assert isinstance(policy.content, str)
    with pytest.raises(ConfigurationError, match="prompt_cache options"):
        RoutedChatModel(tiers=tiers, prompt_cache={"nope": 1})


def test_context_budget_trims_per_route_and_clamps_max_tokens() -> None:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

    small, large = recording("gpt-4o-mini"), recording("gpt-4o")
    budget = ContextBudget(
        {"small": SegmentBudgets(history=30, output=64), "large": SegmentBudgets(output=500)}
    )
    history = [
        ("human", "an old question about invoices " * 6),
        ("ai", "an old answer " * 6),
        ("human", "new question?"),
    ]
    llm = RoutedChatModel(
        tiers={"small": small, "large": large},
        context_budget=budget,
        strategy=RuleRouter([Rule(tier="large", keywords=["prove"])], default="small"),
    )
    h = handler()
    llm.invoke(history, max_tokens=1000, config={"callbacks": [h]})
    sent = small.seen[-1]
    assert [m.content for m in sent["messages"]] == ["new question?"] and sent["max_tokens"] == 64
    (rec,) = h.records()
    assert rec.route == "small" and any(k.startswith("budget.trimmed") for k in rec.tags)
    llm.invoke([*history[:2], ("human", "prove it")], max_tokens=1000)
    assert (
        len(large.seen[-1]["messages"]) == 3 and large.seen[-1]["max_tokens"] == 500
    )  # the large route's budget
    with pytest.raises(ConfigurationError, match="ContextBudget"):
        RoutedChatModel(tiers={"small": small}, context_budget={"history": 10})


def test_guard_downgrade_moves_to_the_next_cheaper_tier() -> None:
    from llm_cost_hooks.budget import Limit, SpendGuard

    small, mid, large = (
        recording("gpt-4o-mini", "s"),
        recording("gpt-4.1-mini", "m"),
        recording("gpt-4o", "L"),
    )
    tiers = {"small": small, "mid": mid, "large": large}
    # Worst case of a gpt-4o call (1000 output tokens) breaks the limit; gpt-4.1-mini's fits.
    guard = SpendGuard([Limit.usd_per_request(0.003, on_breach="downgrade")])
    llm = RoutedChatModel(tiers=tiers, guard=guard, strategy=RuleRouter([], default="large"))
    assert llm.tier_order == ["small", "mid", "large"]
    h = handler()
    msg = llm.invoke("hi", max_tokens=1000, config={"callbacks": [h]})
    route = msg.response_metadata["llm_cost_hooks_route"]
    assert msg.content == "m" and route["tier"] == "mid" and large.seen == []
    assert route["downgrades"] == [{"from": "large", "to": "mid", "limit": "usd_per_request"}]
    # Only the call that was sent is recorded (the refused tier was never called), and it
    # settled its reservation on the guard.
    (rec,) = h.records()
    assert (rec.model, rec.route, rec.success) == (
        "gpt-4.1-mini",
        "mid",
        True,
    ) and "budget.reserved_usd" in rec.tags
    streamed = list(llm.stream("hi", max_tokens=1000))
    assert "".join(str(c.content) for c in streamed) == "m"
    assert streamed[0].response_metadata["llm_cost_hooks_route"]["downgrades"][0]["to"] == "mid"


def test_guard_raise_policy_never_escalates_to_a_dearer_tier() -> None:
    from llm_cost_hooks import BudgetExceeded
    from llm_cost_hooks.budget import Limit, SpendGuard

    small, large = recording("gpt-4o-mini", REFUSAL), recording("gpt-4o", "L")
    guard = SpendGuard([Limit.usd_per_request(1e-9)])  # refuses everything
    llm = RoutedChatModel(tiers={"small": small, "large": large}, guard=guard)
    with pytest.raises(BudgetExceeded):
        llm.invoke("hi", max_tokens=100)
    assert small.seen == [] and large.seen == []
    # downgrade with no cheaper tier left: the breach is raised
    cheap_only = RoutedChatModel(
        tiers={"small": recording("gpt-4o-mini")},
        guard=SpendGuard([Limit.usd_per_request(1e-9, on_breach="downgrade")]),
    )
    with pytest.raises(BudgetExceeded):
        cheap_only.invoke("hi", max_tokens=100)


def test_checks_see_the_request_text() -> None:
    seen: list[Any] = []

    def remember(answer: Answer) -> bool:
        seen.append((answer.tier, answer.request))
        return True

    llm = RoutedChatModel(
        tiers={"small": fake("gpt-4o-mini", "4"), "large": fake("gpt-4o")}, checks=[remember]
    )
    (PROMPT | llm).invoke({"q": "What is 2+2?"})
    assert seen == [("small", "What is 2+2?")]  # the last user message, for learned answer checks


def test_router_cascade_in_a_chain_direct_cheap_first_and_escalation() -> None:
    """RouterCascade through RoutedChatModel: a request the router scores as hard goes
    straight to the strong tier (no cheap call paid); the others try the cheap tier, whose
    answer the learned check judges (a wrong arithmetic line fails it) before escalating."""
    from llm_cost_hooks.routing import AnswerScorer, RouteDecision, RouterCascade, RoutingStrategy

    class Scores(RoutingStrategy):
        def route(self, request: Any, tiers: Any) -> Any:
            return RouteDecision(
                tiers[0], "scores", scores={"small": 0.1 if "prove" in request.text else 0.9}
            )

    rng = np.random.default_rng(0)
    prompts, answers, right = [], [], []
    for _ in range(60):
        a, b = (int(v) for v in rng.integers(2, 40, size=2))
        ok = bool(rng.random() < 0.5)
        c = a * b if ok else a * b + int(rng.integers(1, 9))
        prompts.append(f"Each box holds {a} pens. How many pens are in {b} boxes?")
        answers.append(f"{a} * {b} = {c}\n#### {c}")
        right.append(1.0 if ok else 0.0)
    scorer = AnswerScorer.fit(prompts, answers, right)
    rc = RouterCascade(Scores(), scorer, weak="small", strong="large", direct_below=0.5, accept_at=0.5)

    def run(question: str, small_answer: str) -> tuple[Any, list[Any], FakeChatModelWithUsage]:
        small = fake("gpt-4o-mini", small_answer)
        llm = RoutedChatModel(
            tiers={"small": small, "large": fake("gpt-4o", "7 * 6 = 42\n#### 42")},
            strategy=rc,
            checks=rc.checks,
        )
        h = handler()
        msg = (PROMPT | llm).invoke({"q": question}, config={"callbacks": [h]})
        return msg, records(h), small

    question = "Each box holds 7 pens. How many pens are in 6 boxes?"
    msg, recs, small = run("prove it: " + question, "7 * 6 = 42\n#### 42")
    assert msg.response_metadata["llm_cost_hooks_route"]["tier"] == "large"
    assert "router-cascade:direct" in msg.response_metadata["llm_cost_hooks_route"]["reason"]
    assert small.call_count == 0 and [r.model for r in recs] == ["gpt-4o"]

    msg, recs, _ = run(question, "7 * 6 = 42\n#### 42")
    assert (
        msg.content.endswith("#### 42") and msg.response_metadata["llm_cost_hooks_route"]["tier"] == "small"
    )
    assert [r.model for r in recs] == ["gpt-4o-mini"]

    msg, recs, _ = run(question, "7 * 6 = 48\n#### 48")  # a wrong line: the check fails, escalate
    route = msg.response_metadata["llm_cost_hooks_route"]
    assert route["tier"] == "large" and [a["tier"] for a in route["attempts"]] == ["small", "large"]
    assert route["attempts"][0]["ok"] is False
    assert [(r.model, r.attempt) for r in recs] == [("gpt-4o-mini", 1), ("gpt-4o", 2)]
