"""The tracker's package: pricing shortcuts equal the price book, and its imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.pricing import PriceBook
from llm_cost_hooks.tracking._pricing import Pricer, prefix_cache_savings

PACKAGE = Path(__file__).resolve().parent.parent / "llm_cost_hooks"

USAGES = [
    TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256),
    TokenUsage(input_tokens=5000, output_tokens=900, cache_write_tokens=3000, reasoning_tokens=400),
    TokenUsage(input_tokens=250_000, output_tokens=10, cache_read_tokens=200_000),
    TokenUsage(),
]


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-pro", "o3-mini", "deepseek-chat"]
)
def test_pricer_matches_the_price_book(model: str) -> None:
    book = PriceBook.default()
    price = book.lookup(model)
    pricer = Pricer(book, strict=True)
    for usage in USAGES:
        breakdown, estimated = pricer.price(usage, model, None)
        assert breakdown == price.cost(usage) and not estimated
        assert pricer.prefix_savings(usage, model, None, batch=False, at=None) == prefix_cache_savings(
            price, usage
        )
        batch, _ = pricer.price(usage, model, None, batch=True)
        assert batch == price.cost(usage, batch=True)


def test_pricer_flags_unknown_models_and_has_no_savings_for_them() -> None:
    pricer = Pricer(PriceBook.default(), strict=False)
    breakdown, estimated = pricer.price(USAGES[0], "no-such-model-xyz", None)
    assert breakdown.total == 0 and estimated
    assert pricer.prefix_savings(USAGES[0], "no-such-model-xyz", None, batch=False, at=None) is None
    with pytest.raises(Exception, match="no-such-model-xyz"):
        Pricer(PriceBook.default(), strict=True).price(USAGES[0], "no-such-model-xyz", None)


def test_tracker_records_can_be_copied_with_updates() -> None:
    tracker = CostTracker(ledger="memory://")
    tracker.start_llm("r", None, model="gpt-4o-mini", provider="openai")
    record = tracker.end_llm("r", USAGES[0])
    assert record is not None
    copy = record.model_copy(update={"tenant": "globex"})
    assert copy.tenant == "globex" and record.tenant != "globex"
    assert copy.cost_breakdown.model_copy(update={"input": 1.0}).input == 1.0


def _imports(path: Path) -> set[str]:
    """The package-relative modules a file imports (``..ledger`` from tracking -> ``ledger``)."""
    found: set[str] = set()
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[: len(parts) - node.level])
            found.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llm_cost_hooks."):
            found.add(node.module.removeprefix("llm_cost_hooks."))  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("tracking", ("prompt_cache", "batch", "litellm", "langchain", "telemetry", "_adapter")),
        ("ledger", ("tracking",)),
        ("batch", ("litellm", "langchain")),
        ("prompt_cache", ("litellm", "langchain")),
    ],
)
def test_imports_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    bad = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        for module in _imports(path):
            if module.split(".")[0] in forbidden:
                bad.append(f"{path.name} imports {module}")
    assert not bad, bad


def test_langchain_callback_reads_usage_only_through_the_usage_module() -> None:
    tree = ast.parse((PACKAGE / "langchain" / "_callback.py").read_text())
    code = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    for field in ("input_tokens", "prompt_tokens", "token_usage", "total_cost", "input_token_details"):
        # Docstrings may show a usage; no string in the code looks one up.
        assert not any(value == field for value in code), field


@pytest.mark.parametrize(
    "counts",
    [
        {"input_tokens": 412, "output_tokens": 14, "cache_read_tokens": 256},
        {"input_tokens": 10, "output_tokens": 5, "reasoning_tokens": 5, "cache_write_tokens": 10},
        {"input_tokens": 0, "output_tokens": 0},
    ],
)
def test_reported_usage_without_repairs_equals_validated(counts: dict[str, int]) -> None:
    from llm_cost_hooks._records import usage_invalid

    reported = TokenUsage.from_reported(**counts)
    validated = TokenUsage.model_validate(counts)
    assert reported == validated and reported.model_dump() == validated.model_dump()
    assert usage_invalid(reported) is None
    assert reported.model_copy(update={"output_tokens": 20}).output_tokens == 20


@pytest.mark.parametrize(
    "counts",
    [
        {"input_tokens": 10, "output_tokens": -1},
        {"input_tokens": 10, "output_tokens": 1, "reasoning_tokens": 2},
        {"input_tokens": 10, "output_tokens": 1, "cache_read_tokens": 8, "cache_write_tokens": 8},
        {"input_tokens": True, "output_tokens": 1},
        {"input_tokens": 10.0, "output_tokens": 1},
    ],
)
def test_reported_usage_with_bad_counts_is_repaired_and_flagged(counts: dict[str, object]) -> None:
    from llm_cost_hooks._records import usage_invalid

    reported = TokenUsage.from_reported(**counts)  # type: ignore[arg-type]
    assert reported.cache_read_tokens + reported.cache_write_tokens <= reported.input_tokens
    assert reported.reasoning_tokens <= reported.output_tokens
    whole_float = counts["input_tokens"] == 10.0 and type(counts["input_tokens"]) is float
    assert (usage_invalid(reported) is None) == whole_float


class _Outputs:
    """Stands for a model's answer (an LLMResult): only its lifetime matters here."""


