"""Our routing strategies on a real litellm.Router: model groups are the tiers, and the
decision lands on the cost record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.routing import Rule, RuleRouter

MODELS = [
    {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "small answer"}},
    {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "large answer"}},
]


@pytest.fixture
def routed(litellm_clean: Any) -> Any:
    from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    router = litellm_clean.Router(model_list=[dict(m) for m in MODELS])
    strategy = RuleRouter([Rule(tier="small", feature=["faq"])], default="large")
    routing = CostAwareRouting(router, strategy, tiers=["small", "large"])
    return router, routing, cl


def wait(cl: Any, n: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while len(cl.records()) < n:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return cl.records()


def test_rules_pick_the_model_group_and_tag_the_record(routed: Any) -> None:
    router, routing, cl = routed
    msgs = [{"role": "user", "content": "How do I reset my password?"}]
    a = router.completion(model="auto", messages=msgs, metadata={"feature": "faq", "tenant_id": "acme"})
    b = router.completion(model="auto", messages=msgs, metadata={"feature": "legal", "tenant_id": "acme"})
    assert (a.choices[0].message.content, b.choices[0].message.content) == ("small answer", "large answer")
    recs = {r.feature: r for r in wait(cl, 2)}
    assert recs["faq"].model == "gpt-4o-mini" and recs["faq"].tags["routing.tier"] == "small"
    assert recs["legal"].model == "gpt-4o" and recs["legal"].tags["routing.tier"] == "large"
    assert recs["faq"].cost_usd < recs["legal"].cost_usd
    assert routing.decisions == {"small": 1, "large": 1}


def test_a_named_group_is_not_rerouted(routed: Any) -> None:
    router, routing, cl = routed
    r = router.completion(
        model="large", messages=[{"role": "user", "content": "x"}], metadata={"feature": "faq"}
    )
    assert r.choices[0].message.content == "large answer"
    assert routing.decisions == {"small": 0, "large": 0}


async def test_async_router(routed: Any) -> None:
    router, routing, cl = routed
    r = await router.acompletion(
        model="auto",
        messages=[{"role": "user", "content": "x"}],
        metadata={"feature": "faq", "tenant_id": "acme"},
    )
    assert r.choices[0].message.content == "small answer"
    for _ in range(300):
        if [r for r in cl.records() if r.tenant == "acme"]:
            break
        await asyncio.sleep(0.02)
    [rec] = [r for r in cl.records() if r.tenant == "acme"]
    assert rec.tags["routing.tier"] == "small" and rec.tenant == "acme"


def test_unknown_tiers_are_a_configuration_error(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostAwareRouting

    router = litellm_clean.Router(model_list=[dict(m) for m in MODELS])
    with pytest.raises(ConfigurationError, match="not model groups"):
        CostAwareRouting(router, RuleRouter([], default="small"), tiers=["small", "medium"])


def test_router_retries_are_attempts_of_one_task(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    router = litellm_clean.Router(
        model_list=[
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": openai_stub.base,
                    "api_key": "sk-test",
                },
            }
        ],
        num_retries=3,
        retry_after=0,
    )
    openai_stub.control(fail_next=2)
    r = router.completion(
        model="m",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=5,
        metadata={"tenant_id": "acme"},
    )
    assert r.choices[0].message.content
    assert cl.flush()
    recs = sorted(cl.records(), key=lambda x: x.attempt)
    assert [(x.attempt, x.success) for x in recs] == [(1, False), (2, False), (3, True)]
    assert len({x.task_id for x in recs}) == 1  # one Router request = one task
    assert recs[-1].output_tokens == 5 and all(x.tenant == "acme" for x in recs)


async def test_router_calls_go_through_the_logger_pre_call_hook(litellm_clean: Any, openai_stub: Any) -> None:
    """A Router's acompletion runs the logger's deployment hook: the request the chosen
    deployment receives is trimmed to the route's budget, max_tokens clamped, and the
    Router retries nothing when the hook refuses over budget."""
    from llm_cost_hooks import BudgetExceeded
    from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
    from llm_cost_hooks.litellm import CostHooksLogger

    g = SpendGuard([Limit.usd(0.001, per="day", scope="tenant")], alerts=AlertManager(log=False))
    cl = CostHooksLogger(
        ledger="memory://",
        guard=g,
        context_budget=ContextBudget({"chat": SegmentBudgets(history=50, output=32)}),
    )
    litellm_clean.callbacks = [cl]
    router = litellm_clean.Router(
        model_list=[
            {
                "model_name": "mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": openai_stub.base,
                    "api_key": "sk-test",
                },
            }
        ],
        num_retries=0,
    )
    msgs = [{"role": "user", "content": f"question {i} about my booking " * 3} for i in range(20)]
    r = await router.acompletion(
        model="mini",
        messages=msgs,
        max_tokens=900,
        metadata={"route": "chat", "tenant_id": "acme", "task_id": "rt-1"},
    )
    assert (
        r.usage.completion_tokens == 32 and r.usage.prompt_tokens < sum(len(m["content"]) for m in msgs) // 4
    )
    for _ in range(500):
        mine = [x for x in cl.records() if x.task_id == "rt-1"]
        if mine:
            break
        await asyncio.sleep(0.02)
    assert int(mine[0].tags["budget.trimmed.history"]) > 0
    assert g.spent(g.limits[0], "acme") == pytest.approx(mine[0].cost_usd, abs=1e-12)
    calls = openai_stub.stats()["chat"]
    with pytest.raises(BudgetExceeded):
        await router.acompletion(
            model="mini",
            messages=msgs[-1:],
            max_tokens=4000,  # worst case > $0.001
            metadata={"route": "other", "tenant_id": "acme"},
        )
    assert openai_stub.stats()["chat"] == calls


# -- shadow mode: serve the configured tier, learn what the router would have done ------------------
def _judge(request: str, answers: dict[str, str]) -> dict[str, float]:
    return {t: float(a == "large answer") for t, a in answers.items()}


def _shadowed(litellm_clean: Any, tmp_path: Any, **shadow_kwargs: Any) -> tuple[Any, Any, Any, Any]:
    from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger
    from llm_cost_hooks.routing import ShadowMode

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    router = litellm_clean.Router(model_list=[dict(m) for m in MODELS])
    shadow = ShadowMode(shadow_kwargs.pop("judge", _judge), store=tmp_path / "ledger.db", **shadow_kwargs)
    strategy = RuleRouter([Rule(tier="small", feature=["faq"])], default="large")
    routing = CostAwareRouting(router, strategy, tiers=["small", "large"], serve="large", shadow=shadow)
    return router, routing, cl, shadow


def _until(check: Any) -> None:
    deadline = time.monotonic() + 15
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_shadow_mode_serves_the_configured_tier_and_records_the_routers_choice(
    litellm_clean: Any, tmp_path: Any
) -> None:
    from llm_cost_hooks.routing import outcomes_from_ledger

    router, routing, cl, shadow = _shadowed(litellm_clean, tmp_path, share=1.0)
    for i in range(3):
        r = router.completion(
            model="auto",
            messages=[{"role": "user", "content": f"How do I reset my password? ({i})"}],
            metadata={"feature": "faq", "tenant_id": "acme", "task_id": f"t{i}"},
        )
        assert r.choices[0].message.content == "large answer"  # the configured tier serves
    assert routing.decisions == {"small": 0, "large": 3}
    assert routing.would_choose == {"small": 3, "large": 0}
    _until(lambda: shadow.stats["written"] == 3)
    recs = wait(cl, 6)
    served = [r for r in recs if r.route != "shadow:small"]
    explored = [r for r in recs if r.route == "shadow:small"]
    assert len(served) == 3 and len(explored) == 3
    assert all(r.model == "gpt-4o" and r.tags["routing.would_choose"] == "small" for r in served)
    # the exploration is its own task on its own route, priced like any call
    assert all(
        r.model == "gpt-4o-mini" and r.tenant == "acme" and r.task_id not in {"t0", "t1", "t2"}
        for r in explored
    )
    assert sum(r.cost_usd for r in explored) == pytest.approx(shadow.stats["spent_usd"], rel=1e-6)
    assert shadow.stats["spent_usd"] > 0
    ds = outcomes_from_ledger(tmp_path / "ledger.db")
    assert sorted(ds.tiers) == ["large", "small"] and len(ds) == 3
    assert ds.quality[:, ds.index("large")].sum() == 3 and ds.quality[:, ds.index("small")].sum() == 0
    assert (ds.cost[:, ds.index("small")] < ds.cost[:, ds.index("large")]).all()
    assert all(p.startswith("How do I reset my password?") for p in ds.prompts)


async def test_shadow_mode_async_router(litellm_clean: Any, tmp_path: Any) -> None:
    router, routing, cl, shadow = _shadowed(litellm_clean, tmp_path, share=1.0)
    r = await router.acompletion(
        model="auto", messages=[{"role": "user", "content": "x"}], metadata={"feature": "legal"}
    )
    assert r.choices[0].message.content == "large answer"
    for _ in range(750):
        if shadow.stats["written"] == 1:
            break
        await asyncio.sleep(0.02)
    # the router chose what was served: shadow mode's own rule asks the other tier
    assert shadow.stats["written"] == 1 and shadow.store.count() == 2
    assert routing.would_choose == {"small": 0, "large": 1}


def test_shadow_failures_and_shadow_calls_never_reach_the_user(litellm_clean: Any, tmp_path: Any) -> None:
    def broken(request: str, answers: dict[str, str]) -> dict[str, float]:
        raise RuntimeError("judge down")

    router, routing, cl, shadow = _shadowed(litellm_clean, tmp_path, share=1.0, judge=broken)
    msgs = [{"role": "user", "content": "hi"}]
    assert router.completion(model="auto", messages=msgs).choices[0].message.content == "large answer"
    _until(lambda: shadow.stats["judge_errors"] == 1)
    # a shadow call is never shadowed again, and a named group is not shadowed
    assert router.completion(model="small", messages=msgs).choices[0].message.content == "small answer"
    wait(cl, 3)
    assert shadow.stats["shadowed"] == 1 and shadow.store.count() == 0


def test_shadow_mode_configuration_errors(litellm_clean: Any, tmp_path: Any) -> None:
    from llm_cost_hooks.litellm import CostAwareRouting
    from llm_cost_hooks.routing import ShadowMode

    router = litellm_clean.Router(model_list=[dict(m) for m in MODELS])
    rules = RuleRouter([], default="small")
    with pytest.raises(ConfigurationError, match="serve='medium'"):
        CostAwareRouting(router, rules, tiers=["small", "large"], serve="medium")
    with pytest.raises(ConfigurationError, match="ShadowMode"):
        CostAwareRouting(router, rules, tiers=["small", "large"], shadow=_judge)  # type: ignore[arg-type]
    odd = ShadowMode(_judge, tier="medium", store=tmp_path / "l.db")
    with pytest.raises(ConfigurationError, match="'medium' is not one of the tiers"):
        CostAwareRouting(router, rules, tiers=["small", "large"], shadow=odd)
