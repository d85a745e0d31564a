"""Foundation benchmarks: handler overhead, cold import, ledger throughput.

Run: ``python -m bench foundation``.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import Row, time_per_call


def _bench_model() -> Any:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class FixedUsageChatModel(BaseChatModel):
        """Returns a prebuilt answer with realistic usage; no tokenising on the hot path."""

        @property
        def _llm_type(self) -> str:
            return "bench-fixed"

        def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
            p = super()._get_ls_params(stop=stop, **kwargs)
            p["ls_provider"] = "openai"
            p["ls_model_name"] = "gpt-4o-mini"
            return p

        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            # Native async like real provider clients (the default would hop to a thread pool).
            return self._generate(messages, stop, None, **kw)

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            msg = AIMessage(
                content="Your card should arrive within 3 to 5 business days.",
                usage_metadata={
                    "input_tokens": 412,
                    "output_tokens": 14,
                    "total_tokens": 426,
                    "input_token_details": {"cache_read": 256},
                },
                response_metadata={"model_name": "gpt-4o-mini-2024-07-18"},
            )
            return ChatResult(generations=[ChatGeneration(message=msg)])

    return FixedUsageChatModel()


def _overhead_rows(quick: bool) -> list[Row]:
    from langchain_core.callbacks import UsageMetadataCallbackHandler

    from llm_cost_hooks.langchain import CostCallbackHandler

    model = _bench_model()
    tmp = tempfile.mkdtemp()
    ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/bench.db", defaults={"feature": "bench"})
    usage = UsageMetadataCallbackHandler()
    n = 300 if quick else 2000
    meta = {"tenant_id": "acme", "prompt_version": "v1"}

    configs = {
        "bare": {},
        "usage_handler": {"callbacks": [usage]},
        "ours": {"callbacks": [ours], "metadata": meta},
    }
    sync: dict[str, float] = {}
    for name, cfg in configs.items():
        sync[name] = time_per_call(
            lambda cfg=cfg: model.invoke("When will my card arrive?", config=cfg), number=n
        )
    # Repeat the pair once more and keep the better of each: the 2-core box is noisy.
    sync["usage_handler"] = min(
        sync["usage_handler"],
        time_per_call(
            lambda: model.invoke("When will my card arrive?", config=configs["usage_handler"]), number=n
        ),
    )
    sync["ours"] = min(
        sync["ours"],
        time_per_call(lambda: model.invoke("When will my card arrive?", config=configs["ours"]), number=n),
    )

    async def arun(cfg: dict[str, Any], count: int) -> float:
        for _ in range(50):
            await model.ainvoke("hi", config=cfg)
        rounds = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(count):
                await model.ainvoke("When will my card arrive?", config=cfg)
            rounds.append((time.perf_counter() - t0) / count)
        return statistics.median(rounds)

    asyn = {name: asyncio.run(arun(cfg, n)) for name, cfg in configs.items()}
    ours.flush()
    written = len(list(ours.ledger.records()))
    ours.tracker.close()

    rows = []
    for label, t in (("sync", sync), ("async", asyn)):
        over_usage = (t["usage_handler"] - t["bare"]) * 1e6
        over_ours = (t["ours"] - t["bare"]) * 1e6
        rows.append(Row("foundation", f"bare invoke ({label})", t["bare"] * 1e6, "µs/call"))
        rows.append(
            Row("foundation", f"UsageMetadataCallbackHandler overhead ({label})", over_usage, "µs/call")
        )
        rows.append(
            Row(
                "foundation",
                f"CostCallbackHandler overhead ({label})",
                over_ours,
                "µs/call",
                anchor_name="UsageMetadataCallbackHandler overhead",
                anchor_value=over_usage,
                target="<= 1.5x",
                ok=over_ours <= 1.5 * over_usage,
                note=f"pricing + attribution + SQLite ledger on; {written} records written by the background writer"
                if label == "sync"
                else "",
            )
        )
    return rows


def _cpu_rows(quick: bool) -> list[Row]:
    """The sync overhead again, in CPU seconds of the whole process (every thread: the
    caller's and the ledger writer's, which prices deferred calls) instead of wall time,
    with the ledger flushed inside each measured round so no deferred work escapes it.
    Other processes on a shared box barely move this clock; the rounds are interleaved."""
    from langchain_core.callbacks import UsageMetadataCallbackHandler

    from llm_cost_hooks.langchain import CostCallbackHandler

    model = _bench_model()
    tmp = tempfile.mkdtemp()
    ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/bench-cpu.db", defaults={"feature": "bench"})
    meta = {"tenant_id": "acme", "prompt_version": "v1"}
    configs = {
        "bare": ({}, None),
        "usage_handler": ({"callbacks": [UsageMetadataCallbackHandler()]}, None),
        "ours": ({"callbacks": [ours], "metadata": meta}, ours),
    }
    n, rounds = (300, 5) if quick else (1000, 11)
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    caller: dict[str, list[float]] = {name: [] for name in configs}
    for cfg, _ in configs.values():
        for _ in range(100):
            model.invoke("When will my card arrive?", config=cfg)
    ours.flush()
    for _ in range(rounds):
        for name, (cfg, handler) in configs.items():
            p0, t0 = time.process_time(), time.thread_time()
            for _ in range(n):
                model.invoke("When will my card arrive?", config=cfg)
            if handler is not None:
                handler.flush()  # the writer's pricing and SQLite work belong to these calls
            cpu[name].append((time.process_time() - p0) / n)
            caller[name].append((time.thread_time() - t0) / n)
    ours.tracker.close()

    def over(series: dict[str, list[float]], name: str) -> float:
        return (statistics.median(series[name]) - statistics.median(series["bare"])) * 1e6

    usage_cpu, ours_cpu = over(cpu, "usage_handler"), over(cpu, "ours")
    usage_caller, ours_caller = over(caller, "usage_handler"), over(caller, "ours")
    note = (
        f"median of {rounds} interleaved rounds x {n} calls; process CPU clock, ledger flushed in the round"
    )
    return [
        Row("foundation", "UsageMetadataCallbackHandler overhead (sync, process CPU)", usage_cpu, "µs/call"),
        Row(
            "foundation",
            "CostCallbackHandler overhead (sync, process CPU, all threads)",
            ours_cpu,
            "µs/call",
            anchor_name="UsageMetadataCallbackHandler overhead (CPU)",
            anchor_value=usage_cpu,
            target="<= 1.5x",
            ok=ours_cpu <= 1.5 * usage_cpu,
            note=note,
        ),
        Row(
            "foundation",
            "CostCallbackHandler overhead (sync, caller's thread CPU)",
            ours_caller,
            "µs/call",
            anchor_name="UsageMetadataCallbackHandler overhead (caller CPU)",
            anchor_value=usage_caller,
            target="<= 1.5x",
            ok=ours_caller <= 1.5 * usage_caller,
            note="what the calling thread spends; pricing and the SQLite write run on the ledger's writer",
        ),
    ]


def _import_rows(quick: bool) -> list[Row]:
    def cold(stmt: str) -> float:
        times = []
        for _ in range(5 if quick else 11):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(out.stdout))
        return statistics.median(times) * 1000

    anchor = cold("import langchain_core.language_models")
    used = cold("from llm_cost_hooks.langchain import CostCallbackHandler")
    plain = cold("import llm_cost_hooks.langchain")
    core = cold("import llm_cost_hooks")
    return [
        Row("foundation", "cold import langchain_core.language_models", anchor, "ms"),
        Row(
            "foundation",
            "cold `from llm_cost_hooks.langchain import CostCallbackHandler`",
            used,
            "ms",
            "import langchain_core.language_models",
            anchor,
            "<= 1.1x",
            used <= 1.1 * anchor,
        ),
        Row(
            "foundation",
            "cold `import llm_cost_hooks.langchain` (names load lazily)",
            plain,
            "ms",
            "import langchain_core.language_models",
            anchor,
            "<= 1.1x",
            plain <= 1.1 * anchor,
        ),
        Row("foundation", "cold `import llm_cost_hooks`", core, "ms"),
    ]


def _ledger_rows(quick: bool) -> list[Row]:
    from llm_cost_hooks import CostRecord
    from llm_cost_hooks.ledger import SQLiteLedger

    n = 20_000 if quick else 100_000
    records = [
        CostRecord(
            model="gpt-4o-mini",
            tenant=f"t{i % 50}",
            feature="f",
            input_tokens=400,
            output_tokens=40,
            cost_usd=0.0001,
            task_id=f"task{i // 3}",
        )
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SQLiteLedger(Path(tmp) / "bench.db", max_buffer=n + 1)
        t0 = time.perf_counter()
        for r in records:
            ledger.write(r)
        t_enqueue = time.perf_counter() - t0
        ledger.flush(timeout=120)
        t_total = time.perf_counter() - t0
        stats = ledger.stats
        ledger.close()
    rate = n / t_total
    return [
        Row(
            "foundation",
            "ledger caller cost per record",
            t_enqueue / n * 1e6,
            "µs/record",
            note="time the caller spends in Ledger.write (no I/O on its thread)",
        ),
        Row(
            "foundation",
            "SQLite ledger throughput (end to end)",
            rate,
            "records/s",
            target=">= 50,000/s",
            ok=rate >= 50_000 and stats.dropped == 0,
            note=f"{n} records, dropped={stats.dropped}",
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    return _overhead_rows(quick) + _cpu_rows(quick) + _import_rows(quick) + _ledger_rows(quick)
