"""guard.spent after 20 plain sync ``litellm.completion`` calls (mock responses carrying
usage) with ``CostHooksLogger(guard=...)`` in ``litellm.callbacks``, against the records'
total; then one ``cost_logger.completion`` call, which reserves, is tried.

Run from the checkout to measure (PYTHONPATH picks the code):
    PYTHONPATH=. python bench/results/syncguard-2026-12-08/sync_calls_spent.py
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm.types.utils import Usage

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

CALLS = 20
LIMIT_USD = 0.005  # 20 calls of $0.00036 come to $0.0072: past the limit at the 14th


def answer() -> litellm.ModelResponse:
    return litellm.ModelResponse(
        model="gpt-4o-mini",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=Usage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500),
    )


def main() -> None:
    import llm_cost_hooks

    events: list[object] = []
    guard = SpendGuard(
        [Limit.usd(LIMIT_USD, per="day", scope="tenant")],
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard, defaults={"tenant_id": "acme"})
    litellm.callbacks = [cost_logger]
    print(f"code: {os.path.dirname(llm_cost_hooks.__file__)}")
    print(f"limit: ${LIMIT_USD} per day for tenant acme; calls: {CALLS} plain litellm.completion")
    print(f"guard.spent before: ${guard.spent(guard.limits[0], 'acme'):.6f}")
    for _ in range(CALLS):
        litellm.completion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response=answer()
        )
    cost_logger.flush()
    records = cost_logger.records()
    print(f"records: {len(records)}, total ${sum(r.cost_usd for r in records):.6f}")
    print(f"guard.spent after:  ${guard.spent(guard.limits[0], 'acme'):.6f}")
    kinds = [f"{e.kind}:{getattr(e, 'threshold', None) or getattr(e, 'reason', '')}" for e in events]
    print(f"alerts: {kinds}")
    try:
        cost_logger.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=10,
            mock_response="ok",
        )
        print("next cost_logger.completion: sent")
    except BudgetExceeded as exc:
        print(f"next cost_logger.completion: refused ({exc.limit_name})")
    litellm.callbacks = []


if __name__ == "__main__":
    main()
