"""Attribution of concurrent requests: each record names its own request's tenant,
feature and task, whichever way the attribution was given."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, cache_scope

PROMPT = ChatPromptTemplate.from_messages([("system", "You are a support assistant."), ("human", "{q}")])


def _by_task(handler: CostCallbackHandler) -> dict[str, tuple[str, str | None]]:
    handler.flush()
    return {r.task_id: (r.tenant, r.feature) for r in handler.records()}


async def test_concurrent_calls_inside_cache_scopes_are_attributed_to_their_scope() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    arrived: list[object] = []
    both_inside = asyncio.Event()  # asyncio.Barrier is 3.11+

    async def hold(value: Any) -> Any:
        arrived.append(value)  # both requests are inside their scopes before either calls
        if len(arrived) == 2:
            both_inside.set()
        await both_inside.wait()
        return value

    chain = PROMPT | RunnableLambda(lambda v: v, afunc=hold) | FakeChatModelWithUsage(responses=["Done."])

    async def one(tenant: str, feature: str, task: str) -> None:
        with cache_scope(tenant=tenant, feature=feature):
            await chain.ainvoke(
                {"q": "Where is my order?"}, config={"callbacks": [handler], "metadata": {"task_id": task}}
            )

    await asyncio.gather(one("acme", "orders", "task-a"), one("globex", "billing", "task-b"))
    assert _by_task(handler) == {"task-a": ("acme", "orders"), "task-b": ("globex", "billing")}


def test_cache_scope_reaches_a_pool_thread_run_in_a_context_copy() -> None:
    handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "fallback"})
    model = FakeChatModelWithUsage(responses=["Done."])
    both_submitted = threading.Barrier(2)

    def call(task: str) -> None:
        both_submitted.wait()
        model.invoke("Where is my order?", config={"callbacks": [handler], "metadata": {"task_id": task}})

    with ThreadPoolExecutor(2) as pool:
        futures = []
        for tenant, task in (("acme", "task-a"), ("globex", "task-b")):
            with cache_scope(tenant=tenant):
                futures.append(pool.submit(contextvars.copy_context().run, call, task))
        for future in futures:
            future.result()
    assert _by_task(handler) == {"task-a": ("acme", None), "task-b": ("globex", None)}


def test_cache_scope_wins_over_metadata_as_it_does_for_the_cache() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = FakeChatModelWithUsage(responses=["Done."])
    with cache_scope(tenant="globex"):
        model.invoke(
            "hi", config={"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "faq"}}
        )
    model.invoke("hi", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
    assert [(r.tenant, r.feature) for r in handler.records()] == [("globex", "faq"), ("acme", None)]


async def test_a_tenant_limit_counts_calls_inside_its_cache_scope() -> None:
    from llm_cost_hooks import Limit, SpendGuard
    from llm_cost_hooks.budget import AlertManager
    from llm_cost_hooks.langchain import GuardedChatModel

    handler = CostCallbackHandler(ledger="memory://")
    limit = Limit.usd(1.0, per="day", scope="tenant")
    guard = SpendGuard([limit], alerts=AlertManager(log=False))
    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=["Done."], max_tokens=8), guard=guard)
    for tenant in ("acme", "globex", "acme"):
        with cache_scope(tenant=tenant):
            await model.ainvoke("Where is my order?", config={"callbacks": [handler]})
    spent = {r.tenant: 0.0 for r in handler.records()}
    for r in handler.records():
        spent[r.tenant] += r.cost_usd
    assert set(spent) == {"acme", "globex"}
    assert guard.spent(limit, "acme") == pytest.approx(spent["acme"])
    assert guard.spent(limit, "globex") == pytest.approx(spent["globex"])
    assert guard.spent(limit, None) == 0.0  # nothing charged to the unattributed bucket