def test_a_queued_call_without_observers_keeps_no_chat_objects_alive(tmp_path: Path) -> None:
    import weakref

    from llm_cost_hooks.ledger import SQLiteLedger

    # A writer that does not wake before flush(): the call stays queued meanwhile.
    ledger = SQLiteLedger(tmp_path / "costs.db", flush_interval=60)
    ledger._wake_at = 10**9
    tracker = CostTracker(ledger=ledger)
    outputs, messages = _Outputs(), [{"role": "user", "content": "hi"}]
    run = tracker.start_llm(
        "r1", None, model="gpt-4o-mini", provider="openai", messages=messages, metadata={"ls_x": 1}
    )
    gone = weakref.ref(outputs)
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200), outputs=outputs, defer=True)
    del outputs
    assert ledger.stats.pending == 1  # still queued ...
    assert gone() is None  # ... without the answer,
    assert run.messages is None and not run.metadata  # the prompt or LangChain's metadata
    assert tracker.flush()
    (record,) = ledger.records()
    assert (record.request_id, record.input_tokens, round(record.cost_usd, 6)) == ("r1", 1000, 0.00027)
    tracker.close()


# (model, provider, usage, end_llm keywords, run tags) of calls the writer may turn into rows.
_ROW_CASES = [
    ("gpt-4o-mini", "openai", USAGES[0], {}, None),
    ("claude-sonnet-4-5", "anthropic", USAGES[1], {}, None),  # cache-write premium tag
    ("gemini-2.5-pro", None, USAGES[2], {}, ["retry:attempt:3"]),
    ("gpt-4o-mini", "openai", USAGES[0], {"cache_status": "exact"}, None),
    ("gpt-4o-mini", "openai", USAGES[0], {"cache_status": "semantic", "saved_usd": 0.25}, None),
    ("gpt-4o-mini", "openai", USAGES[0], {"billed_usd": 0.5, "tokens_estimated": True}, None),
    ("no-such-model-xyz", "openai", USAGES[0], {}, None),
    ("modèle-é", "prøvider", USAGES[3], {}, None),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=900_000_000, output_tokens=1), {}, None),
]


@pytest.mark.parametrize("case", range(len(_ROW_CASES)))
def test_a_ledger_row_built_without_a_record_equals_the_records_row(case: int) -> None:
    from llm_cost_hooks import CacheStatus
    from llm_cost_hooks.ledger._base import record_to_row
    from llm_cost_hooks.tracking._builder import RawCall

    model, provider, usage, kw, tags = _ROW_CASES[case]
    tracker = CostTracker(ledger="memory://", defaults={"tenant_id": "acme", "feature": "f"})
    meta = {"user_id": "u1", "cost_tags": {"team": "search"}}
    run = tracker.start_llm("r", "p", model=model, provider=provider, metadata=meta, tags=tags)
    call = RawCall(
        run,
        usage,
        model,
        run.start_ns + 1_234_567,
        CacheStatus(kw.get("cache_status", "miss")),
        kw.get("saved_usd"),
        False,
        kw.get("billed_usd"),
        kw.get("tokens_estimated", False),
    )
    builder = tracker._builder
    expected = record_to_row(builder.build(call))
    assert builder.row(call, None) == expected
    if case in (0, 1):  # flat rates, priced before: the row is priced inline, without a breakdown
        assert builder.pricer.flat(model, provider) is not None
        assert (model, provider) in builder.pricer.row_rates
    failed = RawCall(run, usage, model, run.start_ns + 5, error_type="Timeout\ud800")
    assert builder.row(failed, None) == record_to_row(builder.build(failed))
    from llm_cost_hooks.tracking._runs import TaskState

    # With observers: the row and build()'s record, priced once, counted once in the task.
    for c in (call, failed):
        task = TaskState(task_id="t", root_run_id="r")
        row, record = builder.row_and_record(c, task)
        built = builder.build(c)
        assert record == built and type(record.cost_breakdown) is type(built.cost_breakdown)
        assert row == record_to_row(built)
        assert record.tags is not run.attribution.tags  # the record's own tags
        assert (task.calls, task.cost_usd, task.input_tokens) == (1, built.cost_usd, built.input_tokens)


