"""Soak driver: does a long-running process that uses llm-cost-hooks stay flat?

Run from an empty directory against the installed wheel (not the source tree)::

    python soak.py SCENARIO --calls N [--every K] [--tracemalloc] [--out FILE.json]

Scenarios (unique run ids, task ids and tenants per call, as in a server):

- ``handler``   CostCallbackHandler + SQLite ledger on prompt | model, invoke and ainvoke
- ``unfinished`` calls that never finish: the model raises mid-call, sync streams
  dropped after one chunk, async streams cancelled mid-way, on_chat_model_start with no end
- ``cache``     set_llm_cache(SemanticCache(max_entries=...)) with a stream of new questions
- ``guard``     GuardedChatModel + SpendGuard (in-process store), many tenants, a clock
  moved 10 s per call so hour and day windows roll over
- ``otel``      CostCallbackHandler + OTelObserver (in-memory exporter and metric reader)
- ``litellm``   CostHooksLogger with litellm.acompletion(mock_response=...), 1 in 10 failing

Every ``--every`` calls it samples RSS (VmRSS), len(gc.get_objects()), threads, open fds and
the size of every container (dict, set, list, deque) reachable from the package's own
objects (the handler, tracker, guard, cache, observer, logger; three levels of attributes)
and of every module-level container and lru_cache in llm_cost_hooks.*. ``--tracemalloc``
adds the top growth by file:line between the first and last sample (slow: a shorter run).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from typing import Any

CONTAINERS = (dict, set, frozenset, list, collections.deque)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def _ours(obj: Any) -> bool:
    return type(obj).__module__.startswith("llm_cost_hooks")


def structure_sizes(roots: dict[str, Any], depth: int = 4) -> dict[str, int]:
    """len() of the containers held by the package's objects, by attribute path."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def attrs(obj: Any) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict):
            out.extend(d.items())
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()) or ():
                if isinstance(name, str) and hasattr(obj, name):
                    try:
                        out.append((name, getattr(obj, name)))
                    except Exception:
                        pass
        return out

    def walk(path: str, obj: Any, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        for name, value in attrs(obj):
            sub = f"{path}.{name}"
            if isinstance(value, CONTAINERS):
                try:
                    sizes[sub] = len(value)
                except Exception:
                    continue
                # one level into containers of our objects (e.g. a list of observers)
                if isinstance(value, (list, tuple)) and len(value) <= 16:
                    for i, item in enumerate(value):
                        if _ours(item):
                            walk(f"{sub}[{i}]", item, level + 1)
            elif _ours(value):
                walk(sub, value, level + 1)
            elif hasattr(value, "cache_info"):
                try:
                    sizes[sub + "()"] = value.cache_info().currsize
                except Exception:
                    pass

    for name, root in roots.items():
        walk(name, root, 0)
    for modname, mod in list(sys.modules.items()):
        if not modname.startswith("llm_cost_hooks") or mod is None:
            continue
        for name, value in list(vars(mod).items()):
            if name.startswith("__"):
                continue
            if isinstance(value, CONTAINERS) and not isinstance(value, frozenset):
                sizes[f"{modname}:{name}"] = len(value)
            elif callable(value) and hasattr(value, "cache_info"):
                try:
                    sizes[f"{modname}:{name}()"] = value.cache_info().currsize
                except Exception:
                    pass
            elif isinstance(value, type) and value.__module__ == modname:
                for cname, cvalue in vars(value).items():
                    if hasattr(cvalue, "cache_info"):
                        try:
                            sizes[f"{modname}:{name}.{cname}()"] = cvalue.cache_info().currsize
                        except Exception:
                            pass
    return sizes


class Sampler:
    def __init__(self, scenario: str, every: int, trace: bool) -> None:
        self.scenario, self.every, self.trace = scenario, every, trace
        self.samples: list[dict[str, Any]] = []
        self.roots: dict[str, Any] = {}
        self.extra: Any = None  # callable -> dict of scenario-specific numbers
        self._snap0: Any = None
        self.t0 = time.monotonic()

    def sample(self, calls: int) -> None:
        gc.collect()
        row: dict[str, Any] = {
            "calls": calls,
            "seconds": round(time.monotonic() - self.t0, 1),
            "rss_kb": rss_kb(),
            "gc_objects": len(gc.get_objects()),
            "threads": threading.active_count(),
            "fds": len(os.listdir("/proc/self/fd")),
            "sizes": structure_sizes(self.roots),
        }
        if self.extra is not None:
            row["extra"] = self.extra()
        self.samples.append(row)
        print(
            f"[{self.scenario}] calls={calls} t={row['seconds']}s rss={row['rss_kb']}kB "
            f"objs={row['gc_objects']} threads={row['threads']} fds={row['fds']} "
            + (f"extra={row.get('extra')}" if self.extra else ""),
            flush=True,
        )
        if self.trace and self._snap0 is None and calls > 0:
            self._snap0 = tracemalloc.take_snapshot()

    def growth(self) -> list[dict[str, Any]]:
        """Structures whose size grew from the second sample to the last (the first follows
        warm-up), largest growth first."""
        if len(self.samples) < 3:
            return []
        a, b = self.samples[1]["sizes"], self.samples[-1]["sizes"]
        mid = self.samples[len(self.samples) // 2]["sizes"]
        out = []
        for k, v in b.items():
            start = a.get(k, 0)
            if v > start:
                out.append({"structure": k, "start": start, "middle": mid.get(k, 0), "end": v})
        return sorted(out, key=lambda r: r["end"] - r["start"], reverse=True)

    def trace_top(self, n: int = 15) -> list[str]:
        if not self.trace or self._snap0 is None:
            return []
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        stats = snap.compare_to(self._snap0, "lineno")
        return [str(s) for s in stats[:n]]


# --------------------------------------------------------------------------- models


def make_model(**kw: Any) -> Any:
    from llm_cost_hooks.langchain import FakeChatModelWithUsage

    return FakeChatModelWithUsage(model_name="gpt-4o-mini", **kw)


def meta(i: int, tenants: int) -> dict[str, Any]:
    return {
        "tenant_id": f"tenant-{i % tenants}",
        "task_id": f"task-{i}-{uuid.uuid4().hex[:8]}",
        "feature": "support",
        "route": "/cards",
        "user_id": f"user-{i % 5000}",
    }


# --------------------------------------------------------------------------- scenarios


def close(handler: Any) -> None:
    """Flush and close the ledger before its directory goes."""
    handler.flush()
    handler.tracker.ledger.close()


def run_handler(s: Sampler, calls: int, tmp: str) -> None:
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=f"sqlite:///{tmp}/ledger.db")
    chain = (
        ChatPromptTemplate.from_messages([("system", "You are a bank assistant."), ("human", "{q}")])
        | make_model()
    )
    s.roots = {"handler": handler}
    loop = asyncio.new_event_loop()

    async def batch(start: int, n: int) -> None:
        await asyncio.gather(
            *(
                chain.ainvoke(
                    {"q": f"Question {i}?"}, config={"callbacks": [handler], "metadata": meta(i, 20000)}
                )
                for i in range(start, start + n)
            )
        )

    i = 0
    s.sample(0)
    while i < calls:
        # half sync, half async (in gathers of 20), per block of `every`
        for _ in range(s.every // 2):
            chain.invoke({"q": f"Question {i}?"}, config={"callbacks": [handler], "metadata": meta(i, 20000)})
            i += 1
        for _ in range(s.every // 2 // 20):
            loop.run_until_complete(batch(i, 20))
            i += 20
        handler.tracker.flush()
        s.sample(i)
    loop.close()
    close(handler)


def run_unfinished(s: Sampler, calls: int, tmp: str) -> None:
    from langchain_core.messages import HumanMessage

    from llm_cost_hooks.langchain import CostCallbackHandler

    class Boom(RuntimeError):
        pass

    FakeBase = type(make_model())

    class FailingModel(FakeBase):  # type: ignore[misc, valid-type]
        def _generate(self, *a: Any, **kw: Any) -> Any:
            raise Boom("upstream reset")

        async def _agenerate(self, *a: Any, **kw: Any) -> Any:
            raise Boom("upstream reset")

    handler = CostCallbackHandler(ledger=f"sqlite:///{tmp}/ledger.db")
    model = make_model(responses=["one two three four five six seven eight nine ten"])
    failing = FailingModel(model_name="gpt-4o-mini")
    s.roots = {"handler": handler}
    loop = asyncio.new_event_loop()
    held: collections.deque[Any] = collections.deque(maxlen=50)  # streams kept a while, then dropped

    async def cancelled(i: int) -> None:
        async def consume() -> None:
            async for _ in model.astream("hi", config={"callbacks": [handler], "metadata": meta(i, 20000)}):
                await asyncio.sleep(0)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    i = 0
    s.sample(0)
    while i < calls:
        for _ in range(s.every // 4):
            kind = i % 4
            cfg = {"callbacks": [handler], "metadata": meta(i, 20000)}
            if kind == 0:  # the model raises before its end
                try:
                    failing.invoke("hi", config=cfg)
                except Boom:
                    pass
            elif kind == 1:  # a sync stream: one chunk read, the generator dropped unclosed
                it = iter(model.stream("hi", config=cfg))
                next(it)
                held.append(it)
            elif kind == 2:  # an async stream cancelled mid-way
                loop.run_until_complete(cancelled(i))
            else:  # LangChain's start without an end (or error)
                run_id = uuid.uuid4()
                handler.on_chat_model_start(
                    {"kwargs": {"model_name": "gpt-4o-mini"}, "name": "ChatOpenAI"},
                    [[HumanMessage(content="hi")]],
                    run_id=run_id,
                    metadata=cfg["metadata"],
                    invocation_params={"model_name": "gpt-4o-mini", "_type": "openai-chat"},
                )
            i += 1
        for _ in range(s.every - s.every // 4):
            model.invoke("hi", config={"callbacks": [handler], "metadata": meta(i, 20000)})
            i += 1
        handler.tracker.flush()
        s.sample(i)
    held.clear()
    # A cancelled `async for` leaves its generator to the loop's finalizer: run it before
    # the ledger closes (a server's loop runs it on its next turn).
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    close(handler)


def run_cache(s: Sampler, calls: int, tmp: str, max_entries: int) -> None:
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import CostCallbackHandler, SemanticCache

    cache = SemanticCache(path=f"{tmp}/cache.db", max_entries=max_entries)
    set_llm_cache(cache)
    handler = CostCallbackHandler(ledger=f"sqlite:///{tmp}/ledger.db")
    model = make_model(responses=["Cards arrive in 3-5 working days."])
    s.roots = {"cache": cache, "handler": handler}
    topics = ["card", "loan", "mortgage", "account", "transfer", "fee", "branch", "app", "pin", "limit"]
    verbs = ["open", "close", "change", "cancel", "renew", "check", "raise", "lower", "block", "find"]

    def backend_count() -> dict[str, Any]:
        core = getattr(cache, "core", None)
        backend = getattr(core, "backend", None)
        n = len(getattr(backend, "_entries", ())) if backend is not None else -1
        return {
            "entries": n,
            "db_bytes": os.path.getsize(f"{tmp}/cache.db") if os.path.exists(f"{tmp}/cache.db") else 0,
        }

    s.extra = backend_count
    i = 0
    s.sample(0)
    while i < calls:
        for _ in range(s.every):
            q = f"How do I {verbs[i % 10]} my {topics[(i // 10) % 10]} number {i} at branch {i * 7919 % 100003}?"
            model.invoke(q, config={"callbacks": [handler], "metadata": meta(i, 500)})
            i += 1
        s.sample(i)
    set_llm_cache(None)
    close(handler)


def run_guard(s: Sampler, calls: int, tmp: str) -> None:
    from llm_cost_hooks import Limit, SpendGuard
    from llm_cost_hooks.budget import InProcessSpendStore
    from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel

    now = [1_800_000_000.0]
    guard = SpendGuard(
        [
            Limit.usd(25, per="hour", scope="tenant"),
            Limit.usd(100, per="day", scope="tenant"),
            Limit.usd_per_request(0.05),
        ],
        # the store on the same moved clock: its keys expire when the windows end
        store=InProcessSpendStore(clock=lambda: now[0]),
        clock=lambda: now[0],
    )
    model = GuardedChatModel(inner=make_model(), guard=guard)
    handler = CostCallbackHandler(ledger=f"sqlite:///{tmp}/ledger.db")
    s.roots = {"guard": guard, "model": model, "handler": handler}
    i = 0
    s.sample(0)
    while i < calls:
        for _ in range(s.every):
            model.invoke("Where is my order?", config={"callbacks": [handler], "metadata": meta(i, 15000)})
            now[0] += 10.0  # 360 calls an hour: windows roll every 360 calls, days every 8640
            i += 1
        handler.tracker.flush()
        s.sample(i)
    close(handler)


def run_otel(s: Sampler, calls: int, tmp: str) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.langchain import CostCallbackHandler
    from llm_cost_hooks.telemetry import OTelObserver

    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    mp = MeterProvider(metric_readers=[reader])
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    handler = CostCallbackHandler(ledger=f"sqlite:///{tmp}/ledger.db", observers=[observer])
    model = make_model()
    s.roots = {"handler": handler, "observer": observer}
    last = {"points": 0, "spans": 0}

    def points() -> dict[str, Any]:
        return dict(last)

    s.extra = points
    i = 0
    s.sample(0)
    while i < calls:
        for _ in range(s.every):
            model.invoke("hi", config={"callbacks": [handler], "metadata": meta(i, 12000)})
            i += 1
        handler.tracker.flush()
        tp.force_flush()
        data = reader.get_metrics_data()
        n = 0
        per: dict[str, int] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    k = len(list(m.data.data_points))
                    per[m.name] = k
                    n += k
        last["points"] = n
        last["max_per_metric"] = max(per.values()) if per else 0
        last["spans"] += len(exporter.get_finished_spans())
        exporter.clear()
        s.sample(i)
    close(handler)
    tp.shutdown()
    mp.shutdown()


def run_litellm(s: Sampler, calls: int, tmp: str) -> None:
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger=f"sqlite:///{tmp}/ledger.db")
    litellm.callbacks = [logger]
    s.roots = {"logger": logger}
    msgs = [{"role": "user", "content": "Where is my order?"}]

    async def one(i: int) -> None:
        fail = i % 10 == 0
        try:
            await litellm.acompletion(
                model="gpt-4o-mini",
                messages=msgs,
                mock_response=Exception("upstream down") if fail else "It ships tomorrow.",
                num_retries=0,
                metadata=meta(i, 11000),
            )
        except Exception:
            if not fail:
                raise

    async def main() -> None:
        i = 0
        s.sample(0)
        while i < calls:
            for _ in range(s.every // 10):
                await asyncio.gather(*(one(j) for j in range(i, i + 10)))
                i += 10
            await asyncio.sleep(0.05)  # LiteLLM logs success on its own tasks/threads
            s.sample(i)

    asyncio.run(main())
    litellm.callbacks = []
    time.sleep(1)
    close(logger)


SCENARIOS = {
    "handler": run_handler,
    "unfinished": run_unfinished,
    "cache": run_cache,
    "guard": run_guard,
    "otel": run_otel,
    "litellm": run_litellm,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=5000)
    ap.add_argument("--max-entries", type=int, default=5000)
    ap.add_argument("--tracemalloc", action="store_true")
    # Shortens the tracker's one hour before a run with no end is ended (a private constant,
    # so a soak of minutes shows what an hour does); 0 leaves it alone.
    ap.add_argument("--stale-seconds", type=float, default=0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.tracemalloc:
        tracemalloc.start(1)
    import llm_cost_hooks

    if args.stale_seconds:
        from llm_cost_hooks.tracking import _tracker

        if not hasattr(_tracker, "_STALE_RUN_NS"):
            sys.exit("this llm_cost_hooks has no stale-run bound (_STALE_RUN_NS)")
        _tracker._STALE_RUN_NS = int(args.stale_seconds * 1e9)  # type: ignore[attr-defined]

    s = Sampler(args.scenario, args.every, args.tracemalloc)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        if args.scenario == "cache":
            run_cache(s, args.calls, tmp, args.max_entries)
        else:
            SCENARIOS[args.scenario](s, args.calls, tmp)
    result = {
        "scenario": args.scenario,
        "calls": args.calls,
        "package": llm_cost_hooks.__file__,
        "samples": [{k: v for k, v in r.items() if k != "sizes"} for r in s.samples],
        "growth": s.growth(),
        "tracemalloc_top": s.trace_top(),
    }
    for g in result["growth"][:25]:
        print(f"  grew {g['structure']}: {g['start']} -> {g['middle']} -> {g['end']}")
    for line in result["tracemalloc_top"]:
        print("  tm", line)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
