"""TokenUsage / CostRecord validation and the tracker's core behaviour without LangChain."""

from __future__ import annotations

import pytest

from llm_cost_hooks import (
    CacheStatus,
    CostRecord,
    CostTracker,
    InvalidUsageError,
    RunKind,
    RunObserver,
    Settings,
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
    tracker = CostTracker(ledger="memory://", observers=[Broken(), obs], defaults={"tenant_id": "acme"},
                          settings=Settings(default_tenant="nobody"))
    tracker.start_run("root", None, kind=RunKind.CHAIN, name="pipeline", metadata={"feature": "qa"})
    tracker.start_llm("c1", "root", model="gpt-4o-mini", provider="openai")
    r1 = tracker.end_llm("c1", TokenUsage(input_tokens=1000, output_tokens=100))
    tracker.start_llm("c2", "root", model="gpt-4o-mini", metadata={"route": "small"})
    r2 = tracker.end_llm("c2", TokenUsage(input_tokens=500, output_tokens=50), cache_status=CacheStatus.SEMANTIC)
    task = tracker.end_run("root")
    assert r1 is not None and r2 is not None and task is not None
    assert r1.task_id == r2.task_id == "root" and r1.feature == "qa" and r1.tenant == "acme"
    assert r2.route == "small" and r2.cost_usd == 0 and r2.saved_usd == pytest.approx(500 * 0.15e-6 + 50 * 0.6e-6)
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
    with pytest.raises(ValueError, match="task_failure_policy"):
        Settings()
