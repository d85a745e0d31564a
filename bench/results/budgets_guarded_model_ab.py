"""Process CPU per call of GuardedChatModel.invoke vs the bare model (the informational row
of bench/bench_budgets.py). Run from a checkout: ``PYTHONPATH=. python
bench/results/budgets_guarded_model_ab.py A``; min over 7 rounds of 500 calls each.
"""

from __future__ import annotations

import sys
import time

from bench.bench_budgets import _fixed_model
from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
from llm_cost_hooks.langchain import GuardedChatModel


def main() -> None:
    model = _fixed_model()
    guard = SpendGuard(
        [Limit.usd(1e9, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
    )
    budget = ContextBudget(SegmentBudgets(history=1500, output=800))
    guarded = GuardedChatModel(inner=model, guard=guard, context_budget=budget)
    prompt = "Where is my card? It was ordered last week and has not arrived yet."
    cfg = {"metadata": {"tenant_id": "acme"}}
    for _ in range(300):
        guarded.invoke(prompt, config=cfg)
        model.invoke(prompt)
    guarded_us, bare_us = [], []
    for _ in range(7):
        t = time.process_time()
        for _ in range(500):
            guarded.invoke(prompt, config=cfg)
        guarded_us.append((time.process_time() - t) / 500 * 1e6)
        t = time.process_time()
        for _ in range(500):
            model.invoke(prompt)
        bare_us.append((time.process_time() - t) / 500 * 1e6)
    g, b = min(guarded_us), min(bare_us)
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"{label} guarded {g:.1f} bare {b:.1f} added {g - b:.1f} us (process CPU, min of 7)")


if __name__ == "__main__":
    main()
