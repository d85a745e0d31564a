"""CostAwareRouting on a litellm.Router driven from outside (mock_response): one cost record
per call with its tier, the shadow call its own record on route shadow:<tier>, failing
deployments, judge and store.

Run from the repository root:
    PYTHONPATH=$PWD LITELLM_LOCAL_MODEL_COST_MAP=True python bench/results/routing-audit-2026-12-07/audit_litellm.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger, uninstall
from llm_cost_hooks.routing import Rule, RuleRouter, ShadowMode

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: Any = "") -> None:
    RESULTS.append((name, bool(ok), str(detail)))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f"  -- {detail}"))


def run(name: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:
        check(name, False, f"raised {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    finally:
        litellm.callbacks = []
        litellm.success_callback = []
        litellm.failure_callback = []
        litellm._async_success_callback = []
        litellm._async_failure_callback = []


def router(small: Any = "4", large: Any = "4", retries: int = 0) -> Any:
    return litellm.Router(
        model_list=[
            {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": small}},
            {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": large}},
        ],
        num_retries=retries,
    )


def wait(pred: Any, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


MSG = [{"role": "user", "content": "What is 2 + 2?"}]


def routed_records() -> None:
    for mode in ("sync", "async"):
        log = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [log]
        r = router()
        CostAwareRouting(
            r, RuleRouter([Rule(tier="small", feature=["faq"])], default="large"), tiers=["small", "large"]
        )
        if mode == "sync":
            r.completion(model="auto", messages=MSG, metadata={"feature": "faq"})
            r.completion(model="auto", messages=MSG, metadata={"feature": "other"})
        else:

            async def go() -> None:
                await r.acompletion(model="auto", messages=MSG, metadata={"feature": "faq"})
                await r.acompletion(model="auto", messages=MSG, metadata={"feature": "other"})

            asyncio.run(go())
        log.flush()
        rs = log.records()
        got = sorted((rec.model, rec.tags.get("routing.tier")) for rec in rs)
        check(
            f"{mode}: one record per call, tier tagged",
            got == [("gpt-4o", "large"), ("gpt-4o-mini", "small")],
            got,
        )
        uninstall(log)


def shadow_records() -> None:
    for mode in ("sync", "async"):
        d = tempfile.mkdtemp()
        log = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [log]
        r = router()

        def judge(request: Any, answers: Any) -> Any:
            return {t: 1.0 for t in answers}

        shadow = ShadowMode(judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l.db"))
        routing = CostAwareRouting(
            r, RuleRouter([], default="small"), tiers=["small", "large"], shadow=shadow
        )
        if mode == "sync":
            r.completion(model="auto", messages=MSG)
        else:

            async def go() -> None:
                await r.acompletion(model="auto", messages=MSG)
                for _ in range(200):
                    if shadow.stats["written"]:
                        break
                    await asyncio.sleep(0.02)

            asyncio.run(go())
        wait(lambda: shadow.stats["written"] >= 1)
        log.flush()
        rs = log.records()
        got = sorted((str(rec.route), rec.model) for rec in rs)
        check(
            f"{mode} shadow: routed record + shadow:large record",
            got == [("None", "gpt-4o-mini"), ("shadow:large", "gpt-4o")],
            got,
        )
        check(f"{mode} shadow: outcome written", shadow.stats["written"] == 1, shadow.stats)
        litellm.callbacks.remove(routing.shadow_hook)
        uninstall(log)


def failing_shadow() -> None:
    for what in ("judge", "tier", "store"):
        d = tempfile.mkdtemp()
        log = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [log]
        large = (
            litellm.Timeout(message="t/o", model="gpt-4o", llm_provider="openai") if what == "tier" else "4"
        )
        r = router(large="litellm.RateLimitError" if what == "tier" else "4")

        def judge(request: Any, answers: Any) -> Any:
            if what == "judge":
                raise RuntimeError("judge down")
            return {t: 1.0 for t in answers}

        shadow = ShadowMode(judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l.db"))
        if what == "store":
            shutil.rmtree(d)
        routing = CostAwareRouting(
            r, RuleRouter([], default="small"), tiers=["small", "large"], shadow=shadow
        )
        reply = r.completion(model="auto", messages=MSG)
        key = {"judge": "judge_errors", "tier": "call_errors", "store": "write_errors"}[what]
        ok = wait(lambda: shadow.stats[key] >= 1, 5.0)
        check(f"shadow {what} fails: user answered", reply.choices[0].message.content == "4", reply)
        check(f"shadow {what} fails: counted", ok, shadow.stats)
        log.flush()
        rs = log.records()
        check(
            f"shadow {what} fails: served call recorded",
            any(rec.model == "gpt-4o-mini" and rec.success for rec in rs),
            [(rec.model, rec.route, rec.success) for rec in rs],
        )
        del large
        litellm.callbacks.remove(routing.shadow_hook)
        uninstall(log)


def failing_tier() -> None:
    log = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [log]
    r = router(small="litellm.RateLimitError")
    CostAwareRouting(r, RuleRouter([], default="small"), tiers=["small", "large"])
    try:
        r.completion(model="auto", messages=MSG)
        got = "answered"
    except Exception as e:
        got = type(e).__name__
    check("routed tier raises RateLimitError: typed error reaches caller", got == "RateLimitError", got)
    log.flush()
    rs = log.records()
    check(
        "routed tier raises: failure recorded",
        any(not rec.success for rec in rs),
        [(rec.model, rec.success, rec.error_type) for rec in rs],
    )
    uninstall(log)


def streamed() -> None:
    for mode in ("sync", "async"):
        d = tempfile.mkdtemp()
        log = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [log]
        r = router()
        shadow = ShadowMode(
            lambda req, a: {t: 1.0 for t in a}, share=1.0, budget_usd=5.0, store=os.path.join(d, "l.db")
        )
        routing = CostAwareRouting(
            r, RuleRouter([], default="small"), tiers=["small", "large"], shadow=shadow
        )
        if mode == "sync":
            text = "".join(
                c.choices[0].delta.content or ""
                for c in r.completion(model="auto", messages=MSG, stream=True)
            )
        else:

            async def go() -> str:
                out = ""
                async for c in await r.acompletion(model="auto", messages=MSG, stream=True):
                    out += c.choices[0].delta.content or ""
                for _ in range(200):
                    if shadow.stats["written"]:
                        break
                    await asyncio.sleep(0.02)
                return out

            text = asyncio.run(go())
        wait(lambda: shadow.stats["written"] >= 1, 5.0)
        log.flush()
        rs = log.records()
        got = sorted((str(rec.route), rec.model, rec.tags.get("routing.tier")) for rec in rs)
        check(f"{mode} stream: answer streamed", text == "4", text)
        check(
            f"{mode} stream: routed record tagged + shadow record",
            got == [("None", "gpt-4o-mini", "small"), ("shadow:large", "gpt-4o", "large")],
            got,
        )
        check(f"{mode} stream: outcome written", shadow.stats["written"] == 1, shadow.stats)
        litellm.callbacks.remove(routing.shadow_hook)
        uninstall(log)


def main() -> int:
    for name, fn in (
        ("routed", routed_records),
        ("shadow", shadow_records),
        ("failing shadow", failing_shadow),
        ("failing tier", failing_tier),
        ("streamed", streamed),
    ):
        print(f"== {name}")
        run(name, fn)
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
