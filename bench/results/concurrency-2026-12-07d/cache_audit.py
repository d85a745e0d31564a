"""Semantic cache under concurrency: 0 cross-tenant hits, and how many provider calls
concurrent identical misses make. Run from an empty directory with an installed wheel
(the embedded cache writes ./llm_cache.db there): python cache_audit.py"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections import Counter
from typing import Any

from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

TENANTS, PER_TENANT = 50, 10
QUESTION = "When will my replacement card arrive?"
PROMPT = ChatPromptTemplate.from_messages([("system", "You are a bank assistant."), ("human", "{q}")])
# Which tenant's request reached the model: the answer names it, so a hit served to another
# tenant shows in the text.
asking: contextvars.ContextVar[str] = contextvars.ContextVar("asking", default="?")


def respond(messages: Any) -> str:
    return f"Cards for {asking.get()} arrive in 3-5 working days."


async def wave(chain: Any, handler: CostCallbackHandler, question: str) -> list[tuple[str, str]]:
    async def one(i: int) -> tuple[str, str]:
        tenant = f"tenant{i % TENANTS}"
        asking.set(tenant)
        out = await chain.ainvoke(
            {"q": question},
            config={
                "callbacks": [handler],
                "metadata": {"tenant_id": tenant, "feature": "faq", "task_id": f"{question[:6]}-{i}"},
            },
        )
        return tenant, out.content

    return await asyncio.gather(*(one(i) for i in range(TENANTS * PER_TENANT)))


async def main() -> int:
    cache = SemanticCache()
    set_llm_cache(cache)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=respond)
    chain = PROMPT | model
    ok = True
    for label, question in (
        ("cold, identical concurrent", QUESTION),
        ("warm, same question", QUESTION),
        ("warm, case/space variant", "when will my  replacement card arrive?"),
    ):
        handler = CostCallbackHandler(ledger="memory://")
        before = model.call_count
        answers = await wave(chain, handler, question)
        handler.flush()
        cross = sum(tenant not in text.split(" arrive")[0] for tenant, text in answers)
        status = Counter(r.cache_status.value for r in handler.records())
        wrong_record = sum(
            r.tenant != f"tenant{int(r.task_id.rsplit('-', 1)[1]) % TENANTS}" for r in handler.records()
        )
        calls = model.call_count - before
        print(
            f"{label:28s} requests={len(answers)} provider_calls={calls} cache_status={dict(status)} "
            f"cross_tenant_answers={cross} wrong_record_tenant={wrong_record} "
            f"records_usd={sum(r.cost_usd for r in handler.records()):.7f} saved_usd={sum(r.saved_usd for r in handler.records()):.7f}"
        )
        ok = ok and cross == 0 and wrong_record == 0
    # The remedy the docs name: single-flight in front of the model (a fresh cache).
    from llm_cost_hooks import SingleFlight
    from llm_cost_hooks.langchain import GuardedChatModel

    set_llm_cache(SemanticCache(path=":memory:"))
    inner = FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=respond)
    guarded = PROMPT | GuardedChatModel(inner=inner, dedup=SingleFlight())
    handler = CostCallbackHandler(ledger="memory://")
    answers = await wave(guarded, handler, "Can I raise my card limit?")
    handler.flush()
    cross = sum(tenant not in text.split(" arrive")[0] for tenant, text in answers)
    status = Counter(r.cache_status.value for r in handler.records())
    print(
        f"{'cold + SingleFlight':28s} requests={len(answers)} provider_calls={inner.call_count} "
        f"cache_status={dict(status)} cross_tenant_answers={cross} records={len(handler.records())} "
        f"records_usd={sum(r.cost_usd for r in handler.records()):.7f}"
    )
    ok = ok and cross == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
