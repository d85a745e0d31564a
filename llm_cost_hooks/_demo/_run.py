"""``llm-cost demo``: replay a real workload, first with no lever and then with the levers
switched on one at a time, and show what each saved.

The workload (see :mod:`llm_cost_hooks._demo._workload`): Banking77 customer queries to
a support bot (chat, and e-mail threads with retrieved tickets and history) and
RouterBench prompts to an assistant, with retries and re-asks. Each step is a full
replay through an engine's chains (LangChain's: ``prompt | chat model | parser``, see
:mod:`llm_cost_hooks._demo._langchain`) with a cost recorder writing to one ledger
(records tagged ``demo.step``); the table is read back from that ledger.

* Assistant answers are RouterBench's real recorded answers, correctness and dollars.
* Support answers come from a stand-in for claude-sonnet-4-5
  (:class:`~llm_cost_hooks._demo._support.SupportAnswers`): it answers the query's intent
  with that intent's reply, reports the usage Anthropic would (tokens counted offline,
  prompt-cache reads/writes by Anthropic's rules for the ``cache_control`` breakpoints it
  receives) and is priced by the price book. Banking77 has no recorded answers, so a
  fresh answer counts as correct and quality measures what caching serves: a hit with
  another intent's answer is a false hit.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ._prepare import Prepared
from ._report import Progress, StepResult, format_waterfall, write_waterfall_png
from ._support import SUPPORT_MODEL
from ._workload import DATA_HINT, Workload, build_workload, data_dir, load_demo_data

__all__ = ["STEPS", "STEP_TAG", "DemoEngine", "run_demo"]


def _require_demo_extra() -> None:
    """The demo embeds, trains a router and draws a chart: without the ``demo`` extra, say
    so before anything else (not as unreadable data)."""
    import importlib.util

    from .._errors import MissingExtraError

    for module in ("numpy", "onnxruntime", "tokenizers"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module blocked or half-installed
            found = False
        if not found:
            raise MissingExtraError("demo", module, "llm-cost demo")


TENANT = "acme-bank"
STEP_TAG = "demo.step"
# Cumulative: each step switches one more lever on.
STEPS: list[tuple[str, str]] = [
    ("baseline", "strongest model, no cache, no budget"),
    ("dedup", "single-flight on idempotency keys"),
    ("routing", "trained + calibrated router (assistant)"),
    ("exact cache", "exact-match cache"),
    ("semantic cache", "calibrated semantic cache (support chat)"),
    ("prompt caching", "cache_control breakpoints (support)"),
    ("context budget", "trim e-mail history + retrieved tickets"),
    ("batch", "e-mails through the batch API"),
]
PROMPT_VERSION = "support_v1"
_NS = uuid.UUID("6f1c2a0e-3b7d-4c55-9e61-2d4f6a8b9c10")

#: ``answer(kind, inputs, run_id, metadata)`` runs one request through the step's chain for
#: ``kind`` and returns ``{"text", "intent", "quality", "cache"}``.
Answerer = Callable[[str, Mapping[str, Any], uuid.UUID, Mapping[str, Any]], Mapping[str, Any]]


class DemoEngine(Protocol):
    """The framework side of the demo: a cost recorder and, per step, the chains."""

    @staticmethod
    def recorder(ledger_url: str, observers: list[Any]) -> Any:
        """A cost recorder writing to ``ledger_url`` (``mark_task``, ``flush``, ``ledger``,
        ``tracker``)."""

    def __call__(self, prepared: Prepared) -> Any:
        """The replay of ``prepared``: an object whose ``answerer(levers, recorder)`` gives
        the step's :data:`Answerer`."""


