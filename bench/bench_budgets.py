"""Budgets benchmarks: guardrail overhead (in-process, Redis on loopback) and trim time.

Run: ``python -m bench budgets``. Each row has an anchor measured in the same run:
the bare model call (a fake chat model's ``invoke``), a bare Redis ``PING`` round trip,
and counting the same conversation's tokens once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench._common import Row, percentile, time_per_call

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", REPO / ".." / "shared" / "data"))
MULTIWOZ = DATA / "conversations" / "multiwoz21_val" / "val.json.zip"


def _fixed_model() -> Any:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class FixedUsageChatModel(BaseChatModel):
        """A prebuilt answer with realistic usage; no tokenising on the hot path."""

        max_tokens: int = 300

        @property
        def _llm_type(self) -> str:
            return "bench-fixed"

        def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
            p = super()._get_ls_params(stop=stop, **kwargs)
            p["ls_provider"] = "openai"
            p["ls_model_name"] = "gpt-4o-mini"
            return p

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            msg = AIMessage(
                content="Your card should arrive within 3 to 5 business days.",
                usage_metadata={"input_tokens": 412, "output_tokens": 14, "total_tokens": 426},
            )
            return ChatResult(generations=[ChatGeneration(message=msg)])

    return FixedUsageChatModel()


def _guard_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

    number = 2_000 if quick else 20_000
    model = _fixed_model()
    bare = time_per_call(lambda: model.invoke("Where is my card?"), number=max(number // 10, 200))
    guard = SpendGuard(
        [Limit.usd(1e9, per="day", scope="tenant"), Limit.usd_per_request(1.0), Limit.input_tokens(100_000)],
        alerts=AlertManager(log=False, span_events=False),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")

    def check() -> None:
        guard.reserve(req).settle(0.0001)

    per_call = time_per_call(check, number=number)

    # A tenant past half its day's limit: its 50 % alert has fired and every later
    # settlement ($0.000001 each) stays below 80 %.
    past = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant"), Limit.usd_per_request(1.0), Limit.input_tokens(100_000)],
        alerts=AlertManager(log=False, span_events=False),
    )
    past.reserve(req.model_copy(update={"max_output_tokens": 920_000})).settle(0.55)

    def check_past_half() -> None:
        past.reserve(req).settle(0.000001)

    past_half = time_per_call(check_past_half, number=number)
    return [
        Row(
            "budgets",
            "guardrail reserve+settle, in-process",
            per_call * 1e6,
            "us",
            "bare model.invoke",
            bare * 1e6,
            "< 30 us",
            per_call * 1e6 < 30,
            "3 limits (tenant/day, $/request, input tokens); alerts on, no sinks",
        ),
        Row(
            "budgets",
            "guardrail reserve+settle, in-process, tenant past 50 %",
            past_half * 1e6,
            "us",
            "bare model.invoke",
            bare * 1e6,
            "",
            None,
            "as above, the 50 % alert fired before (informational)",
        ),
    ]


def _redis_server() -> Any:
    spec = importlib.util.spec_from_file_location("_bench_servers", REPO / "tests" / "_servers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["_bench_servers"] = module
    spec.loader.exec_module(module)
    return module.RedisServer()


def _redis_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

    try:
        server = _redis_server()
        server.start()
    except Exception as exc:
        print(f"budgets: Redis unavailable, skipping the Redis row: {exc}", file=sys.stderr)
        return []
    try:
        import redis

        client = redis.Redis.from_url(server.url)
        guard = SpendGuard(
            [Limit.usd(1e9, per="day", scope="tenant"), Limit.usd_per_request(1.0)],
            store=server.url,
            alerts=AlertManager(log=False, span_events=False),
        )
        req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")
        n = 500 if quick else 5_000
        for _ in range(100):  # warm connections and script cache
            client.ping()
            guard.reserve(req).settle(0.0001)
        pings, checks = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            client.ping()
            t1 = time.perf_counter()
            guard.reserve(req).settle(0.0001)
            t2 = time.perf_counter()
            pings.append(t1 - t0)
            checks.append(t2 - t1)
        p50, p99 = percentile(checks, 0.5) * 1e3, percentile(checks, 0.99) * 1e3
        ping50 = percentile(pings, 0.5) * 1e3
        return [
            Row(
                "budgets",
                "guardrail reserve+settle, Redis loopback p50",
                p50,
                "ms",
                "Redis PING p50",
                ping50,
                "< 1 ms p50",
                p50 < 1.0,
                f"2 round trips (reserve + settle Lua scripts); p99 {p99:.3f} ms",
            ),
        ]
    finally:
        server.close()


# One round of the comparison against another checkout: run with that checkout first on
# sys.path, print in-process us/call and Redis ms/call (median of batches).
_ROUND = r"""
import json, os, sys, time
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest
req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")
limits = [Limit.usd(1e9, per="day", scope="tenant"), Limit.usd_per_request(1.0), Limit.input_tokens(100_000)]
def per_call(guard, n, batches):
    for _ in range(n // 10):
        guard.reserve(req).settle(0.0001)
    out = []
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(n):
            guard.reserve(req).settle(0.0001)
        out.append((time.perf_counter() - t) / n)
    return sorted(out)[len(out) // 2]
local = SpendGuard(limits, alerts=AlertManager(log=False, span_events=False))
shared = SpendGuard(limits[:2], store=sys.argv[1], alerts=AlertManager(log=False, span_events=False),
                    key_prefix="bench%d" % os.getpid())
print(json.dumps({"inproc_us": per_call(local, int(sys.argv[2]), 5) * 1e6,
                  "redis_ms": per_call(shared, int(sys.argv[3]), 5) * 1e3}))
"""


def _base_rows(quick: bool) -> list[Row]:
    """``LLM_COST_HOOKS_BENCH_BASE=<checkout>``: reserve+settle of this code vs that
    checkout, in alternating subprocesses against one Redis (same-run ratios)."""
    import subprocess

    base = os.environ.get("LLM_COST_HOOKS_BENCH_BASE")
    if not base:
        return []
    try:
        server = _redis_server()
        server.start()
    except Exception as exc:
        print(f"budgets: Redis unavailable, skipping the comparison: {exc}", file=sys.stderr)
        return []
    rounds = 2 if quick else 4
    n_local, n_redis = (2_000, 300) if quick else (10_000, 1_000)
    runs: dict[str, list[dict[str, float]]] = {"this": [], "base": []}
    try:
        for _ in range(rounds):
            for name, root in (("this", str(REPO)), ("base", base)):
                env = {**os.environ, "PYTHONPATH": root}
                out = subprocess.run(
                    [sys.executable, "-c", _ROUND, server.url, str(n_local), str(n_redis)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=root,
                )
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.close()

    def med(name: str, field: str) -> float:
        values = sorted(r[field] for r in runs[name])
        return values[len(values) // 2]

    rows = []
    for field, label, unit in (("inproc_us", "in-process", "us"), ("redis_ms", "Redis loopback", "ms")):
        this, anchor = med("this", field), med("base", field)
        rows.append(
            Row(
                "budgets",
                f"reserve+settle {label}, this code",
                this,
                unit,
                f"same at {Path(base).name}",
                anchor,
                "ratio <= 1.10",
                this / anchor <= 1.10,
                f"ratio {this / anchor:.2f}; {rounds} alternating rounds x 5 batches, medians",
            )
        )
    return rows


def _conversation(turns: int) -> list[dict[str, Any]] | None:
    if not MULTIWOZ.exists():
        return None
    with zipfile.ZipFile(MULTIWOZ) as zf:
        data = json.load(zf.open("val.json"))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful travel desk assistant."}
    ]
    for _, dialog in sorted(data.items()):
        for i, turn in enumerate(dialog["log"]):
            messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": turn["text"]})
            if len(messages) > turns:
                if messages[-1]["role"] == "assistant":
                    messages.append({"role": "user", "content": "And one more thing?"})
                return messages
    return messages


def _trim_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    from llm_cost_hooks.tokens import default_counter

    messages = _conversation(100)
    if messages is None:
        print(f"budgets: MultiWOZ not found at {MULTIWOZ}; skipping the trim rows", file=sys.stderr)
        return []
    counter = default_counter()
    budget = ContextBudget(
        SegmentBudgets(system=400, policy=500, history=1500, retrieved=3500, tools=1000, output=800),
        model="gpt-4o-mini",
    )
    total = counter.count_messages(messages, "gpt-4o-mini").tokens
    number = 50 if quick else 500
    count_once = time_per_call(
        lambda: counter.count_messages(messages, "gpt-4o-mini"), number=number, warmup=5
    )
    warm = time_per_call(lambda: budget.apply(messages, max_tokens=2000), number=number, warmup=5)
    cold_budget = ContextBudget(budget.budgets_for(None), model="gpt-4o-mini", cache_size=0)
    cold = time_per_call(lambda: cold_budget.apply(messages, max_tokens=2000), number=number, warmup=5)
    result = budget.apply(messages, max_tokens=2000)
    note = (
        f"{len(messages) - 1} turns, {total} tokens -> {result.prompt_tokens} "
        f"({result.removed.get('history', 0)} history tokens removed)"
    )
    return [
        Row(
            "budgets",
            "trim 100-turn conversation (token counts cached)",
            warm * 1e3,
            "ms",
            "count its tokens once",
            count_once * 1e3,
            "< 2 ms",
            warm * 1e3 < 2.0,
            note,
        ),
        Row(
            "budgets",
            "trim 100-turn conversation (no count cache)",
            cold * 1e3,
            "ms",
            "count its tokens once",
            count_once * 1e3,
            "< 2 ms",
            cold * 1e3 < 2.0,
        ),
    ]


def _guarded_model_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
    from llm_cost_hooks.langchain._budget import GuardedChatModel

    model = _fixed_model()
    guarded = GuardedChatModel(
        inner=model,
        guard=SpendGuard(
            [Limit.usd(1e9, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
        ),
        context_budget=ContextBudget(SegmentBudgets(history=1500, output=800)),
    )
    number = 300 if quick else 3_000
    prompt = "Where is my card? It was ordered last week and has not arrived yet."
    bare = time_per_call(lambda: model.invoke(prompt), number=number)
    full = time_per_call(
        lambda: guarded.invoke(prompt, config={"metadata": {"tenant_id": "acme"}}), number=number
    )
    return [
        Row(
            "budgets",
            "GuardedChatModel.invoke (trim+count+reserve+settle)",
            full * 1e6,
            "us",
            "bare model.invoke",
            bare * 1e6,
            "",
            None,
            f"added per call: {(full - bare) * 1e6:.1f} us (informational)",
        )
    ]


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    rows: list[Row] = []
    rows += _guard_rows(quick)
    rows += _redis_rows(quick)
    rows += _base_rows(quick)
    rows += _trim_rows(quick)
    rows += _guarded_model_rows(quick)
    return rows


if __name__ == "__main__":  # pragma: no cover
    from bench._common import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
