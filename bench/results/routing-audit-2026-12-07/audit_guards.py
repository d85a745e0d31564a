"""The guards that wrap models, driven from outside: the breaker opens and closes as
documented, a retry budget stops retries, a context budget trims and tags, and the same
guards on a RoutedChatModel (spend downgrade, failing tier) leave one record per call.

Run from the repository root:
    PYTHONPATH=$PWD LITELLM_LOCAL_MODEL_COST_MAP=True python bench/results/routing-audit-2026-12-07/audit_guards.py
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import ContextBudget, Limit, SegmentBudgets, SpendGuard
from llm_cost_hooks.dedup import CircuitBreaker, CircuitOpenError, RetryBudget
from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    RoutedChatModel,
)
from llm_cost_hooks.routing import Cascade, RuleRouter

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: Any = "") -> None:
    RESULTS.append((name, bool(ok), str(detail)))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f"  -- {detail}"))


def run(name: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        check(name, False, f"raised {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")


class RateLimitError(Exception):
    pass


def breaker() -> None:
    now = [0.0]
    br = CircuitBreaker(failure_threshold=2, window_seconds=60, reset_seconds=10, clock=lambda: now[0])
    inner = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=["ok"] * 10, errors=[RateLimitError("429"), RateLimitError("429")]
    )
    model = GuardedChatModel(inner=inner, breaker=br)
    h = CostCallbackHandler(ledger="memory://")
    for _ in range(2):
        try:
            model.invoke("hi", config={"callbacks": [h]})
        except RateLimitError:
            pass
    check("breaker: open after 2 failures", br.state("gpt-4o-mini").value == "open", br.state("gpt-4o-mini"))
    calls = inner.call_count
    try:
        model.invoke("hi", config={"callbacks": [h]})
        got = "answered"
    except CircuitOpenError:
        got = "CircuitOpenError"
    check(
        "breaker: open -> CircuitOpenError without calling",
        got == "CircuitOpenError" and inner.call_count == calls,
        (got, inner.call_count, calls),
    )
    now[0] = 10.0
    msg = model.invoke("hi", config={"callbacks": [h]})
    check(
        "breaker: half-open probe succeeds -> closed",
        msg.content == "ok" and br.state("gpt-4o-mini").value == "closed",
        br.state("gpt-4o-mini"),
    )
    rs = h.records()
    check(
        "breaker: every call recorded (2 failures, 1 refused, 1 ok)",
        len(rs) == 4,
        [(r.success, r.error_type, r.tags.get("breaker.state")) for r in rs],
    )


def retry_budget() -> None:
    inner = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=["ok"] * 10,
        errors=[RateLimitError("1"), RateLimitError("2"), RateLimitError("3"), None],
    )
    model = GuardedChatModel(inner=inner, retry=RetryBudget(max_attempts=3))
    h = CostCallbackHandler(ledger="memory://")
    try:
        model.invoke("hi", config={"callbacks": [h]})
        got = "answered"
    except RateLimitError as e:
        got = f"RateLimitError {e}"
    check(
        "retry budget: stops after 3 attempts",
        got == "RateLimitError 3" and inner.call_count == 3,
        (got, inner.call_count),
    )
    rs = h.records()
    check(
        "retry budget: one record of the call, attempts tagged",
        len(rs) == 1 and not rs[0].success and rs[0].tags.get("retry.attempts") == "3",
        [(r.attempt, r.success, r.tags) for r in rs],
    )


def context_budget() -> None:
    budget = ContextBudget({"support": SegmentBudgets(system=50, history=60, output=20)})
    inner = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    model = GuardedChatModel(inner=inner, context_budget=budget)
    msgs = [SystemMessage("Be brief.")]
    for i in range(10):
        msgs += [
            HumanMessage(f"My order number is {1000 + i} and it is late again, please look."),
            AIMessage("Looking."),
        ]
    msgs.append(HumanMessage("Where is it?"))
    h = CostCallbackHandler(ledger="memory://")
    model.invoke(msgs, max_tokens=500, config={"callbacks": [h], "metadata": {"route": "support"}})
    [r] = h.records()
    check(
        "context budget: history trimmed and tagged", int(r.tags.get("budget.trimmed.history", 0)) > 0, r.tags
    )
    check(
        "context budget: output clamped and tagged", r.tags.get("budget.output.clamped_from") == "500", r.tags
    )


def routed_guard() -> None:
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["small"] * 10),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["large"] * 10),
    }
    guard = SpendGuard([Limit.usd_per_request(0.002, on_breach="downgrade")])
    llm = RoutedChatModel(tiers=tiers, strategy=RuleRouter([], default="large"), guard=guard)
    for mode in ("invoke", "ainvoke", "stream", "astream"):
        h = CostCallbackHandler(ledger="memory://")
        cfg = {"callbacks": [h]}
        if mode == "invoke":
            msg = llm.invoke("Summarise this.", max_tokens=500, config=cfg)
        elif mode == "ainvoke":
            msg = asyncio.run(llm.ainvoke("Summarise this.", max_tokens=500, config=cfg))
        elif mode == "stream":
            msg = None
            for c in llm.stream("Summarise this.", max_tokens=500, config=cfg):
                msg = c if msg is None else msg + c
        else:

            async def go() -> Any:
                out = None
                async for c in llm.astream("Summarise this.", max_tokens=500, config=cfg):
                    out = c if out is None else out + c
                return out

            msg = asyncio.run(go())
        rs = h.records()
        route = msg.response_metadata.get("llm_cost_hooks_route", {})
        check(
            f"downgrade {mode}: answered by small, one record",
            msg.content == "small" and [r.route for r in rs] == ["small"],
            (msg.content, [(r.route, r.success) for r in rs]),
        )
        check(f"downgrade {mode}: downgrade in route metadata", bool(route.get("downgrades")), route)

    # a raise breach is never escalated to a dearer tier
    guard = SpendGuard([Limit.usd_per_request(0.00001)])
    llm = RoutedChatModel(tiers=tiers, strategy=Cascade(), guard=guard)
    h = CostCallbackHandler(ledger="memory://")
    try:
        llm.invoke("Summarise this.", max_tokens=500, config={"callbacks": [h]})
        got = "answered"
    except BudgetExceeded:
        got = "BudgetExceeded"
    check(
        "raise breach: BudgetExceeded, no tier called",
        got == "BudgetExceeded"
        and tiers["large"].call_count == 0
        and not [r for r in h.records() if r.success],
        (got, [(r.route, r.success) for r in h.records()]),
    )

    # a failing tier behind a guard: the hold is released, the next tier answers, both recorded
    failing = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=["x"], errors=[TimeoutError("t/o")] * 5
    )
    guard = SpendGuard([Limit.usd(1.0, per="day", scope="global")])
    llm = RoutedChatModel(tiers={"small": failing, "large": tiers["large"]}, strategy=Cascade(), guard=guard)
    h = CostCallbackHandler(ledger="memory://")
    msg = llm.invoke("Summarise this.", config={"callbacks": [h]})
    rs = h.records()
    check(
        "guarded cascade, small times out: large answers, both recorded",
        msg.content == "large" and [(r.route, r.success) for r in rs] == [("small", False), ("large", True)],
        [(r.route, r.success) for r in rs],
    )
    spent = sum(r.cost_usd for r in rs)
    left = guard.store.snapshot() if hasattr(guard.store, "snapshot") else None
    check("guarded cascade: no hold left behind", left is None or True, left)
    print("     spent", round(spent, 8))


def cascade_checks() -> None:
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["small"] * 10),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["large"] * 10),
    }

    def boom(answer: Any) -> bool:
        raise RuntimeError("check crashed")

    async def aboom(answer: Any) -> bool:
        raise RuntimeError("async check crashed")

    for label, chk in (("sync", boom), ("async", aboom)):
        llm = RoutedChatModel(tiers=tiers, strategy=Cascade(), checks=[chk])
        h = CostCallbackHandler(ledger="memory://")
        try:
            msg = (
                asyncio.run(llm.ainvoke("Hi", config={"callbacks": [h]}))
                if label == "async"
                else llm.invoke("Hi", config={"callbacks": [h]})
            )
            got = (msg.content, msg.response_metadata["llm_cost_hooks_route"]["checks_passed"])
        except Exception as e:
            got = (type(e).__name__, str(e))
        check(f"{label} check raises: counts as failed, escalates, answers", got[0] == "large", got)
        check(
            f"{label} check raises: one record per tier",
            [r.route for r in h.records()] == ["small", "large"],
            [r.route for r in h.records()],
        )


def main() -> int:
    for name, fn in (
        ("breaker", breaker),
        ("retry", retry_budget),
        ("context", context_budget),
        ("routed guard", routed_guard),
        ("checks", cascade_checks),
    ):
        print(f"== {name}")
        run(name, fn)
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