def _run_step(prepared: Prepared, answer: Answerer, step: str, handler: Any, progress: Progress) -> None:
    """Replay every submission and record each task's verdict in the ledger."""
    verdicts: dict[str, tuple[bool, str | None]] = {}
    for n, sub in enumerate(prepared.workload.submissions):
        req = sub.request
        task = str(uuid.uuid5(_NS, f"{step}/{sub.task}"))
        metadata = {
            "tenant_id": TENANT,
            "feature": req.kind,
            "task_id": task,
            "idempotency_key": sub.idempotency_key,
            "prompt_version": PROMPT_VERSION,
            "user_id": req.customer or "assistant-user",
            "cost_tags": {STEP_TAG: step, "demo.submission": sub.how},
        }
        run_id = uuid.uuid5(_NS, f"{step}/{n}")
        if req.kind == "assistant":
            out = answer(req.kind, {"prompt": req.text}, run_id, metadata)
            ok = bool(out["quality"] is not None and out["quality"] >= 0.5)
            reason = None if ok else "wrong answer (RouterBench correctness)"
        else:
            inputs: dict[str, Any] = {"question": req.text}
            if req.kind == "support_email":
                inputs["context"] = prepared.email_thread(req.key)
            out = answer(req.kind, inputs, run_id, metadata)
            ok = out["intent"] == req.intent
            reason = None
            if not ok:
                reason = "false cache hit" if out["cache"] in ("exact", "semantic") else "wrong answer"
        verdicts[task] = (ok, reason)
        progress.advance(f"{step}")
    for task, (ok, reason) in verdicts.items():
        handler.mark_task(task, success=ok, reason=reason)


def _by_step(ledger: Any) -> tuple[dict[str, list[Any]], list[Any]]:
    """The ledger's records grouped by their step tag, and all task outcomes (read once)."""
    records: dict[str, list[Any]] = {}
    for r in ledger.records():
        records.setdefault(r.tags.get(STEP_TAG, ""), []).append(r)
    return records, list(ledger.task_outcomes())


def _step_result(
    records: list[Any], all_outcomes: list[Any], step: str, lever: str, seconds: float
) -> StepResult:
    from ..ledger import LedgerReports

    task_ids = {r.task_id for r in records}
    outcomes = [o for o in all_outcomes if o.task_id in task_ids]
    reports = LedgerReports.from_records(records, outcomes)
    totals = (reports.totals() or [{}])[0]
    tasks = (reports.tasks() or [{}])[0]
    hits = {row["cache_status"]: int(row["hits"]) for row in reports.cache_savings()}
    # The last verdict per task (a user mark wins over the run's own outcome).
    last: dict[str, Any] = {}
    for o in sorted((o for o in outcomes if o.source == "user"), key=lambda o: o.timestamp):
        last[o.task_id] = o
    false_hits = sum(1 for o in last.values() if not o.success and o.reason == "false cache hit")
    reports.close()
    return StepResult(
        step=step,
        lever=lever,
        cost_usd=float(totals.get("cost_usd") or 0.0),
        calls=int(totals.get("calls") or 0),
        hits=hits,
        tasks=int(tasks.get("tasks") or 0),
        successful_tasks=int(tasks.get("successful_tasks") or 0),
        false_cache_hits=false_hits,
        cost_per_successful_task=tasks.get("cost_per_successful_task"),
        saved_usd_recorded=float(totals.get("saved_usd") or 0.0),
        seconds=seconds,
    )


def _otel(target: str | None) -> tuple[Any, Any]:
    from ..telemetry import OTelObserver, configure_otel

    providers = configure_otel(
        "llm-cost-demo",
        exporter="otlp",
        endpoint=target or None,
        protocol="http/protobuf",
        max_queue_size=65_536,
        max_export_batch_size=2048,
        schedule_delay_ms=500,
    )
    observer = OTelObserver(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return observer, providers


def _postgres_has_records(url: str) -> bool:
    from ..ledger._postgres import connect_for_reports

    conn = connect_for_reports(url)
    try:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM cost_records)").fetchone()[0])
    finally:
        conn.close()


