"""TokenUsage / CostRecord validation and the tracker's core behaviour without LangChain."""

from __future__ import annotations

import logging

import pytest

from llm_cost_hooks import (
    CacheStatus,
    CostRecord,
    CostTracker,
    InvalidUsageError,
    RunKind,
    RunObserver,
    Settings,
    SettingsError,
    TokenUsage,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": -1}, "non-negative integer, got -1"),
        ({"output_tokens": 2.5}, "got 2.5"),
        ({"input_tokens": "12"}, "got '12'"),
        ({"input_tokens": True}, "got True"),
        ({"input_tokens": 10, "cache_read_tokens": 8, "cache_write_tokens": 5}, "exceed input_tokens"),
        ({"output_tokens": 10, "reasoning_tokens": 11}, "exceed output_tokens"),
    ],
)
def test_bad_token_counts_are_typed_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidUsageError, match=message):
        TokenUsage(**kwargs)  # type: ignore[arg-type]


def test_usage_accepts_whole_floats_and_none() -> None:
    u = TokenUsage(input_tokens=12.0, output_tokens=None)  # type: ignore[arg-type]
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (12, 0, 12)


def test_record_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        CostRecord(model="x", colour="red")  # type: ignore[call-arg]


class Collect(RunObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    def on_run_start(self, run):  # type: ignore[no-untyped-def]
        self.events.append(("start", run.name, run.is_root))

    def on_run_end(self, run, *, record, error, task, outputs=None):  # type: ignore[no-untyped-def]
        self.events.append(("end", run.name, task.cost_usd if task else None))


class Broken(RunObserver):
    def on_run_start(self, run):  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")


def test_tracker_without_langchain_rolls_up_tasks_and_survives_observer_errors() -> None:
    obs = Collect()
    tracker = CostTracker(
        ledger="memory://",
        observers=[Broken(), obs],
        defaults={"tenant_id": "acme"},
        settings=Settings(default_tenant="nobody"),
    )
    tracker.start_run("root", None, kind=RunKind.CHAIN, name="pipeline", metadata={"feature": "qa"})
    tracker.start_llm("c1", "root", model="gpt-4o-mini", provider="openai")
    r1 = tracker.end_llm("c1", TokenUsage(input_tokens=1000, output_tokens=100))
    tracker.start_llm("c2", "root", model="gpt-4o-mini", metadata={"route": "small"})
    r2 = tracker.end_llm(
        "c2", TokenUsage(input_tokens=500, output_tokens=50), cache_status=CacheStatus.SEMANTIC
    )
    task = tracker.end_run("root")
    assert r1 is not None and r2 is not None and task is not None
    assert r1.task_id == r2.task_id == "root" and r1.feature == "qa" and r1.tenant == "acme"
    assert (
        r2.route == "small"
        and r2.cost_usd == 0
        and r2.saved_usd == pytest.approx(500 * 0.15e-6 + 50 * 0.6e-6)
    )
    assert task.calls == 2 and task.cost_usd == pytest.approx(r1.cost_usd)
    assert obs.events[-1] == ("end", "pipeline", pytest.approx(r1.cost_usd))
    assert tracker.open_runs == 0
    assert tracker.end_llm("never-started", None) is None  # unknown runs are ignored


def test_default_tenant_setting() -> None:
    tracker = CostTracker(ledger="memory://", settings=Settings(default_tenant="public"))
    tracker.start_llm("x", None, model="gpt-4o")
    assert tracker.end_llm("x", TokenUsage(input_tokens=1)).tenant == "public"  # type: ignore[union-attr]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", "memory://")
    monkeypatch.setenv("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "root_error")
    s = Settings()
    assert s.ledger == "memory://" and s.task_failure_policy == "root_error"
    monkeypatch.setenv("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "sometimes")
    with pytest.raises(
        SettingsError,
        match="LLM_COST_HOOKS_TASK_FAILURE_POLICY=.sometimes. is not valid.*Expected one of .any_error., .root_error.",
    ):
        Settings()


def test_usage_built_without_pydantic_equals_validated() -> None:
    fast = TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256)
    slow = TokenUsage.model_validate({"input_tokens": 412, "output_tokens": 14, "cache_read_tokens": 256})
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == {"input_tokens", "output_tokens", "cache_read_tokens"}
    assert fast.model_copy(update={"output_tokens": 20}).output_tokens == 20
    with pytest.raises(ValueError):
        fast.input_tokens = 1  # type: ignore[misc] - still frozen
    assert TokenUsage(input_tokens=3, unknown=1).input_tokens == 3  # type: ignore[call-arg] - extra keys ignored, as before


class SeeStart(RunObserver):
    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []

    def on_run_start(self, run):  # type: ignore[no-untyped-def]
        self.seen.append((run.kind, run.model, run.provider, dict(run.params), run.messages))


def test_observers_see_model_provider_and_params_at_start() -> None:
    obs = SeeStart()
    tracker = CostTracker(ledger="memory://", observers=[obs])
    tracker.start_run("root", None)
    tracker.start_llm(
        "c1", "root", model="gpt-4o-mini", provider="openai", params={"temperature": 0.1}, messages="Say hi"
    )
    assert obs.seen == [
        (RunKind.CHAIN, None, None, {}, None),
        (RunKind.LLM, "gpt-4o-mini", "openai", {"temperature": 0.1}, "Say hi"),
    ]


def test_attribution_is_reused_only_for_equal_metadata(caplog: pytest.LogCaptureFixture) -> None:
    tracker = CostTracker(ledger="memory://", defaults={"feature": "qa"})
    records = []
    for i, meta in enumerate(
        [
            {"tenant_id": "a", "user_id": "u1"},
            {"tenant_id": "b", "user_id": "u1"},
            {"tenant_id": "a", "user_id": "u1"},
            {"tenant_id": "a", "user_id": "u2"},
            {"tenant_id": "a", "cost_tags": {"team": "x"}},
        ]
    ):
        tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", metadata=meta)
        records.append(tracker.end_llm(f"r{i}", TokenUsage(input_tokens=10)))
    assert [r.tenant for r in records] == ["a", "b", "a", "a", "a"]  # type: ignore[union-attr]
    users = [r.user for r in records]  # type: ignore[union-attr]
    assert users[0] == users[1] == users[2] != users[3] and users[4] is None
    assert records[4].tags == {"team": "x"} and records[0].tags == {}  # type: ignore[union-attr]
    assert all(r.feature == "qa" for r in records)  # type: ignore[union-attr]
    # A bad value is read on every call, never served from the memo: warned about once,
    # then logged at debug level.
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
        for i in range(2):
            tracker.start_llm(f"b{i}", None, model="gpt-4o-mini", metadata={"tenant_id": True})
            tracker.end_llm(f"b{i}", TokenUsage(input_tokens=1))
    bad = [r.levelno for r in caplog.records if "metadata['tenant_id'] is a bool" in r.getMessage()]
    assert bad == [logging.WARNING, logging.DEBUG]


def test_deferred_call_is_priced_by_the_writer_like_an_inline_one(tmp_path: object) -> None:
    from llm_cost_hooks.ledger import SQLiteLedger

    usage = TokenUsage(input_tokens=1200, output_tokens=80, cache_read_tokens=1024)
    inline = CostTracker(ledger="memory://", defaults={"tenant_id": "acme"})
    deferred = CostTracker(ledger=SQLiteLedger(f"{tmp_path}/d.db"), defaults={"tenant_id": "acme"})
    for tracker in (inline, deferred):
        tracker.start_run("root", None, metadata={"feature": "qa"})
        tracker.start_llm("c1", "root", model="gpt-4o", provider="openai")
        tracker.end_llm("c1", usage, defer=True)
        tracker.start_llm("c2", "root", model="gpt-4o", provider="openai")
        tracker.end_llm("c2", usage, cache_status=CacheStatus.EXACT, defer=True)
        tracker.end_run("root")
    assert inline.ledger.defers_writes is False and deferred.ledger.defers_writes is True
    deferred.flush()
    a = sorted(inline.ledger.records(), key=lambda r: r.request_id)
    b = sorted(deferred.ledger.records(), key=lambda r: r.request_id)
    volatile = {"timestamp", "latency_ms"}
    assert [r.model_dump(exclude=volatile) for r in a] == [r.model_dump(exclude=volatile) for r in b]
    assert b[0].cache_status is CacheStatus.PROVIDER_PREFIX and b[0].saved_usd > 0 and b[0].cost_usd > 0
    assert b[1].cost_usd == 0 and b[1].saved_usd > 0 and b[0].latency_ms is not None
    deferred.close()


def test_deferred_records_survive_interpreter_exit(tmp_path: object) -> None:
    import sqlite3
    import subprocess
    import sys

    db = f"{tmp_path}/exit.db"
    script = (
        "from llm_cost_hooks import CostTracker, TokenUsage\n"
        "from llm_cost_hooks.ledger import SQLiteLedger\n"
        f"t = CostTracker(ledger=SQLiteLedger({db!r}, flush_interval=60))\n"
        "for i in range(300):\n"
        "    t.start_llm(str(i), None, model='gpt-4o-mini', provider='openai')\n"
        "    assert t.end_llm(str(i), TokenUsage(input_tokens=100, output_tokens=10), defer=True) is None\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    with sqlite3.connect(db) as conn:
        n, cost = conn.execute("SELECT COUNT(*), SUM(cost_usd) FROM cost_records").fetchone()
    assert n == 300 and cost == pytest.approx(300 * (100 * 0.15e-6 + 10 * 0.6e-6))


def test_strict_tracker_or_observers_price_on_the_caller() -> None:
    from llm_cost_hooks.ledger import MemoryLedger

    for kwargs in ({"strict": True}, {"observers": [RunObserver()]}):
        tracker = CostTracker(ledger=MemoryLedger(background=True), **kwargs)  # type: ignore[arg-type]
        tracker.start_llm("r", None, model="gpt-4o-mini")
        record = tracker.end_llm("r", TokenUsage(input_tokens=10), defer=True)
        assert record is not None and record.cost_usd > 0
        tracker.close()


def test_breakdown_built_without_pydantic_equals_validated() -> None:
    from llm_cost_hooks import CostBreakdown

    fast = CostBreakdown(input=1.5e-4, output=2.0e-5, currency="EUR")
    assert fast == CostBreakdown.model_validate({"input": 1.5e-4, "output": 2.0e-5, "currency": "EUR"})
    assert fast.total == pytest.approx(1.7e-4) and fast.model_fields_set == {"input", "output", "currency"}
    assert CostBreakdown(input=1).input == 1.0 and isinstance(
        CostBreakdown(input=1).input, float
    )  # validated path
    with pytest.raises(ValueError):
        CostBreakdown(input="much")  # type: ignore[arg-type]


class SlowEnd(RunObserver):
    """An observer whose end work is slow (an exporter, a span processor)."""

    def __init__(self) -> None:
        self.ended: list[str] = []
        self.flushed_inside: bool | None = None
        self.tracker: CostTracker | None = None

    def on_run_end(self, run, *, record, error, task, outputs=None):  # type: ignore[no-untyped-def]
        import time as _time

        _time.sleep(0.3)
        self.ended.append(run.run_id)
        if self.tracker is not None and run.run_id == "inner":
            # flushing from inside a run's end does not wait for that very run
            self.flushed_inside = self.tracker.flush(timeout=2.0)


@pytest.mark.parametrize("ledger", ["memory://", "sqlite"])
def test_flush_waits_for_runs_other_threads_are_ending(ledger: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A run another thread (LiteLLM's logging thread) is ending -- already gone from the
    open runs, its record perhaps written -- is recorded *and observed* when flush returns
    (CI caught a span missing right after flush, from this race)."""
    import threading
    import time as _time

    obs = SlowEnd()
    url = "memory://" if ledger == "memory://" else f"sqlite:///{tmp_path / 'l.db'}"
    tracker = CostTracker(ledger=url, observers=[obs])
    obs.tracker = tracker
    tracker.start_llm("c1", None, model="gpt-4o-mini", provider="openai")
    ender = threading.Thread(target=tracker.end_llm, args=("c1", TokenUsage(input_tokens=5, output_tokens=2)))
    ender.start()
    while tracker.open_runs:  # what an adapter's flush waits for
        _time.sleep(0.001)
    assert tracker.flush(timeout=5.0)
    assert obs.ended == ["c1"] and [r.request_id for r in tracker.ledger.records()] == ["c1"]
    ender.join()
    tracker.start_llm("inner", None, model="gpt-4o-mini", provider="openai")
    t0 = _time.monotonic()
    tracker.end_llm("inner", TokenUsage(input_tokens=5, output_tokens=2))
    assert obs.flushed_inside is True and _time.monotonic() - t0 < 1.5
    tracker.close()
