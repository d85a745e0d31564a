"""Foundation benchmarks: handler overhead, cold import, ledger throughput.

Run: ``python -m bench foundation``.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    CLOCK_LABELS,
    CLOCKS,
    Arm,
    Row,
    fixed_usage_model,
    interleaved_cost,
    ratio_interval,
    realistic_model,
    threads_started_by,
)

# The sides of the CPU rows alternate every BLOCK calls: short enough that a change in the
# machine's speed hits all of them alike, long enough that a side's calls follow each other
# as in an application (switching sides on every call read higher, and less steadily). A
# round is CPU_ROUNDS[0] blocks a side, then the ledger flush; CPU_ROUNDS[1] rounds.
BLOCK = 20
CPU_ROUNDS = (20, 20)


def _overhead_rows(quick: bool) -> list[Row]:
    from langchain_core.callbacks import UsageMetadataCallbackHandler

    from llm_cost_hooks.langchain import CostCallbackHandler

    model = fixed_usage_model()
    tmp = tempfile.mkdtemp()
    ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/bench.db", defaults={"feature": "bench"})
    usage = UsageMetadataCallbackHandler()
    n = 300 if quick else 2000
    meta = {"tenant_id": "acme", "prompt_version": "v1"}

    # The same call on every side (the application's metadata included): only the handler differs.
    configs = {
        "bare": {"metadata": meta},
        "usage_handler": {"callbacks": [usage], "metadata": meta},
        "ours": {"callbacks": [ours], "metadata": meta},
    }

    # Sync overhead is measured by _cpu_rows (interleaved rounds on three clocks): one wall-time
    # pass per side here was dominated by noise (negative overheads on a 2-core machine).
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
    for label, t in (("async", asyn),):
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
                note=f"pricing + attribution + SQLite ledger on; {written} records written by the background "
                "writer; LangChain runs a sync handler such as UsageMetadataCallbackHandler in a thread "
                "pool on async calls",
            )
        )
    return rows


def _cpu_rows(quick: bool) -> list[Row]:
    """Sync overhead per call on three clocks (wall, the caller's thread CPU, the whole
    process's CPU: the caller's and the ledger writer's, which prices deferred calls and
    writes SQLite), for a cheap fixed-usage model and a realistic one (parses an OpenAI
    JSON response). No handler / UsageMetadataCallbackHandler / ours alternate every
    :data:`BLOCK` calls; the writer's CPU is read from its own thread clock and the ledger
    is flushed at the end of every round, so no deferred work escapes."""
    from langchain_core.callbacks import UsageMetadataCallbackHandler

    from llm_cost_hooks.langchain import CostCallbackHandler

    blocks, rounds = (5, 6) if quick else CPU_ROUNDS
    meta = {"tenant_id": "acme", "prompt_version": "v1"}
    rows: list[Row] = []
    tmp = tempfile.mkdtemp()
    for label, model in (
        ("cheap fixed-usage model", fixed_usage_model()),
        ("realistic model", realistic_model()),
    ):
        ours, writer = threads_started_by(
            lambda: CostCallbackHandler(
                ledger=f"sqlite:///{tmp}/bench-{len(rows)}.db", defaults={"feature": "bench"}
            )
        )
        if not writer:
            raise RuntimeError("the SQLite ledger started no writer thread: its CPU would go uncounted")
        # The same call on every side (the application's metadata included): only the
        # handler differs, as in the telemetry benchmark.
        bare_cfg = {"metadata": meta}
        usage_cfg = {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}
        ours_cfg = {"callbacks": [ours], "metadata": meta}
        prompt = "When will my card arrive?"
        run = interleaved_cost(
            {
                "bare": Arm(lambda m=model: m.invoke(prompt, config=bare_cfg)),
                "usage": Arm(lambda m=model: m.invoke(prompt, config=usage_cfg)),
                "ours": Arm(lambda m=model: m.invoke(prompt, config=ours_cfg), writer, ours.flush),
            },
            block=BLOCK,
            blocks_per_round=blocks,
            rounds=rounds,
        )
        cost = run.cost
        written = ours.ledger.stats.written
        ours.tracker.close()
        for clock in CLOCKS:
            usage_over, u_lo, u_hi = cost["usage"].excess(cost["bare"], clock)
            ours_over, o_lo, o_hi = cost["ours"].excess(cost["bare"], clock)
            _, r_lo, r_hi = ratio_interval(cost["ours"], cost["usage"], cost["bare"], clock)
            what = CLOCK_LABELS[clock]
            spread = (
                f"90% intervals from resampling the rounds: ratio {r_lo:.2f}-{r_hi:.2f}x, "
                f"this {o_lo * 1e6:.1f}-{o_hi * 1e6:.1f} µs, anchor {u_lo * 1e6:.1f}-{u_hi * 1e6:.1f} µs"
            )
            note = spread
            if clock == "process":
                note = (
                    f"{spread}; means over {run.how()}; the same config metadata on every side; "
                    f"SQLite ledger writer's thread CPU counted, flushed every round ({written} records "
                    f"written); CPU of threads of no side {run.unowned_cpu * 1e6:.1f} µs/call; "
                    f"{run.seconds:.1f} s for these rounds"
                )
            rows += [
                Row("foundation", f"{label}: no handler ({what})", cost["bare"].mean(clock) * 1e6, "µs/call"),
                Row(
                    "foundation",
                    f"{label}: UsageMetadataCallbackHandler overhead ({what})",
                    usage_over * 1e6,
                    "µs/call",
                ),
                Row(
                    "foundation",
                    f"{label}: CostCallbackHandler overhead ({what})",
                    ours_over * 1e6,
                    "µs/call",
                    anchor_name="UsageMetadataCallbackHandler overhead",
                    anchor_value=usage_over * 1e6,
                    target="<= 1.5x",
                    ok=ours_over <= 1.5 * usage_over,
                    note=note,
                ),
            ]
    return rows


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


# The request ids of the ledger rows' records. LangChain (langchain-core >= 1.8) gives its
# runs uuid7() ids, which the handler records as they are: time-ordered. LiteLLM's call ids
# are uuid4() strings and a CostRecord made without one gets uuid4().hex: random, the worst
# case for an index on the request id alone (the SQLite key leads with the timestamp).
REQUEST_IDS = ("time-ordered", "random")


def _time_ordered_id() -> Any:
    try:
        from langchain_core.utils.uuid import uuid7
    except ImportError:  # an older langchain-core: the same layout, made here
        import os
        import uuid

        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(8), "big") & (2**62 - 1)
        return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62) | rand)
    return uuid7()


def ledger_records(n: int, record_cls: Any = None, request_ids: str = "random") -> list[Any]:
    """The ledger rows' workload: ``n`` prebuilt records, 50 tenants, three calls a task;
    ``request_ids`` "time-ordered" (LangChain's run ids, ``str(uuid7())``) or "random"
    (the record's default, ``uuid4().hex``)."""
    if record_cls is None:
        from llm_cost_hooks import CostRecord as record_cls
    if request_ids not in REQUEST_IDS:
        raise ValueError(f"request_ids must be one of {REQUEST_IDS}, not {request_ids!r}")
    ids = [str(_time_ordered_id()) for _ in range(n)] if request_ids == "time-ordered" else None
    return [
        record_cls(
            model="gpt-4o-mini",
            tenant=f"t{i % 50}",
            feature="f",
            input_tokens=400,
            output_tokens=40,
            cost_usd=0.0001,
            task_id=f"task{i // 3}",
            **({} if ids is None else {"request_id": ids[i]}),
        )
        for i in range(n)
    ]


def _ledger_round(records: list[Any]) -> dict[str, float]:
    from llm_cost_hooks.ledger import SQLiteLedger

    n = len(records)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SQLiteLedger(Path(tmp) / "bench.db", max_buffer=n + 1)
        gc.collect()
        t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        for r in records:
            ledger.write(r)
        t_enqueue = time.perf_counter() - t0
        c_enqueue = time.thread_time() - c0
        ok = ledger.flush(timeout=120)
        t_total = time.perf_counter() - t0
        p_total = time.process_time() - p0
        stats = ledger.stats
        ledger.close()
    if not ok or stats.written != n or stats.dropped:
        raise RuntimeError(f"the ledger benchmark lost records: {stats}")
    return {
        "caller_wall_us": t_enqueue / n * 1e6,
        "caller_cpu_us": c_enqueue / n * 1e6,
        "process_cpu_us": p_total / n * 1e6,
        "wall_rate": n / t_total,
        "cpu_rate": n / p_total,
    }


def _ledger_rows(quick: bool) -> list[Row]:
    n = 20_000 if quick else 100_000
    rounds = 1 if quick else 3
    workloads = {kind: ledger_records(n, request_ids=kind) for kind in REQUEST_IDS}
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in REQUEST_IDS}
    for i in range(rounds):  # interleaved: a drift of the machine hits both kinds alike
        for kind in REQUEST_IDS if i % 2 == 0 else REQUEST_IDS[::-1]:
            runs[kind].append(_ledger_round(workloads[kind]))

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    def each(kind: str, key: str, fmt: str) -> str:
        return ", ".join(format(r[key], fmt) for r in runs[kind])

    how = f"{n:,} records, median of {rounds} rounds interleaved with the other request ids"
    ordered = "time-ordered request ids (LangChain's uuid7 run ids)"
    random_ids = "random request ids (uuid4: LiteLLM's call ids, CostRecord's default)"
    cpu_rate, cpu_rate_random = med("time-ordered", "cpu_rate"), med("random", "cpu_rate")
    wall_rate = med("time-ordered", "wall_rate")
    return [
        Row(
            "foundation",
            "ledger caller cost per record (wall)",
            med("time-ordered", "caller_wall_us"),
            "µs/record",
            note="time the caller spends in Ledger.write (no I/O on its thread)",
        ),
        Row(
            "foundation",
            "ledger caller cost per record (caller-thread CPU)",
            med("time-ordered", "caller_cpu_us"),
            "µs/record",
        ),
        Row(
            "foundation",
            "SQLite ledger process CPU per record (all threads)",
            med("time-ordered", "process_cpu_us"),
            "µs/record",
            note=f"caller + writer thread (row conversion, SQLite insert), queue drained in the window; "
            f"{ordered}; {how}: {each('time-ordered', 'process_cpu_us', '.1f')} µs",
        ),
        Row(
            "foundation",
            "SQLite ledger throughput (end to end, wall)",
            wall_rate,
            "records/s",
            target=">= 50,000/s",
            ok=wall_rate >= 50_000,
            note=f"{ordered}; {how}",
        ),
        Row(
            "foundation",
            "SQLite ledger throughput per CPU-second (one core)",
            cpu_rate,
            "records/s",
            target=">= 50,000/s",
            ok=cpu_rate >= 50_000,
            note="records / process CPU seconds: the rate one free core sustains, whatever the load; "
            f"{ordered}; {how}",
        ),
        Row(
            "foundation",
            "SQLite ledger process CPU per record, random request ids",
            med("random", "process_cpu_us"),
            "µs/record",
            note=f"{random_ids}; {how}: {each('random', 'process_cpu_us', '.1f')} µs",
        ),
        Row(
            "foundation",
            "SQLite ledger throughput per CPU-second, random request ids",
            cpu_rate_random,
            "records/s",
            target=">= 50,000/s",
            ok=cpu_rate_random >= 50_000,
            note=f"the worst case for a key on the request id alone (the SQLite key leads with the timestamp); {random_ids}",
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    return _overhead_rows(quick) + _cpu_rows(quick) + _import_rows(quick) + _ledger_rows(quick)
