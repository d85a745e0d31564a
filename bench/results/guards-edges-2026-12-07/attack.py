"""Attack the edges of budgets and guards from outside, through the installed wheel.

Run from an empty directory with the wheel's venv and a Redis URL:
    REDIS_URL=redis://127.0.0.1:6379 python attack.py [part ...]
Parts: cancel windows concurrency scope memory alerts (default: all).
Prints one line per check: PASS / FAIL, and what was seen.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import sys
import threading
import time
from typing import Any

from langchain_core.messages import BaseMessage

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, AnomalyRule, Limit, SpendGuard, SpendRequest
from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget, SingleFlight
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

REDIS = os.environ.get("REDIS_URL", "")
RESULTS: list[tuple[str, bool, str]] = []
ANSWER = "The parcel left the warehouse on Monday and should arrive by Thursday at the latest."


def check(name: str, ok: bool, seen: str = "") -> None:
    RESULTS.append((name, ok, seen))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {seen}", flush=True)


def guard(amount: float = 1.0, **kw: Any) -> SpendGuard:
    kw.setdefault("alerts", AlertManager(log=False, span_events=False))
    return SpendGuard([Limit.usd(amount, per="day", scope="tenant", name="daily")], **kw)


def md(tenant: str = "acme", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"tenant_id": tenant, **extra}}


class SlowModel(FakeChatModelWithUsage):
    """Waits ``delay`` before answering (sync and async), streams word chunks slowly."""

    delay: float = 0.3

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        time.sleep(self.delay)
        return super()._generate(messages, stop, run_manager, **kw)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        await asyncio.sleep(self.delay)
        return super()._generate(messages, stop, None, **kw)

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        for chunk in super()._stream(messages, stop, None, **kw):
            yield chunk
            await asyncio.sleep(0.02)


class Interrupted(FakeChatModelWithUsage):
    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        raise KeyboardInterrupt


# -- cancellation and aborts ------------------------------------------------------------
def part_cancel() -> None:
    for store in [None, REDIS] if REDIS else [None]:
        where = "redis" if store else "memory"
        g = guard(store=store, lease_seconds=30)
        h = CostCallbackHandler(ledger="memory://")
        cfg = {"callbacks": [h], **md("t-cancel-" + where)}
        t = "t-cancel-" + where
        model = GuardedChatModel(inner=SlowModel(responses=[ANSWER], max_tokens=300, delay=1.0), guard=g)

        async def timeout() -> None:
            await asyncio.wait_for(model.ainvoke("Where is my parcel?", config=cfg), 0.2)

        try:
            asyncio.run(timeout())
        except (asyncio.TimeoutError, TimeoutError):
            pass
        spent, held = g.usage("daily", t)
        check(
            f"[{where}] wait_for timeout mid-call releases the hold", held == 0, f"spent={spent} held={held}"
        )

        # stream stopped after 2 chunks, async: break + aclose
        async def astream_break() -> None:
            agen = model.astream("Where is my parcel?", config=cfg)
            n = 0
            async for _ in agen:
                n += 1
                if n == 2:
                    break
            await agen.aclose()

        before = g.spent("daily", t)
        asyncio.run(astream_break())
        spent, held = g.usage("daily", t)
        recs = h.records()
        last = recs[-1] if recs else None
        check(
            f"[{where}] astream stopped after 2 chunks: hold settled to prompt + 2 chunks",
            held == 0 and spent > before,
            f"spent+={spent - before:.9f} held={held}",
        )
        check(
            f"[{where}] astream stopped after 2 chunks: record counts the streamed output",
            last is not None and last.output_tokens > 0,
            f"record_out={getattr(last, 'output_tokens', None)} cost={getattr(last, 'cost_usd', None)} "
            f"tags={ {k: v for k, v in (last.tags if last else {}).items() if k.startswith('stream')} }",
        )
        # sync stream stopped after 2 chunks
        before = g.spent("daily", t)
        sm = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER], max_tokens=300), guard=g)
        it = sm.stream("Where is my parcel?", config=cfg)
        for i, _ in enumerate(it):
            if i == 1:
                break
        it.close()
        spent, held = g.usage("daily", t)
        last = h.records()[-1]
        check(
            f"[{where}] stream (sync) stopped after 2 chunks: hold settled to prompt + 2 chunks",
            held == 0 and spent > before,
            f"spent+={spent - before:.9f} held={held}",
        )
        check(
            f"[{where}] stream (sync) stopped after 2 chunks: record counts the streamed output",
            0 < last.output_tokens < 20,
            f"out={last.output_tokens} cost={last.cost_usd} est={last.tokens_estimated}",
        )
        # exception from the model
        before = g.spent("daily", t)
        bad = GuardedChatModel(
            inner=FakeChatModelWithUsage(
                responses=[ANSWER], errors=[ConnectionError("reset")], max_tokens=300
            ),
            guard=g,
        )
        try:
            bad.invoke("Where is my parcel?", config=cfg)
        except ConnectionError:
            pass
        spent, held = g.usage("daily", t)
        check(f"[{where}] model exception releases the hold", held == 0 and spent == before, f"held={held}")
        # KeyboardInterrupt in a sync call
        ki = GuardedChatModel(inner=Interrupted(max_tokens=300), guard=g)
        try:
            ki.invoke("Where is my parcel?", config=cfg)
        except KeyboardInterrupt:
            pass
        spent, held = g.usage("daily", t)
        check(f"[{where}] KeyboardInterrupt releases the hold", held == 0, f"held={held}")

        # cancel a task mid-stream
        async def cancel_stream() -> None:
            async def consume() -> None:
                async for _ in model.astream("Where is my parcel?", config=cfg):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.07)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

        before = g.spent("daily", t)
        asyncio.run(cancel_stream())
        spent, held = g.usage("daily", t)
        check(
            f"[{where}] task cancelled mid-astream: settled, no hold",
            held == 0 and spent > before,
            f"held={held}",
        )
        # headroom afterwards is right: a call needing (limit - spent) still fits
        g2 = guard(0.001, store=store)
        m2 = GuardedChatModel(inner=SlowModel(responses=[ANSWER], max_tokens=300, delay=1.0), guard=g2)
        tt = f"t-head-{where}-{os.getpid()}"
        for _ in range(5):
            try:
                asyncio.run(asyncio.wait_for(m2.ainvoke("Where?", config=md(tt)), 0.05))
            except (asyncio.TimeoutError, TimeoutError):
                pass
        spent, held = g2.usage("daily", tt)
        check(
            f"[{where}] 5 timed-out calls leave full headroom",
            spent == 0 and held == 0,
            f"spent={spent} held={held}",
        )

    # LiteLLM: a cancelled acompletion through aguarded_completion
    try:
        from llm_cost_hooks.litellm import aguarded_completion, guarded_completion
    except Exception as exc:  # pragma: no cover
        check("litellm import", False, repr(exc))
        return
    g = guard()

    async def lite_cancel() -> None:
        await asyncio.wait_for(
            aguarded_completion(
                g,
                model="gpt-4o-mini",
                max_tokens=200,
                mock_response="hi",
                mock_delay=1.0,
                messages=[{"role": "user", "content": "hello"}],
                metadata={"tenant_id": "lt"},
            ),
            0.2,
        )

    try:
        asyncio.run(lite_cancel())
    except (asyncio.TimeoutError, TimeoutError):
        pass
    spent, held = g.usage("daily", "lt")
    check("[litellm] wait_for timeout releases the hold", held == 0, f"spent={spent} held={held}")
    try:
        guarded_completion(
            g,
            model="gpt-4o-mini",
            max_tokens=200,
            mock_response=Exception("boom"),
            messages=[{"role": "user", "content": "hello"}],
            metadata={"tenant_id": "lt"},
        )
    except Exception:
        pass
    spent, held = g.usage("daily", "lt")
    check("[litellm] provider error releases the hold", held == 0, f"spent={spent} held={held}")
    worst = g.estimate(SpendRequest(model="gpt-4o-mini", input_tokens=12, max_output_tokens=300))[2]
    stream = guarded_completion(
        g,
        model="gpt-4o-mini",
        max_tokens=300,
        stream=True,
        mock_response=ANSWER,
        messages=[{"role": "user", "content": "Where is my parcel?"}],
        metadata={"tenant_id": "ls"},
    )
    for i, _ in enumerate(stream):
        if i == 1:
            break
    stream.close()
    spent, held = g.usage("daily", "ls")
    check(
        "[litellm] guarded_completion stream stopped after 2 chunks: settled on what was streamed",
        held == 0 and 0 < spent < worst / 5,
        f"spent={spent} worst={worst:.7f} held={held}",
    )
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    g3 = guard(lease_seconds=1.0)
    saved = list(litellm.callbacks)
    litellm.callbacks = [CostHooksLogger(ledger="memory://", guard=g3)]

    async def hooked() -> None:
        try:
            await asyncio.wait_for(
                litellm.acompletion(
                    model="gpt-4o-mini",
                    max_tokens=300,
                    mock_response="hi",
                    mock_delay=2.0,
                    messages=[{"role": "user", "content": "Where?"}],
                    metadata={"tenant_id": "lh"},
                ),
                0.3,
            )
        except (asyncio.TimeoutError, TimeoutError):
            pass
        await asyncio.sleep(3.0)

    asyncio.run(hooked())
    litellm.callbacks = saved
    spent, held = g3.usage("daily", "lh")
    check(
        "[litellm] acompletion via CostHooksLogger(guard) cancelled: hold gone after 3 leases",
        held == 0,
        f"spent={spent} held={held}",
    )


# -- windows ----------------------------------------------------------------------------
def part_windows() -> None:
    from datetime import datetime, timezone

    midnight = datetime(2026, 12, 8, tzinfo=timezone.utc).timestamp()
    now = [midnight - 1.0]
    for store in [None, REDIS] if REDIS else [None]:
        where = "redis" if store else "memory"
        g = guard(0.001, store=store, clock=lambda: now[0])
        now[0] = midnight - 1.0
        req = SpendRequest(
            model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant=f"w-{where}-{os.getpid()}"
        )
        n_day1 = 0
        try:
            while n_day1 < 100:
                g.reserve(req).settle(0.0003)
                n_day1 += 1
        except BudgetExceeded as exc:
            err = exc
        now[0] = midnight + 1.0
        try:
            g.reserve(req).settle(0.0003)
            ok = True
        except BudgetExceeded:
            ok = False
        check(
            f"[{where}] day limit resets at 00:00 UTC",
            n_day1 >= 1 and ok,
            f"day1 calls={n_day1} day2 allowed={ok}",
        )
        check(f"[{where}] refusal says when it resets", "2026-12-08" in str(err), str(err)[:160])
        # reserve before midnight, settle after: counted in the period it was reserved in
        now[0] = midnight + 86400 - 0.5
        r = g.reserve(req)
        now[0] = midnight + 86400 + 0.5
        r.settle(0.0002)
        d2 = g.spent("daily", req.tenant, at=midnight + 10)
        d3 = g.spent("daily", req.tenant, at=midnight + 86400 + 10)
        check(
            f"[{where}] reserve 23:59:59.5 settle 00:00:00.5 counted once",
            abs(d2 - 0.0005) < 1e-9 and d3 == 0,
            f"day2={d2} day3={d3}",
        )
    # month boundary
    g = SpendGuard(
        [Limit.usd(1, per="month", scope="tenant", name="m")],
        alerts=AlertManager(log=False, span_events=False),
        clock=lambda: now[0],
    )
    now[0] = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()
    g.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant="m")).settle(
        0.5
    )
    now[0] = datetime(2027, 1, 1, 0, 0, 1, tzinfo=timezone.utc).timestamp()
    check(
        "[memory] month limit: new month starts at 0",
        g.spent("m", "m") == 0 and g.spent("m", "m", at=now[0] - 10) == 0.5,
        f"jan={g.spent('m', 'm')}",
    )
    # limits of 0, negative, NaN, inf
    for bad in (0, -1, float("nan"), float("inf")):
        try:
            Limit.usd(bad, per="day", scope="tenant")
            check(f"Limit.usd({bad}) refused", False, "accepted")
        except Exception as exc:
            from llm_cost_hooks import ConfigurationError

            check(
                f"Limit.usd({bad}) refused with ConfigurationError",
                isinstance(exc, ConfigurationError),
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
            )
    # limit changed in place: either refused loudly or enforced, never silently ignored
    g = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant", name="daily")],
        alerts=AlertManager(log=False, span_events=False),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="inplace")
    try:
        g.limits.append(Limit.usd(0.001, per="day", scope="global", name="g"))
        n = 0
        try:
            for _ in range(10):
                g.reserve(req).settle(0.00045)
                n += 1
        except BudgetExceeded:
            pass
        check(
            "limit appended to guard.limits: enforced",
            n <= 2,
            f"{n} calls of $0.00045 under an added $0.001 limit",
        )
    except (TypeError, AttributeError) as exc:
        check("limit appended to guard.limits: refused loudly", True, f"{type(exc).__name__}: {exc}")
    # limit changed at run time: a new guard on the same store sees the same spend
    if REDIS:
        t = f"chg-{os.getpid()}"
        g1 = SpendGuard(
            [Limit.usd(0.001, per="day", scope="tenant", name="daily")],
            store=REDIS,
            alerts=AlertManager(log=False, span_events=False),
        )
        g1.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant=t)).settle(
            0.0009
        )
        g2 = SpendGuard(
            [Limit.usd(0.002, per="day", scope="tenant", name="daily")],
            store=REDIS,
            alerts=AlertManager(log=False, span_events=False),
        )
        r = g2.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant=t))
        r.settle(0.0005)
        check(
            "[redis] raised limit (new guard, same store): spend carried, new limit applies",
            abs(g2.spent("daily", t) - 0.0014) < 1e-9,
            f"spent={g2.spent('daily', t)}",
        )


# -- concurrency ------------------------------------------------------------------------
def _proc_worker(url: str, tenant: str, n: int, out: Any) -> None:
    g = SpendGuard(
        [Limit.usd(0.01, per="day", scope="tenant", name="daily")],
        store=url,
        alerts=AlertManager(log=False, span_events=False),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant=tenant)
    done = 0
    for _ in range(n):
        try:
            g.reserve(req).settle(0.00045)
            done += 1
        except BudgetExceeded:
            pass
    out.put(done)


def part_concurrency() -> None:
    worst = None
    for store in [None, REDIS] if REDIS else [None]:
        where = "redis" if store else "memory"
        g = SpendGuard(
            [Limit.usd(0.01, per="day", scope="tenant", name="daily")],
            store=store,
            alerts=AlertManager(log=False, span_events=False),
        )
        tenant = f"c-{where}-{os.getpid()}"
        req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant=tenant)
        worst = g.estimate(req)[2]
        ok = [0]
        lock = threading.Lock()

        def work() -> None:
            for _ in range(20):
                try:
                    g.reserve(req).settle(0.00045)
                    with lock:
                        ok[0] += 1
                except BudgetExceeded:
                    pass

        threads = [threading.Thread(target=work) for _ in range(50)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        spent, held = g.usage("daily", tenant)
        check(
            f"[{where}] 50 threads x 20 calls: spend <= limit",
            spent <= 0.01 + 1e-12 and held == 0,
            f"spent={spent:.6f} held={held} calls={ok[0]} worst={worst:.6f}",
        )

        async def tasks() -> int:
            t2 = tenant + "-a"
            r2 = req.model_copy(update={"tenant": t2})

            async def one() -> int:
                try:
                    r = await g.areserve(r2)
                    await asyncio.sleep(0.001)
                    await r.asettle(0.00045)
                    return 1
                except BudgetExceeded:
                    return 0

            return sum(await asyncio.gather(*[one() for _ in range(200)]))

        n = asyncio.run(tasks())
        spent, held = g.usage("daily", tenant + "-a")
        check(
            f"[{where}] 200 asyncio tasks: spend <= limit",
            spent <= 0.01 + 1e-12 and held == 0,
            f"spent={spent:.6f} calls={n}",
        )
    if REDIS:
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        tenant = f"p-{os.getpid()}"
        procs = [ctx.Process(target=_proc_worker, args=(REDIS, tenant, 30, q)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        done = sum(q.get() for _ in procs)
        g = SpendGuard(
            [Limit.usd(0.01, per="day", scope="tenant", name="daily")],
            store=REDIS,
            alerts=AlertManager(log=False, span_events=False),
        )
        spent, held = g.usage("daily", tenant)
        check(
            "[redis] 4 processes x 30 calls: spend <= limit",
            spent <= 0.01 + 1e-12 and held == 0,
            f"spent={spent:.6f} held={held} calls={done}",
        )


# -- scope --------------------------------------------------------------------------------
def part_scope() -> None:
    flight = SingleFlight(result_ttl=60)

    def run_pair(a: Any, cfg_a: dict, b: Any, cfg_b: dict) -> tuple[str, str]:
        out: list[str] = ["", ""]

        def go(i: int, m: Any, cfg: dict) -> None:
            out[i] = m.invoke("What is my account balance?", config=cfg).content

        t1 = threading.Thread(target=go, args=(0, a, cfg_a))
        t2 = threading.Thread(target=go, args=(1, b, cfg_b))
        t1.start()
        time.sleep(0.05)
        t2.start()
        t1.join()
        t2.join()
        return out[0], out[1]

    ma = GuardedChatModel(inner=SlowModel(responses=["Acme balance: $1,000"], delay=0.3), dedup=flight)
    mb = GuardedChatModel(inner=SlowModel(responses=["Globex balance: $5"], delay=0.3), dedup=flight)
    a, b = run_pair(ma, md("acme", idempotency_key="req-1"), mb, md("globex", idempotency_key="req-1"))
    check(
        "dedup: same explicit key, different tenants -> own answers",
        b == "Globex balance: $5",
        f"globex got {b!r}",
    )
    a, b = run_pair(ma, md("acme2"), mb, md("globex2"))
    check(
        "dedup: identical request, different tenants -> own answers",
        b == "Globex balance: $5",
        f"globex got {b!r}",
    )
    m_t0 = GuardedChatModel(inner=SlowModel(responses=["cold"], delay=0.3, temperature=0.0), dedup=flight)
    m_t1 = GuardedChatModel(inner=SlowModel(responses=["hot"], delay=0.3, temperature=1.0), dedup=flight)
    a, b = run_pair(m_t0, md("t"), m_t1, md("t"))
    check("dedup: different inner temperature -> own answers", b == "hot", f"t=1 got {b!r}")
    mc = GuardedChatModel(inner=SlowModel(responses=["first", "second"], delay=0.3), dedup=flight)
    a, b = run_pair(mc, md("k"), mc.bind(temperature=0.9), md("k"))
    check(
        "dedup: different bound temperature -> two upstream calls",
        {a, b} == {"first", "second"},
        f"{a!r} {b!r}",
    )
    m_other = GuardedChatModel(
        inner=SlowModel(responses=["other model"], delay=0.3, model_name="gpt-4o"), dedup=flight
    )
    a, b = run_pair(ma, md("acme3", idempotency_key="k9"), m_other, md("acme3", idempotency_key="k9"))
    check("dedup: same key, different model -> own answers", b == "other model", f"gpt-4o got {b!r}")
    # LiteLLM: deduplicated_completion with the same key, different tenants / models
    try:
        from llm_cost_hooks.litellm import deduplicated_completion
    except Exception as exc:
        check("litellm import", False, repr(exc))
        return
    f2 = SingleFlight(result_ttl=60)
    r1 = deduplicated_completion(
        f2,
        model="gpt-4o-mini",
        mock_response="acme secret",
        messages=[{"role": "user", "content": "balance?"}],
        metadata={"tenant_id": "acme", "idempotency_key": "r1"},
    )
    r2 = deduplicated_completion(
        f2,
        model="gpt-4o-mini",
        mock_response="globex",
        messages=[{"role": "user", "content": "balance?"}],
        metadata={"tenant_id": "globex", "idempotency_key": "r1"},
    )
    check(
        "[litellm] dedup: same key, different tenants -> own answers",
        r2.choices[0].message.content == "globex",
        f"globex got {r2.choices[0].message.content!r}",
    )
    r3 = deduplicated_completion(
        f2,
        model="gpt-4o",
        mock_response="4o answer",
        messages=[{"role": "user", "content": "balance?"}],
        metadata={"tenant_id": "acme", "idempotency_key": "r1"},
    )
    check(
        "[litellm] dedup: same key, different model -> own answers",
        r3.choices[0].message.content == "4o answer",
        f"gpt-4o got {r3.choices[0].message.content!r}",
    )
    deduplicated_completion(
        f2,
        model="gpt-4o-mini",
        mock_response="acme",
        temperature=0,
        messages=[{"role": "user", "content": "q?"}],
        metadata={"tenant_id": "acme"},
    )
    r5 = deduplicated_completion(
        f2,
        model="gpt-4o-mini",
        mock_response="globex",
        temperature=0,
        messages=[{"role": "user", "content": "q?"}],
        metadata={"tenant_id": "globex"},
    )
    check(
        "[litellm] dedup: identical request, different tenants -> own answers",
        r5.choices[0].message.content == "globex",
        f"globex got {r5.choices[0].message.content!r}",
    )
    # breaker per model
    br = CircuitBreaker(failure_threshold=2)
    bad = GuardedChatModel(
        inner=FakeChatModelWithUsage(errors=[ConnectionError()] * 5, model_name="gpt-4o"), breaker=br
    )
    good = GuardedChatModel(
        inner=FakeChatModelWithUsage(responses=["ok"], model_name="gpt-4o-mini"), breaker=br
    )
    for _ in range(3):
        try:
            bad.invoke("x")
        except Exception:
            pass
    try:
        good.invoke("x")
        ok = True
    except Exception:
        ok = False
    check("breaker: one model open does not block another", ok)
    # retry budget per task
    rb = RetryBudget(max_attempts=2)
    flaky = GuardedChatModel(
        inner=FakeChatModelWithUsage(
            responses=["ok"] * 4, errors=[ConnectionError(), None, ConnectionError(), None]
        ),
        retry=rb,
    )
    r1 = flaky.invoke("x", config=md("acme", task_id="job"))
    r2 = flaky.invoke("x", config=md("globex", task_id="job"))
    check(
        "retry budget: same task_id in two tenants each get their retry",
        r1.content == "ok" and r2.content == "ok",
    )


# -- memory -------------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def part_memory() -> None:
    # Eight simulated days (guard and store on one fake clock), 10,000 new tenants a day, each
    # making one call through GuardedChatModel with dedup, a retry budget, a breaker and an
    # anomaly rule. Today's counters are real data; they must go when their period is over
    # (day limits here: a month limit keeps every user of the month, as it must).
    from llm_cost_hooks.budget import InProcessSpendStore

    now = [1_800_000_000.0]
    store = InProcessSpendStore(clock=lambda: now[0])
    g = SpendGuard(
        [
            Limit.usd(5, per="day", scope="tenant", name="daily"),
            Limit.usd(50, per="day", scope="user", name="u"),
        ],
        store=store,
        clock=lambda: now[0],
        alerts=AlertManager(log=False, span_events=False, anomaly=AnomalyRule(), timer=lambda d, f: None),
    )
    flight = SingleFlight(result_ttl=1)
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(responses=["ok"]),
        guard=g,
        dedup=flight,
        retry=RetryBudget(max_attempts=2),
        breaker=CircuitBreaker(),
    )
    marks = []
    for day in range(8):
        for i in range(10_000):
            model.invoke("hello", config=md(f"tenant-{day}-{i}", user=f"u{day}-{i}"))
            now[0] += 0.01
        now[0] += 86_400
        gc.collect()
        marks.append(_rss_mb())
        print(
            f"  day {day + 1}, {(day + 1) * 10_000} tenants so far: RSS {marks[-1]:.1f} MB; store keys={len(store)} "
            f"anomaly last_check={len(g._anomalies._last_check)} scopes_cache={len(g._scopes_cache)} "
            f"fired={len(g._fired)} dedup results={len(flight._results)}",
            flush=True,
        )
    check(
        "8 days x 10,000 new tenants: RSS flat from day 4 to day 8 (< 5 MB), counters of 2 days only",
        marks[-1] - marks[3] < 5 and len(store) <= 40_000,
        f"RSS MB {[f'{m:.1f}' for m in marks]}",
    )


# -- alerts -------------------------------------------------------------------------------
def part_alerts() -> None:
    from datetime import datetime, timezone

    now = [datetime(2026, 12, 7, 12, tzinfo=timezone.utc).timestamp()]
    for store in [None, REDIS] if REDIS else [None]:
        where = "redis" if store else "memory"
        events: list[Any] = []
        g = SpendGuard(
            [Limit.usd(0.01, per="day", scope="tenant", name="daily")],
            store=store,
            clock=lambda: now[0],
            alerts=AlertManager([events.append], log=False, span_events=False),
        )
        t = f"al-{where}-{os.getpid()}"
        req = SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant=t)
        for day in range(2):
            now[0] = datetime(2026, 12, 7 + day, 12, tzinfo=timezone.utc).timestamp()
            for _ in range(12):
                try:
                    g.reserve(req).settle(0.001)
                except BudgetExceeded:
                    pass
        th = [(e.period_id, e.threshold) for e in events if e.kind == "threshold"]
        want = [(d, x) for d in ("20261207", "20261208") for x in (0.5, 0.8, 1.0)]
        check(f"[{where}] 50/80/100% once per day, again next day", sorted(th) == sorted(want), f"{th}")
    # anomaly on a fresh deployment: first calls, one expensive call
    events = []
    now[0] = datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc).timestamp()
    g = SpendGuard(
        [Limit.usd(100, per="day", scope="tenant", name="daily")],
        clock=lambda: now[0],
        alerts=AlertManager(
            [events.append], log=False, span_events=False, anomaly=AnomalyRule(), timer=lambda d, f: None
        ),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant="fresh")
    for i in range(20):
        now[0] += 10
        g.reserve(req).settle(0.0001 if i != 10 else 0.5)
    g.check_anomalies()
    check(
        "anomaly: fresh deployment's first calls and one expensive call -> none",
        not [e for e in events if e.kind == "anomaly"],
        f"{[(e.kind, e.spent) for e in events if e.kind == 'anomaly']}",
    )
    # steady for 4 hours then one expensive call
    for h in range(4):
        for i in range(10):
            now[0] += 360
            g.reserve(req).settle(0.001)
    now[0] += 10
    g.reserve(req).settle(0.2)
    now[0] += 10
    g.reserve(req).settle(0.0001)
    g.check_anomalies()
    anomalies = [e for e in events if e.kind == "anomaly"]
    check(
        "anomaly: a burst after 4 steady hours fires exactly once", len(anomalies) == 1, f"{len(anomalies)}"
    )

    # sinks that raise / hang
    def raising(e: Any) -> None:
        raise RuntimeError("sink down")

    logged: list[str] = []

    class H(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logging.getLogger("llm_cost_hooks").addHandler(H())
    g = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", name="daily")],
        alerts=AlertManager([raising], log=False, span_events=False),
    )
    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER] * 10), guard=g)
    try:
        for _ in range(8):
            model.invoke("Where is my parcel?", config=md("sink"))
        ok = True
    except BudgetExceeded:
        ok = True
    except Exception as exc:
        ok = False
        logged.append(repr(exc))
    check(
        "alert sink that raises: call goes on, failure logged",
        ok and any("sink" in m for m in logged),
        f"logged={logged[:1]}",
    )

    def hanging(e: Any) -> None:
        time.sleep(30)

    g = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", name="daily")],
        alerts=AlertManager([hanging], log=False, span_events=False),
    )
    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER] * 10), guard=g)
    logged.clear()
    t0 = time.monotonic()
    done = threading.Event()
    worst = [0.0]

    def run() -> None:
        for _ in range(3):
            s = time.monotonic()
            try:
                model.invoke("Where is my parcel? " * 20, config=md("hang"))
            except BudgetExceeded:
                pass
            worst[0] = max(worst[0], time.monotonic() - s)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    done.wait(10)
    check(
        "alert sink that hangs: the call is not stalled",
        done.is_set() and worst[0] < 3,
        f"finished={done.is_set()} slowest call={worst[0] if done.is_set() else time.monotonic() - t0:.1f}s logged={logged[:1]}",
    )


PARTS = {
    "cancel": part_cancel,
    "windows": part_windows,
    "concurrency": part_concurrency,
    "scope": part_scope,
    "memory": part_memory,
    "alerts": part_alerts,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(PARTS):
        print(f"== {name}", flush=True)
        try:
            PARTS[name]()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            check(f"{name}: ran to the end", False, repr(exc))
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    os._exit(1 if failed else 0)