def _not_a_demo_ledger(path: Path) -> str | None:
    """Why the demo must not overwrite the file at ``path`` (None: absent, empty, or a ledger
    an earlier demo run wrote, every record tagged ``demo.step``)."""
    import sqlite3

    if not path.exists():
        return None
    if path.is_dir():
        return f"{str(path)!r} is a directory"
    if path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM cost_records WHERE tags IS NULL OR tags NOT LIKE ?)",
                (f'%"{STEP_TAG}"%',),
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return f"{str(path)!r} is not a ledger an earlier demo run wrote"
    if row and row[0]:
        return f"{str(path)!r} holds cost records the demo did not write"
    return None


def run_demo(
    engine: DemoEngine,
    *,
    ledger_path: str | os.PathLike[str] = "demo_out/llm_costs.db",
    data: str | os.PathLike[str] | None = None,
    limit: int = 1000,
    chart: str | os.PathLike[str] | None = None,
    otlp: str | None = None,
    quiet: bool = False,
    out: Any = None,
) -> int:
    """Run the demo through ``engine`` (the framework that runs the chains); returns a
    process exit code. ``otlp``: None (off), "" (the
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables) or a collector URL (OTLP/HTTP)."""
    out = out or sys.stdout
    started = time.perf_counter()
    root = data_dir(data)
    _require_demo_extra()
    loaded = load_demo_data(root)
    if isinstance(loaded, str):
        print(f"{loaded}\n{DATA_HINT}", file=sys.stderr)
        return 2
    workload = build_workload(loaded, limit)
    n_subs = len(workload.submissions)
    progress = Progress(n_subs * len(STEPS), enabled=False if quiet else None)

    from ..ledger._postgres import is_postgres_url, redact

    if is_postgres_url(os.fspath(ledger_path)):
        # The report reads every record back: a database holding other records would mix in.
        ledger_url = os.fspath(ledger_path)
        if _postgres_has_records(ledger_url):
            print(
                f"The demo needs an empty PostgreSQL database; {redact(ledger_url)} already holds cost "
                "records. Create one (e.g. `createdb llm_cost_demo`) and pass its URL.",
                file=sys.stderr,
            )
            return 2
        ledger_label = redact(ledger_url)
        chart_file = Path(chart) if chart else Path("demo_out/savings_waterfall.png")
        ledger_file: Path | None = None
    else:
        ledger_file = Path(ledger_path)
        # The demo starts from an empty ledger: it replaces its own earlier one, never a
        # file that holds a team's records (a quick start's llm_costs.db).
        refusal = _not_a_demo_ledger(ledger_file)
        if refusal:
            print(
                f"{refusal}; the demo writes a new ledger and would replace it. "
                "Pass --ledger with a new file name (default: demo_out/llm_costs.db).",
                file=sys.stderr,
            )
            return 2
        chart_file = Path(chart) if chart else ledger_file.with_name("savings_waterfall.png")
        ledger_url, ledger_label = f"sqlite:///{ledger_file}", str(ledger_file)
    try:
        chart_file.parent.mkdir(parents=True, exist_ok=True)
        if ledger_file is not None:
            ledger_file.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{ledger_file}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        print(
            f"Cannot write the demo's files ({exc}); pass --ledger and --chart paths in a writable folder.",
            file=sys.stderr,
        )
        return 2

    observers: list[Any] = []
    otel = None
    if otlp is not None:
        otel = _otel(otlp)
        observers.append(otel[0])
    handler = engine.recorder(ledger_url, observers)
    try:
        prepared = Prepared(workload, loaded, progress)
        replay = engine(prepared)
        levers: set[str] = set()
        lever_of = {
            "dedup": "dedup",
            "routing": "routing",
            "exact cache": "exact",
            "semantic cache": "semantic",
            "prompt caching": "prompt_cache",
            "context budget": "budget",
            "batch": "batch",
        }
        timings: dict[str, float] = {}
        for step, _ in STEPS:
            if step in lever_of:
                levers.add(lever_of[step])
            t0 = time.perf_counter()
            _run_step(prepared, replay.answerer(set(levers), handler), step, handler, progress)
            timings[step] = time.perf_counter() - t0
        progress.close()
        handler.flush()
        by_step, outcomes = _by_step(handler.ledger)
        results = [
            _step_result(by_step.get(step, []), outcomes, step, lever, timings[step]) for step, lever in STEPS
        ]
    finally:
        if otel is not None:
            # Once, within the exit deadline: shutting the providers down directly left the
            # exit hook to do it again ("shutdown can only be called once" after the table).
            otel[1].shutdown()

    _print_report(out, workload, prepared, results, by_step.get(STEPS[-1][0], []))
    try:
        write_waterfall_png(
            results,
            chart_file,
            title=(
                f"Savings waterfall: {len(workload.requests):,} real requests replayed "
                f"({n_subs:,} submissions), cost after each lever"
            ),
        )
        print(f"Chart:  {chart_file}", file=out)
    except ImportError as exc:  # MissingExtraError: the table is still the result
        print(f"Chart not written: {exc}", file=out)
    print(f"Ledger: {ledger_label}  (all {len(STEPS)} replays; each record tagged {STEP_TAG})", file=out)
    print(f"Took {time.perf_counter() - started:.1f}s.", file=out)
    handler.tracker.close()
    return 0


