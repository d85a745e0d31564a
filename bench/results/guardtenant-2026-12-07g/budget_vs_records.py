"""Do budgets charge the tenant the records show? Per path and per set of calls.

Run from a checkout root (the ``llm_cost_hooks`` imported is the one on ``sys.path``):

    PYTHONPATH=. python bench/results/guardtenant-2026-12-07g/budget_vs_records.py bench/data/tenant_values.jsonl

Every call goes through a spend guard with a per-tenant day limit while a cost handler /
logger with ``defaults={"tenant_id": "default-tenant"}`` records it. Paths: LangChain
``GuardedChatModel`` + ``CostCallbackHandler``; LiteLLM ``guarded_completion`` with a
``CostHooksLogger`` in ``litellm.callbacks``; LiteLLM ``CostHooksLogger(guard=...)``
budget hooks around ``acompletion``. Sets: (1) the adversarial tenant values of
``bench/data/tenant_values.jsonl`` plus the three ways of naming no tenant (no key,
``None``, ``""``); (2) a traffic mix: 4 named tenants and 30% of calls naming none (jobs
that forget the tenant), 120 calls, fixed seed.

Reported per path and set: calls whose guard pool is not the record's tenant ("split"),
and the share of the default tenant's recorded dollars its limit saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import uuid
from collections import defaultdict
from typing import Any

logging.disable(logging.CRITICAL)

import litellm  # noqa: E402

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard  # noqa: E402
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage  # noqa: E402
from llm_cost_hooks.langchain._budget import GuardedChatModel  # noqa: E402
from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion  # noqa: E402

DEFAULT = "default-tenant"
ABSENT = object()
MSG = [{"role": "user", "content": "Summarise the quarterly report in two lines."}]


def value_of(row: dict[str, str]) -> Any:
    t, v = row["type"], row["value"]
    conv: dict[str, Any] = {
        "str": str, "int": int, "float": float, "uuid": uuid.UUID, "bool": lambda x: x == "true",
        "dict": json.loads, "escaped": lambda x: x.encode("ascii").decode("unicode_escape"),
        "long": lambda x: "t" * int(x),
    }  # fmt: skip
    return conv[t](v)


def guard() -> SpendGuard:
    return SpendGuard([Limit.usd(100.0, per="day", scope="tenant", name="d")], alerts=AlertManager(log=False))


def md_of(value: Any) -> dict[str, Any]:
    return {} if value is ABSENT else {"tenant_id": value}


def run_langchain(values: list[Any]) -> tuple[list[Any], SpendGuard]:
    g = guard()
    handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": DEFAULT})
    model = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=g)
    for v in values:
        model.invoke("Summarise the report.", config={"callbacks": [handler], "metadata": md_of(v)})
    return handler.records(), g


def run_litellm_sdk(values: list[Any]) -> tuple[list[Any], SpendGuard]:
    g = guard()
    cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": DEFAULT})
    litellm.callbacks = [cl]
    for v in values:
        guarded_completion(g, model="gpt-4o-mini", mock_response="Revenue up 4%.", messages=MSG,
                           max_tokens=40, metadata=md_of(v))  # fmt: skip
    cl.flush(timeout=30)
    litellm.callbacks = []
    return cl.records(), g


def run_litellm_hooks(values: list[Any]) -> tuple[list[Any], SpendGuard]:
    g = guard()
    cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": DEFAULT}, guard=g)
    litellm.callbacks = [cl]

    async def go() -> None:
        for v in values:
            await litellm.acompletion(model="gpt-4o-mini", mock_response="Revenue up 4%.", messages=MSG,
                                      max_tokens=40, metadata=md_of(v))  # fmt: skip
        for _ in range(500):
            if len(cl.records()) >= len(values):
                break
            await asyncio.sleep(0.01)

    asyncio.run(go())
    cl.flush(timeout=30)
    litellm.callbacks = []
    return cl.records(), g


def measure(records: list[Any], g: SpendGuard) -> tuple[int, float, float]:
    by_tenant: dict[Any, float] = defaultdict(float)
    for r in records:
        by_tenant[r.tenant] += r.cost_usd
    split = 0
    for tenant, usd in by_tenant.items():
        if abs(g.spent("d", tenant) - usd) > 1e-12:
            split += sum(1 for r in records if r.tenant == tenant)
    recorded_default = by_tenant.get(DEFAULT, 0.0)
    seen = g.spent("d", DEFAULT)
    return split, recorded_default, seen


def main() -> None:
    import llm_cost_hooks

    print("llm_cost_hooks from", llm_cost_hooks.__file__)
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    adversarial = [value_of(r) for r in rows] + [ABSENT, None, ""]
    rnd = random.Random(7)
    mix = [ABSENT if rnd.random() < 0.3 else rnd.choice(["acme", "globex", "initech", 7]) for _ in range(120)]
    for set_name, values in (("adversarial+absent", adversarial), ("traffic mix 30% tenantless", mix)):
        for path, fn in (("langchain", run_langchain), ("litellm sdk", run_litellm_sdk),
                         ("litellm hooks", run_litellm_hooks)):  # fmt: skip
            records, g = fn(values)
            split, recorded, seen = measure(records, g)
            share = seen / recorded if recorded else float("nan")
            print(f"{set_name:28} {path:14} calls={len(records):4} split={split:4} "
                  f"default recorded=${recorded:.6f} limit saw=${seen:.6f} ({share:.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
