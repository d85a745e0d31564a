"""docs/errors.md: each listed exception, provoked where the page says it is raised."""

import os
import sys

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import llm_cost_hooks as L
from llm_cost_hooks.budget import Limit, SpendGuard, SpendRequest
from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget
from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    RoutedChatModel,
)
from llm_cost_hooks.pricing import PriceBook
from llm_cost_hooks.routing import RuleRouter

REDIS_DOWN = "redis://127.0.0.1:1"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def expect(name, fn):
    cls = getattr(L, name)
    try:
        fn()
        print(f"{name}: NOT raised")
    except BaseException as exc:
        ok = isinstance(exc, cls)
        print(f"{name}: {'raised' if ok else 'OTHER ' + type(exc).__name__}: {str(exc)[:160]}")


def scope_error():
    from llm_cost_hooks.cache import cache_scope

    with cache_scope(tenant={"a": 1}):
        pass


def outcome_error():
    from llm_cost_hooks.routing import load_outcomes

    write("bad.csv", "nothing,useful\n1,2\n")
    load_outcomes("bad.csv")


def router_error():
    from llm_cost_hooks.routing import RouterModel

    os.makedirs("router", exist_ok=True)
    write("router/router.json", "{}")
    RouterModel.load("router")


def usage_error():
    from llm_cost_hooks.pricing import PriceBook

    PriceBook.default().cost({"input_tokens": -5, "output_tokens": 1}, "gpt-4o-mini")


def replay_miss():
    from llm_cost_hooks.langchain import ReplayChatModel
    from llm_cost_hooks.routing import load_outcomes

    write(
        "out.csv", "prompt,gpt-4o-mini,gpt-4o-mini|total_cost,gpt-4o-mini|model_response\nhello,1,0.001,hi\n"
    )
    ReplayChatModel(data=load_outcomes("out.csv"), tier="gpt-4o-mini").invoke("something else")


def ledger_error():
    from llm_cost_hooks.ledger import open_ledger

    open_ledger("sqlite:///:memory:")


def price_map_update():
    from llm_cost_hooks.pricing._cli import update_price_map

    update_price_map(url="http://127.0.0.1:1/prices.json", timeout=2)


def missing_extra():
    from llm_cost_hooks.ledger import open_ledger

    open_ledger("postgresql://u@127.0.0.1:1/db") if False else None
    sys.modules["psycopg"] = None  # as if the postgres extra were not installed
    open_ledger("postgresql://u@127.0.0.1:1/db")


def downgrade_required():
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini"),
        "large": FakeChatModelWithUsage(model_name="gpt-4o"),
    }
    RoutedChatModel(
        tiers=tiers,
        strategy=RuleRouter([], default="small"),
        guard=SpendGuard([Limit.usd_per_request(0.0000001, on_breach="downgrade")]),
    ).invoke("hi")


def store_unavailable():
    g = GuardedChatModel(
        inner=FakeChatModelWithUsage(model_name="gpt-4o-mini"),
        guard=SpendGuard([Limit.usd(1, per="day")], store=REDIS_DOWN, fail_mode="closed"),
    )
    g.invoke("hi", config={"metadata": {"tenant_id": "a"}})


class Failing(FakeChatModelWithUsage):
    def _generate(self, *a, **k):
        raise TimeoutError("upstream timed out")


def circuit_open():
    g = GuardedChatModel(inner=Failing(model_name="gpt-4o-mini"), breaker=CircuitBreaker(failure_threshold=1))
    for _ in range(3):
        try:
            g.invoke("hi")
        except TimeoutError:
            pass


def retry_exhausted():
    g = GuardedChatModel(
        inner=Failing(model_name="gpt-4o-mini"), guard=SpendGuard([]), retry=RetryBudget(max_attempts=2)
    )
    g.invoke("hi", config={"metadata": {"task_id": "t1"}})


expect("ConfigurationError", lambda: CostCallbackHandler(ledger="ftp://x"))
expect("CacheScopeError", scope_error)
expect("PriceOverrideError", lambda: PriceBook(overrides={"gpt-x": {"input_cost_per_token": "lots"}}).version)
expect(
    "SettingsError",
    lambda: (os.environ.__setitem__("LLM_COST_HOOKS_EXIT_TIMEOUT", "soon"), L.get_settings(reload=True)),
)
os.environ.pop("LLM_COST_HOOKS_EXIT_TIMEOUT")
expect("OutcomeDataError", outcome_error)
expect("RouterModelError", router_error)
expect("InvalidUsageError", usage_error)
expect(
    "UnknownModelError",
    lambda: SpendGuard([]).reserve(SpendRequest(model="gpt-4o-mnii", input_tokens=1, max_output_tokens=1)),
)
expect("ReplayMissError", replay_miss)
expect("LedgerError", ledger_error)
expect("PriceMapUpdateError", price_map_update)
expect("MissingExtraError", missing_extra)
expect(
    "BudgetExceeded",
    lambda: SpendGuard([Limit.usd_per_request(0.0000001)]).reserve(
        SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100)
    ),
)
expect("DowngradeRequired", downgrade_required)
expect("SpendStoreUnavailable", store_unavailable)
expect("CircuitOpenError", circuit_open)
expect("RetryBudgetExhausted", retry_exhausted)
