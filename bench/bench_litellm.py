"""LiteLLM integration: callback overhead per call, and batch-API cost against realtime.

1. Per-call overhead, same run, interleaved rounds: ``litellm.completion`` with a mocked
   response carrying realistic usage, (a) with no callback, (b) with LiteLLM's own
   documented cost callback (a ``success_callback`` function reading
   ``kwargs["response_cost"]``), (c) with :class:`CostHooksLogger`. A round is N calls
   plus the wait until every callback ran (sync callbacks run on LiteLLM's logging
   thread), so the per-call figure includes the callback's own work.
2. Batch vs realtime on the same 1,000 requests (real customer queries from
   banking77, ``../shared/data``): the realtime path sends each through
   ``litellm.completion`` to the local OpenAI-compatible server (tests/openai_stub_server.py)
   with :class:`CostHooksLogger`; the batch path queues them in :class:`BatchQueue` and runs
   the real files + batches flow through ``LiteLLMBatchClient`` against the same server.
   Both totals come from the ledgers. The server's usage rule is deterministic
   (characters // 4 + 7 prompt tokens, ``max_tokens`` completion tokens), so the two paths
   see the same tokens and the ratio is the price difference alone.

Run: ``python -m bench litellm`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import csv
import gc
import gzip
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import Row, time_per_call

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", REPO / ".." / "shared" / "data"))
BANKING = DATA / "semantic_cache" / "banking77" / "test.csv.gz"
OVERHEAD_TARGET_US = 150.0


def _mock(litellm: object) -> object:
    from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

    return litellm.ModelResponse(  # type: ignore[attr-defined]
        model="gpt-4o-mini",
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Your card arrives in 3 days."},
                "finish_reason": "stop",
            }
        ],
        usage=Usage(
            prompt_tokens=1200,
            completion_tokens=80,
            total_tokens=1280,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=1024),
            completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=0),
        ),
    )


def _overhead(quick: bool) -> list[Row]:
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    msgs = [{"role": "user", "content": "When will my new card arrive?"}]
    meta = {"tenant_id": "acme", "feature": "support", "route": "/cards"}
    mock = _mock(litellm)
    seen = {"n": 0}
    lock = threading.Lock()

    def litellm_cost_callback(kwargs, completion_response, start_time, end_time):
        # LiteLLM's documented cost-tracking callback.
        cost = kwargs.get("response_cost", 0) or 0
        with lock:
            seen["n"] += 1
            seen["usd"] = seen.get("usd", 0.0) + cost

    ours = CostHooksLogger(ledger="memory://")

    def ours_done() -> int:  # one cost check per recorded success
        return sum(ours.cost_checks.values())

    saved = (list(litellm.callbacks), list(litellm.success_callback), list(litellm._async_success_callback))

    def configure(kind: str) -> None:
        litellm.callbacks = []
        litellm.success_callback = []
        litellm._async_success_callback = []
        if kind == "litellm":
            litellm.success_callback = [litellm_cost_callback]
        elif kind == "ours":
            litellm.callbacks = [ours]

    def one_round(kind: str, n: int) -> float:
        configure(kind)
        base = seen["n"] if kind == "litellm" else ours_done()
        gc.collect()
        gc.disable()  # a collection landing in one round but not the other is pure noise
        try:
            t0 = time.perf_counter()
            for _ in range(n):
                litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response=mock, metadata=meta)
            if kind == "litellm":
                while seen["n"] < base + n:
                    time.sleep(0.0002)
            elif kind == "ours":
                while ours_done() < base + n:
                    time.sleep(0.0002)
            return (time.perf_counter() - t0) / n
        finally:
            gc.enable()

    n = 100 if quick else 200
    rounds = 3 if quick else 15
    try:
        for kind in ("none", "litellm", "ours"):  # warm-up: imports, price map, tokenizer
            one_round(kind, 30)
        results: dict[str, list[float]] = {"none": [], "litellm": [], "ours": []}
        for _ in range(rounds):
            for kind in ("none", "litellm", "ours"):
                results[kind].append(one_round(kind, n))
    finally:
        litellm.callbacks, litellm.success_callback, litellm._async_success_callback = (
            saved[0],
            saved[1],
            saved[2],
        )
    none_us = statistics.median(results["none"]) * 1e6
    lit_us = statistics.median(results["litellm"]) * 1e6
    ours_us = statistics.median(results["ours"]) * 1e6
    # Paired differences: each round's "with" minus the same round's "without".
    ours_diff = statistics.median(o - b for o, b in zip(results["ours"], results["none"])) * 1e6
    lit_diff = statistics.median(o - b for o, b in zip(results["litellm"], results["none"])) * 1e6
    spread = (max(results["none"]) - min(results["none"])) * 1e6
    mismatched = ours.cost_checks["mismatched"]
    rec = ours.records()
    handler_us, litellm_handler_us = _handler_work(litellm, ours, msgs, meta, mock, quick)
    return [
        Row(
            "litellm",
            "completion, no callback",
            none_us,
            "us/call",
            note=f"median of {rounds} interleaved rounds x {n} calls; round-to-round spread {spread:.0f} us",
        ),
        Row(
            "litellm",
            "completion + LiteLLM's own cost callback",
            lit_us,
            "us/call",
            anchor_name="no callback",
            anchor_value=none_us,
        ),
        Row(
            "litellm",
            "completion + CostHooksLogger",
            ours_us,
            "us/call",
            anchor_name="LiteLLM's cost callback",
            anchor_value=lit_us,
        ),
        Row(
            "litellm",
            "CostHooksLogger overhead vs no callback (paired rounds)",
            ours_diff,
            "us/call",
            anchor_name="LiteLLM cost callback overhead",
            anchor_value=lit_diff,
            target=f"<= {OVERHEAD_TARGET_US:.0f} us",
            ok=ours_diff <= OVERHEAD_TARGET_US,
            note=f"{len(rec)} records written; cost mismatches vs LiteLLM: {mismatched}",
        ),
        Row(
            "litellm",
            "CostHooksLogger handler work (pre + success event)",
            handler_us,
            "us/call",
            anchor_name="LiteLLM cost callback's work",
            anchor_value=litellm_handler_us,
            target=f"<= {OVERHEAD_TARGET_US:.0f} us",
            ok=handler_us <= OVERHEAD_TARGET_US,
            note="the events of a real completion replayed on fresh call ids; no LiteLLM work included",
        ),
    ]


def _handler_work(
    litellm: Any, ours: Any, msgs: Any, meta: Any, mock: Any, quick: bool
) -> tuple[float, float]:
    """Time the handlers alone on the kwargs LiteLLM really passed for one completion."""
    import uuid

    from litellm.integrations.custom_logger import CustomLogger

    captured: dict[str, Any] = {}

    class Capture(CustomLogger):
        def log_pre_api_call(self, model, messages, kwargs):
            captured["pre"] = (model, messages, kwargs)

        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            captured["ok"] = (kwargs, response_obj, start_time, end_time)

    saved = list(litellm.callbacks)
    litellm.callbacks = [Capture()]
    try:
        litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response=mock, metadata=meta)
        deadline = time.monotonic() + 10
        while "ok" not in captured and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        litellm.callbacks = saved
    model, messages, pre_kwargs = captured["pre"]
    ok_kwargs, response, start, end = captured["ok"]
    pre_kwargs, ok_kwargs = dict(pre_kwargs), dict(ok_kwargs)

    def ours_pair() -> None:
        cid = uuid.uuid4().hex
        pre_kwargs["litellm_call_id"] = cid
        ok_kwargs["litellm_call_id"] = cid
        ours.log_pre_api_call(model, messages, pre_kwargs)
        ours.log_success_event(ok_kwargs, response, start, end)

    total = {"usd": 0.0}

    def litellm_cost_callback() -> None:  # the documented cost callback's body
        total["usd"] += ok_kwargs.get("response_cost", 0) or 0

    number = 500 if quick else 3000
    ours_s = time_per_call(ours_pair, number=number, repeat=5)
    theirs_s = time_per_call(litellm_cost_callback, number=number, repeat=5)
    ours.flush()
    return ours_s * 1e6, theirs_s * 1e6


def _queries(n: int) -> list[str] | None:
    if not BANKING.exists():
        return None
    with gzip.open(BANKING, "rt", encoding="utf-8", newline="") as f:
        rows = [r["text"] for r in csv.DictReader(f)]
    return rows[:n]


def _batch_vs_realtime(quick: bool) -> list[Row]:
    n = 200 if quick else 1000
    queries = _queries(n)
    if queries is None:
        print(
            f"bench litellm: {BANKING} not found; skipping the batch-vs-realtime rows "
            "(set LLM_COST_HOOKS_DATA_DIR)",
            file=sys.stderr,
        )
        return []
    sys.path.insert(0, str(REPO / "tests"))
    import litellm
    from _servers import free_port, start_process, tcp_ready

    from llm_cost_hooks.batch import Backoff, BatchQueue, ResultStatus
    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMBatchClient

    port = free_port()
    server = start_process(
        [sys.executable, str(REPO / "tests" / "openai_stub_server.py"), str(port)], tcp_ready(port)
    )
    base = f"http://127.0.0.1:{port}/v1"
    system = {"role": "system", "content": "Classify the banking request and answer in one sentence."}
    saved = list(litellm.callbacks)
    try:
        realtime = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [realtime]
        t0 = time.perf_counter()
        for i, q in enumerate(queries):
            litellm.completion(
                model="openai/gpt-4o-mini",
                api_base=base,
                api_key="sk-bench",
                messages=[system, {"role": "user", "content": q}],
                max_tokens=40,
                metadata={"tenant_id": "acme", "feature": "triage", "task_id": f"rt-{i}"},
            )
        deadline = time.monotonic() + 60
        while len(realtime.records()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        rt_seconds = time.perf_counter() - t0
        litellm.callbacks = []
        rt_records = realtime.records()
        rt_cost = sum(r.cost_usd for r in rt_records)

        with tempfile.TemporaryDirectory() as tmp:
            queue = BatchQueue(
                LiteLLMBatchClient(api_base=base, api_key="sk-bench"),
                Path(tmp) / "state.json",
                ledger="memory://",
                backoff=Backoff(initial=0.05, factor=2, maximum=1.0),
            )
            t0 = time.perf_counter()
            for i, q in enumerate(queries):
                queue.add(
                    "gpt-4o-mini",
                    [system, {"role": "user", "content": q}],
                    custom_id=f"b-{i}",
                    max_tokens=40,
                    metadata={"tenant_id": "acme", "feature": "triage", "deferrable": True},
                )
            results = queue.run(timeout=300)
            batch_seconds = time.perf_counter() - t0
            queue.tracker.flush()
            b_records = list(queue.tracker.ledger.records())
        b_cost = sum(r.cost_usd for r in b_records)
        completed = sum(r.status is ResultStatus.COMPLETED for r in results.values())
        same_tokens = sum(r.input_tokens for r in rt_records) == sum(
            r.input_tokens for r in b_records
        ) and sum(r.output_tokens for r in rt_records) == sum(r.output_tokens for r in b_records)
    finally:
        litellm.callbacks = saved
        server.stop()
    return [
        Row(
            "litellm",
            f"batch path cost, {n} banking77 requests",
            b_cost,
            "USD",
            anchor_name="realtime path cost",
            anchor_value=rt_cost,
            target="<= 0.5x realtime (gpt-4o-mini batch price)",
            ok=rt_cost > 0 and b_cost <= 0.5 * rt_cost + 1e-12,
            note=f"{completed}/{n} completed via files+batches API; same tokens both paths: {same_tokens}",
        ),
        Row(
            "litellm",
            "batch path saved_usd recorded",
            sum(r.saved_usd for r in b_records),
            "USD",
            anchor_name="realtime - batch",
            anchor_value=rt_cost - b_cost,
        ),
        Row(
            "litellm",
            "wall time, batch flow (local endpoint)",
            batch_seconds,
            "s",
            anchor_name="realtime flow",
            anchor_value=rt_seconds,
            note="local stub: measures our client-side work, not a provider's 24 h window",
        ),
    ]


def _pre_call_hook(quick: bool) -> list[Row]:
    """The logger's pre-call hook on a realistic request (40-turn conversation, a long
    Claude system prompt): context budget + prompt-cache breakpoints + spend guard, and the
    hook with nothing configured, next to a bare ``acompletion`` (mock) in the same run."""
    import asyncio

    import litellm

    from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
    from llm_cost_hooks.litellm import CostHooksLogger

    system = " ".join(
        f"Rule {i}: check the account, quote policy {i}, never promise refunds." for i in range(150)
    )
    msgs = [{"role": "system", "content": system}]
    for i in range(40):
        msgs += [
            {"role": "user", "content": f"Turn {i}: where is my parcel number {1000 + i}?"},
            {"role": "assistant", "content": f"Turn {i}: it left the depot and arrives in {i % 5 + 1} days."},
        ]
    msgs.append({"role": "user", "content": "And the refund for the broken one?"})
    base = {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 2000,
        "metadata": {"route": "support", "tenant_id": "acme"},
        "litellm_call_id": "x",
    }
    full = CostHooksLogger(
        ledger="memory://",
        prompt_cache=True,
        context_budget=ContextBudget({"support": SegmentBudgets(history=800, output=800)}),
        guard=SpendGuard([Limit.usd(1e6, per="day", scope="tenant")], alerts=AlertManager(log=False)),
    )
    idle = CostHooksLogger(ledger="memory://")
    loop = asyncio.new_event_loop()
    counter = iter(range(10**9))

    def hook(cl: Any) -> Any:
        def call() -> None:
            kw = {**base, "messages": msgs, "litellm_call_id": f"b{next(counter)}"}
            loop.run_until_complete(cl.async_pre_call_deployment_hook(kw, "acompletion"))
            cl._release(kw["litellm_call_id"])  # a call that never happens gives its hold back
            cl._prepared.clear()

        return call

    def bare() -> None:
        loop.run_until_complete(
            litellm.acompletion(model="gpt-4o-mini", messages=msgs[-1:], mock_response="ok")
        )

    n = 50 if quick else 300
    try:
        full_us = time_per_call(hook(full), number=n, warmup=20) * 1e6
        idle_us = time_per_call(hook(idle), number=n, warmup=20) * 1e6
        saved_callbacks = list(litellm.callbacks)
        litellm.callbacks = []
        try:
            bare_us = time_per_call(bare, number=n // 5 or 1, warmup=5) * 1e6
        finally:
            litellm.callbacks = saved_callbacks
    finally:
        loop.close()
    return [
        Row(
            "litellm",
            "pre-call hook: trim 83 msgs + breakpoints + reserve",
            full_us,
            "us/call",
            anchor_name="bare acompletion (mock, no callback)",
            anchor_value=bare_us,
            note="40-turn conversation trimmed to an 800-token history, ~2,000-token system prompt marked",
        ),
        Row(
            "litellm",
            "pre-call hook with nothing configured",
            idle_us,
            "us/call",
            anchor_name="bare acompletion (mock, no callback)",
            anchor_value=bare_us,
        ),
    ]


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return _overhead(quick) + _pre_call_hook(quick) + _batch_vs_realtime(quick)
