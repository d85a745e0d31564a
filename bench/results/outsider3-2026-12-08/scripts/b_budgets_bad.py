"""docs/budgets.md and docs/context-and-alerts.md entry points with the likely user mistakes."""

import llm_cost_hooks
from llm_cost_hooks.budget import (
    AlertManager,
    AnomalyRule,
    ContextBudget,
    Limit,
    SegmentBudgets,
    SpendGuard,
    SpendRequest,
)
from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget, SingleFlight
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel


def probe(label, fn):
    try:
        value = fn()
        print(f"{label}: OK -> {value!r}"[:300])
    except Exception as exc:
        typed = isinstance(exc, llm_cost_hooks.LLMCostHooksError)
        print(f"{label}: {type(exc).__name__} typed={typed}: {str(exc)[:260]}")


probe("Limit.usd(-5)", lambda: Limit.usd(-5, per="day", scope="tenant"))
probe("Limit.usd(0)", lambda: Limit.usd(0, per="day"))
probe("Limit.usd('25')", lambda: Limit.usd("25", per="day"))
probe("Limit.usd(nan)", lambda: Limit.usd(float("nan"), per="day"))
probe("Limit.usd(per='dya')", lambda: Limit.usd(25, per="dya"))
probe("Limit.usd(per='daily')", lambda: Limit.usd(25, per="daily"))
probe("Limit.usd(scope='tenants')", lambda: Limit.usd(25, per="day", scope="tenants"))
probe("Limit.usd_per_request(-1)", lambda: Limit.usd_per_request(-1))
probe("Limit.usd(on_breach='block')", lambda: Limit.usd(25, per="day", on_breach="block"))
probe("Limit.usd(alert_at=[50, 80])", lambda: Limit.usd(25, per="day", alert_at=[50, 80]))
probe(
    "Limit.usd(on_breach='downgrade') no downgrade_to",
    lambda: Limit.usd(25, per="day", on_breach="downgrade"),
)
probe("SpendGuard(Limit) not a list", lambda: SpendGuard(Limit.usd(25, per="day")))
probe(
    "SpendGuard(store='redsi://x')", lambda: SpendGuard([Limit.usd(25, per="day")], store="redsi://localhost")
)
probe(
    "SpendGuard(store='localhost:6379')",
    lambda: SpendGuard([Limit.usd(25, per="day")], store="localhost:6379"),
)
probe("SpendGuard(fail_mode='opn')", lambda: SpendGuard([Limit.usd(25, per="day")], fail_mode="opn"))
probe(
    "SpendRequest(model='gpt-4o-mnii')",
    lambda: SpendGuard([Limit.usd(25, per="day")]).reserve(
        SpendRequest(model="gpt-4o-mnii", input_tokens=10, max_output_tokens=10, tenant="a")
    ),
)
probe(
    "SpendRequest(input_tokens=-5)",
    lambda: SpendGuard([Limit.usd(25, per="day")]).reserve(
        SpendRequest(model="gpt-4o-mini", input_tokens=-5, max_output_tokens=10, tenant="a")
    ),
)
probe(
    "reserve().settle(-1)",
    lambda: (
        SpendGuard([Limit.usd(25, per="day")])
        .reserve(SpendRequest(model="gpt-4o-mini", input_tokens=5, max_output_tokens=10, tenant="a"))
        .settle(-1)
    ),
)
probe(
    "reserve().settle(nan)",
    lambda: (
        SpendGuard([Limit.usd(25, per="day")])
        .reserve(SpendRequest(model="gpt-4o-mini", input_tokens=5, max_output_tokens=10, tenant="a"))
        .settle(float("nan"))
    ),
)
probe("SegmentBudgets(history=-10)", lambda: SegmentBudgets(history=-10))
probe("SegmentBudgets(histroy=100)", lambda: SegmentBudgets(histroy=100))
probe(
    "ContextBudget(model='gpt-4o-mnii').apply",
    lambda: (
        ContextBudget(SegmentBudgets(history=100), model="gpt-4o-mnii")
        .apply([{"role": "user", "content": "hi"}])
        .report()
    ),
)
probe("ContextBudget.apply(str)", lambda: ContextBudget(SegmentBudgets(history=100)).apply("hello"))
probe(
    "ContextBudget.apply route unknown",
    lambda: (
        ContextBudget({"support": SegmentBudgets(history=100)})
        .apply([{"role": "user", "content": "hi"}], route="suport")
        .report()
    ),
)
probe("AnomalyRule(factor=-1)", lambda: AnomalyRule(factor=-1))
probe("AnomalyRule(baseline='cycles')", lambda: AnomalyRule(baseline="cycles"))
probe("AlertManager(sink not callable)", lambda: AlertManager(["http://example.invalid/hook"]))
probe("RetryBudget(max_attempts=0)", lambda: RetryBudget(max_attempts=0))
probe("RetryBudget(max_retry_usd=-1)", lambda: RetryBudget(max_attempts=3, max_retry_usd=-1))
probe("CircuitBreaker(failure_threshold=0)", lambda: CircuitBreaker(failure_threshold=0))
probe("SingleFlight(result_ttl=-1)", lambda: SingleFlight(result_ttl=-1))
probe(
    "GuardedChatModel(inner='gpt-4o-mini')",
    lambda: GuardedChatModel(inner="gpt-4o-mini", guard=SpendGuard([])),
)


def guarded_typo():
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(model_name="gpt-4o-mnii"),
        guard=SpendGuard([Limit.usd(25, per="day", scope="tenant")]),
    )
    out = model.invoke("hi", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
    handler.flush()
    return out.content, [(r.model, r.cost_usd, r.success, r.error_type) for r in handler.records()]


probe("GuardedChatModel over unknown model 'gpt-4o-mnii'", guarded_typo)


def guarded_raise_budget():
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(model_name="gpt-4o-mini"),
        guard=SpendGuard([Limit.usd_per_request(0.0000001)]),
    )
    try:
        model.invoke("hi", config={"callbacks": [handler]})
    except llm_cost_hooks.BudgetExceeded as exc:
        handler.flush()
        return "BudgetExceeded: " + str(exc), [
            (r.success, r.error_type, r.cost_usd) for r in handler.records()
        ]


probe("refused call leaves a record", guarded_raise_budget)