def _print_report(
    out: Any, workload: Workload, replay: Prepared, results: list[StepResult], last_records: list[Any]
) -> None:
    from ..ledger import LedgerReports
    from ..ledger._html import savings_waterfall

    w = workload
    chat, email, asst = (
        w.count(kind=k, how="original") for k in ("support_chat", "support_email", "assistant")
    )
    cal = replay.calibration
    point = replay.router_point
    print(
        f"Replayed {len(w.requests):,} real requests ({chat + email:,} Banking77 support tickets: {chat:,} chat, "
        f"{email:,} e-mails in threads; {asst:,} RouterBench prompts) as {len(w.submissions):,} submissions "
        f"({w.count(how='retry'):,} retries with the same idempotency key, {w.count(how='reask'):,} asked again later; "
        f"chosen by a hash of each text),\n"
        f"through LangChain chains (prompt | chat model | parser), once per step; every number below is read back "
        f"from the ledger.\n"
        f"Support: {SUPPORT_MODEL} stand-in priced by the price book; assistant: RouterBench's recorded answers and "
        f"dollars, baseline model {replay.strongest} (best on the router's training rows).\n"
        f"Router: ridge regression on hashed prompts, {len(w.routerbench_train):,} training rows, calibrated on "
        f"{len(w.routerbench_calibration):,} other rows to 95% of the best model's quality "
        f"(there: {point.quality:.3f} at ${point.cost:.5f}/prompt). Semantic cache: calibrated on {cal.n_queries:,} "
        f"Banking77 train queries looked up in the {cal.n_cache:,} warm entries, for precision {cal.target_precision:.2f} "
        f"({'met' if cal.met else 'not reachable: semantic tier off'}; there {cal.point.precision:.3f} at "
        f"{cal.point.hit_rate:.1%} hits).\n",
        file=out,
    )
    print(format_waterfall(results), file=out)
    print(
        "\naccuracy: tasks answered right (assistant: RouterBench correctness of the model that answered; support: "
        "the served answer is for the query's intent,\nso false cache hits count as failures). $/successful task: "
        "all cost of the step / tasks answered right (retries are part of their task).",
        file=out,
    )
    # Cross-check with the ledger's own savings view of the last step.
    last = results[-1].step
    reports = LedgerReports.from_records(last_records)
    ledger_steps = savings_waterfall(reports)
    reports.close()
    parts = ", ".join(f"{s['step']} ${s['saving_usd']:.4f}" for s in ledger_steps[1:-1])
    print(
        f"Ledger check, step '{last}': billed ${ledger_steps[-1]['cost_usd']:.4f}; savings recorded on its "
        f"records: {parts or 'none'}.",
        file=out,
    )
