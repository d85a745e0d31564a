"""Which refusals leave a record: each refusal on each path, once, and the records written
(model, error_type, success, cost). Run from the repository root with the package on
PYTHONPATH; prints one line per case.

    python bench/results/litellm-refusals-2026-12-07b/refusal_matrix.py
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from llm_cost_hooks import SpendStoreUnavailable
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.dedup import CircuitBreaker
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel
from llm_cost_hooks.langchain._routed import RoutedChatModel
from llm_cost_hooks.litellm import CostHooksLogger
from llm_cost_hooks.routing import RuleRouter


class Down:
    """A shared spend store that cannot answer."""

    def __getattr__(self, name: str) -> Any:
        def fail(*a: Any, **k: Any) -> Any:
            raise SpendStoreUnavailable("down")

        async def afail(*a: Any, **k: Any) -> Any:
            fail()

        return afail if name.startswith("a") else fail


def guard(limit: Limit, **kw: Any) -> SpendGuard:
    return SpendGuard([limit], alerts=AlertManager(log=False, span_events=False), **kw)


def fake(name: str = "gpt-4o-mini") -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name=name, responses=["ok"] * 5)


def show(case: str, error: str, records: Any) -> None:
    rows = [(r.model, r.error_type, r.success, r.cost_usd) for r in records]
    print(f"{case:<44} raised {error:<22} records {rows}")


def langchain(case: str, model: Any, how: str) -> None:
    h = CostCallbackHandler(ledger="memory://")
    cfg: Any = {"callbacks": [h], "metadata": {"tenant_id": "acme"}}
    error = "-"
    try:
        if how == "invoke":
            model.invoke("hi " * 30, config=cfg)
        elif how == "stream":
            list(model.stream("hi " * 30, config=cfg))
        else:
            asyncio.run(model.ainvoke("hi " * 30, config=cfg))
    except Exception as exc:
        error = type(exc).__name__
    h.tracker.flush()
    show(f"langchain {case} {how}", error, h.records())


KW = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "q " * 50}], "mock_response": "ok"}


def litellm_case(case: str, stream: bool) -> None:
    cl = CostHooksLogger(ledger="memory://", guard=guard(Limit.usd(10, per="day"), store=Down()))
    litellm.callbacks = [cl]
    error = "-"

    async def acall(call: Any) -> None:
        await call(**KW, stream=stream)
        await cl.aflush(timeout=5)

    try:
        if case == "logger.completion":
            cl.completion(**KW, stream=stream)
        elif case == "litellm.acompletion":
            asyncio.run(acall(litellm.acompletion))
        elif case == "logger.acompletion":
            asyncio.run(acall(cl.acompletion))
        else:
            asyncio.run(cl.async_pre_call_hook(None, None, dict(KW), "completion"))
    except Exception as exc:
        error = type(exc).__name__
    cl.flush(timeout=5)
    show(f"litellm store-down {case} stream={stream}", error, cl.records())


def main() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    breaker.record_failure("gpt-4o-mini")
    downgrade = Limit.usd_per_request(1e-9, on_breach="downgrade")
    for how in ("invoke", "stream", "ainvoke"):
        langchain("breaker-open", GuardedChatModel(inner=fake(), breaker=breaker), how)
        langchain("store-down", GuardedChatModel(inner=fake(), guard=guard(Limit.usd(10), store=Down())), how)
        langchain("downgrade-nowhere", GuardedChatModel(inner=fake(), guard=guard(downgrade)), how)
        tiers = {"small": fake(), "large": fake("gpt-4o")}
        routed = RoutedChatModel(
            tiers=tiers, guard=guard(downgrade), strategy=RuleRouter([], default="large")
        )
        langchain("routed-downgrade-nowhere", routed, how)
    for stream in (False, True):
        for case in ("logger.completion", "litellm.acompletion", "logger.acompletion", "proxy-hook"):
            litellm_case(case, stream)


main()