def test_deferred_calls_written_as_rows_count_in_their_task_and_read_back(tmp_path: Path) -> None:
    from llm_cost_hooks.ledger import SQLiteLedger

    tracker = CostTracker(ledger=SQLiteLedger(tmp_path / "costs.db"), defaults={"tenant_id": "acme"})
    tracker.start_run("chain", None)
    for i in range(3):
        tracker.start_llm(f"r{i}", "chain", model="gpt-4o-mini", provider="openai")
        tracker.end_llm(f"r{i}", TokenUsage(input_tokens=1000, output_tokens=200), defer=True)
    task = tracker.end_run("chain")
    assert tracker.flush() and task is not None
    assert (task.calls, task.input_tokens, round(task.cost_usd, 6)) == (3, 3000, 0.00081)
    records = sorted(tracker.ledger.records(), key=lambda r: r.request_id)
    assert [(r.request_id, r.task_id, r.tenant) for r in records] == [
        (f"r{i}", "chain", "acme") for i in range(3)
    ]
    assert all(round(r.cost_usd, 6) == 0.00027 and r.latency_ms >= 0 for r in records)
    tracker.close()


def test_rows_a_failing_store_sets_aside_replay_as_records(tmp_path: Path) -> None:
    import sqlite3

    from llm_cost_hooks.ledger import SQLiteLedger, replay_dead_letters

    class ReadOnly(SQLiteLedger):
        def _write_batch(self, records, outcomes):  # type: ignore[no-untyped-def]
            assert all(type(r) is tuple for r in records)  # deferred calls arrive as rows
            raise sqlite3.OperationalError("attempt to write a readonly database")

    ledger = ReadOnly(tmp_path / "costs.db", flush_interval=0.01)
    tracker = CostTracker(ledger=ledger, defaults={"tenant_id": "acme"})
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", metadata={"cost_tags": {"a": "b"}})
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200), defer=True)
    assert tracker.flush(timeout=0.3) is False
    ledger.close(timeout=0.1)
    assert ledger.stats.dead_lettered == 1 and ledger.stats.dropped == 0
    target = SQLiteLedger(tmp_path / "other.db")
    assert replay_dead_letters(ledger.dead_letter_path, target) == 1
    (record,) = target.records()
    assert (record.request_id, record.tenant, record.tags, round(record.cost_usd, 6)) == (
        "r1",
        "acme",
        {"a": "b"},
        0.00027,
    )
    target.close()


def test_a_deferrable_observer_sees_the_record_the_row_ledger_stores(tmp_path: Path) -> None:
    from llm_cost_hooks.ledger import SQLiteLedger
    from llm_cost_hooks.tracking import RunObserver

    seen: list = []

    class Watcher(RunObserver):
        deferrable = True

        def on_run_end(self, run, *, record=None, error=None, task=None, outputs=None):  # type: ignore[no-untyped-def]
            seen.append((run.run_id, record, task, outputs))

    tracker = CostTracker(ledger=SQLiteLedger(tmp_path / "costs.db"), observers=[Watcher()])
    assert tracker._defers_observers()
    outputs = _Outputs()
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200), outputs=outputs, defer=True)
    assert tracker.flush()
    ((run_id, record, task, told_outputs),) = seen
    (stored,) = tracker.ledger.records()
    assert run_id == "r1" and told_outputs is outputs
    assert record.model_dump() == stored.model_dump()
    assert round(record.cost_usd, 6) == 0.00027 and (task.calls, task.cost_usd) == (1, record.cost_usd)
    tracker.close()


def test_a_run_and_its_queued_call_have_every_field_set(tmp_path: Path) -> None:
    """The tracker fills RunInfo and PendingRecord without their __init__: every slot is set."""
    from llm_cost_hooks.ledger import SQLiteLedger

    tracker = CostTracker(ledger=SQLiteLedger(tmp_path / "costs.db"))
    run = tracker.start_llm("r", None, model="gpt-4o-mini", provider="openai")
    queued: list[Any] = []
    tracker.ledger.write = queued.append  # type: ignore[method-assign]
    tracker.end_llm("r", TokenUsage(input_tokens=10, output_tokens=2), defer=True)
    (pending,) = queued
    for obj in (run, pending):
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                getattr(obj, name)  # AttributeError when a field was left unset
    assert pending.run is run and pending.error_type is None and run.end_ns > run.start_ns
    del tracker.ledger.write
    tracker.ledger.write(pending)
    assert tracker.flush()
    (record,) = tracker.ledger.records()
    assert (record.request_id, record.input_tokens, record.output_tokens) == ("r", 10, 2)
    tracker.close()
