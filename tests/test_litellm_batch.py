"""Batch-API routing through LiteLLM's files and batches API, against the local
OpenAI-compatible stub (tests/openai_stub_server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import ConfigurationError, PriceBook, TokenUsage
from llm_cost_hooks.batch import Backoff, BatchQueue, BatchRequest, JobStatus, ResultStatus, to_jsonl

FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05)


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Summarise document {i}: " + "lorem ipsum " * (i + 1)}]


def stub_usage(messages: list[dict[str, str]], max_tokens: int) -> TokenUsage:
    # The stub's deterministic usage rule (see openai_stub_server.usage_for).
    chars = sum(len(m["content"]) for m in messages)
    return TokenUsage(input_tokens=chars // 4 + 7, output_tokens=max_tokens)


@pytest.fixture
def client(litellm_module: Any, openai_stub: Any) -> Any:
    from llm_cost_hooks.litellm import LiteLLMBatchClient

    return LiteLLMBatchClient(api_base=openai_stub.base, api_key="sk-test")


# Queues made by make_queue: their ledgers are closed (writers stopped) when the test ends.
_MADE: list[BatchQueue] = []


@pytest.fixture(autouse=True)
def _close_queues() -> Iterator[None]:
    yield
    while _MADE:
        _MADE.pop().tracker.close()


def make_queue(client: Any, tmp_path: Path, **kw: Any) -> BatchQueue:
    kw.setdefault("ledger", f"sqlite:///{tmp_path / 'ledger.db'}")
    _MADE.append(BatchQueue(client, tmp_path / "batch-state.json", backoff=FAST, **kw))
    return _MADE[-1]


def records(q: BatchQueue) -> dict[str, Any]:
    q.tracker.flush()
    return {r.request_id: r for r in q.tracker.ledger.records()}


def test_jsonl_is_openai_batch_format() -> None:
    req = BatchRequest(
        custom_id="r1",
        model="gpt-4o-mini",
        body={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
    )
    [line] = to_jsonl([req]).decode().splitlines()
    assert json.loads(line) == {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "model": "gpt-4o-mini"},
    }


def test_batches_are_recorded_at_the_batch_price_and_attributed(
    client: Any, openai_stub: Any, tmp_path: Path, litellm_module: Any
) -> None:
    q = make_queue(client, tmp_path)
    for i in range(4):
        q.add(
            "gpt-4o-mini",
            prompt(i),
            custom_id=f"mini-{i}",
            max_tokens=20,
            metadata={"tenant_id": "acme", "feature": "digest", "deferrable": True},
        )
    for i in range(2):
        q.add("gpt-4o", prompt(i), custom_id=f"big-{i}", max_tokens=30, metadata={"tenant_id": "beta"})
    results = q.run(timeout=30)
    assert openai_stub.stats()["batch_creates"] == 2  # one batch per model
    assert {r.status for r in results.values()} == {ResultStatus.COMPLETED}
    assert results["mini-0"].text.startswith("ok")

    # The uploaded input file is OpenAI batch JSONL with our custom ids.
    job = next(j for j in q.state.jobs if j.model == "gpt-4o-mini")
    raw = litellm_module.file_content(
        file_id=job.input_file_id,
        custom_llm_provider="openai",
        api_base=client._kw["api_base"],
        api_key="sk-test",
    ).content
    lines = [json.loads(x) for x in raw.splitlines()]
    assert [x["custom_id"] for x in lines] == [f"mini-{i}" for i in range(4)]
    assert {x["method"] for x in lines} == {"POST"} and lines[0]["body"]["model"] == "gpt-4o-mini"

    book = PriceBook.default()
    recs = records(q)
    assert set(recs) == set(results)
    for i in range(4):
        rec = recs[f"mini-{i}"]
        usage = stub_usage(prompt(i), 20)
        assert (rec.input_tokens, rec.output_tokens) == (usage.input_tokens, usage.output_tokens)
        batch_cost = book.cost(usage, "gpt-4o-mini", batch=True).total
        realtime = book.cost(usage, "gpt-4o-mini").total
        assert rec.cost_usd == pytest.approx(batch_cost)
        assert rec.cost_usd == pytest.approx(realtime / 2)  # the price map's batch price: half
        assert rec.saved_usd == pytest.approx(realtime - batch_cost)
        assert (rec.tenant, rec.feature) == ("acme", "digest")
        assert rec.tags["batch"] == "true" and rec.tags["batch_id"] == job.batch_id
        assert results[f"mini-{i}"].realtime_cost_usd == pytest.approx(realtime)
    assert recs["big-1"].tenant == "beta"
    assert recs["big-1"].cost_usd == pytest.approx(
        book.cost(stub_usage(prompt(1), 30), "gpt-4o", batch=True).total
    )


def test_failed_batch_is_reported_and_not_billed(client: Any, openai_stub: Any, tmp_path: Path) -> None:
    openai_stub.control(batch_modes=["failed"])
    q = make_queue(client, tmp_path)
    for i in range(3):
        q.add("gpt-4o-mini", prompt(i), custom_id=f"r{i}", max_tokens=10)
    results = q.run(timeout=30)
    assert {r.status for r in results.values()} == {ResultStatus.BATCH_FAILED}
    assert "stub: batch failed" in results["r0"].error
    assert openai_stub.stats()["batch_creates"] == 1  # a failed batch is not resubmitted by default
    recs = records(q)
    assert all(not r.success and r.cost_usd == 0 and r.error_type == "BatchError" for r in recs.values())


def test_expired_batch_resubmits_the_unanswered_requests(
    client: Any, openai_stub: Any, tmp_path: Path
) -> None:
    openai_stub.control(batch_modes=["expired", "completed"])
    q = make_queue(client, tmp_path)
    for i in range(6):
        q.add("gpt-4o-mini", prompt(i), custom_id=f"r{i}", max_tokens=10)
    results = q.run(timeout=30)
    assert openai_stub.stats()["batch_creates"] == 2
    assert {r.status for r in results.values()} == {ResultStatus.COMPLETED}
    first, second = q.state.jobs
    assert first.provider_status == "expired" and second.custom_ids == ["r3", "r4", "r5"]
    assert {r.batch_id for k, r in results.items() if k in ("r3", "r4", "r5")} == {second.batch_id}
    assert len(records(q)) == 6


def test_partial_result_file_resubmits_then_reports_missing(
    client: Any, openai_stub: Any, tmp_path: Path
) -> None:
    openai_stub.control(batch_modes=["partial", "partial"])
    q = make_queue(client, tmp_path, max_resubmits=1)
    for i in range(9):
        q.add("gpt-4o-mini", prompt(i), custom_id=f"r{i}", max_tokens=10)
    results = q.run(timeout=30)
    # First batch: r2, r5, r8 missing -> resubmitted once; that batch misses its third (r8).
    assert q.state.jobs[1].custom_ids == ["r2", "r5", "r8"]
    missing = sorted(k for k, r in results.items() if r.status is ResultStatus.MISSING)
    assert missing == ["r8"]
    assert "absent from the output" in results["r8"].error
    assert sum(r.status is ResultStatus.COMPLETED for r in results.values()) == 8
    recs = records(q)
    assert not recs["r8"].success and recs["r8"].cost_usd == 0
    assert openai_stub.stats()["batch_creates"] == 2


def test_error_lines_become_failed_results(client: Any, openai_stub: Any, tmp_path: Path) -> None:
    openai_stub.control(batch_modes=["errors"])
    q = make_queue(client, tmp_path)
    for i in range(4):
        q.add("gpt-4o-mini", prompt(i), custom_id=f"r{i}", max_tokens=10)
    results = q.run(timeout=30)
    assert results["r3"].status is ResultStatus.FAILED and "HTTP 400" in (results["r3"].error or "")
    assert [results[f"r{i}"].status for i in range(3)] == [ResultStatus.COMPLETED] * 3


def test_resume_after_restart_without_submitting_twice(client: Any, openai_stub: Any, tmp_path: Path) -> None:
    q1 = make_queue(client, tmp_path)
    for i in range(3):
        q1.add("gpt-4o-mini", prompt(i), custom_id=f"r{i}", max_tokens=10, metadata={"tenant_id": "acme"})
    q1.submit()
    q1.tracker.close()
    del q1  # the process "restarts": only the state file remains

    q2 = make_queue(client, tmp_path)
    assert [j.status for j in q2.state.jobs] == [JobStatus.SUBMITTED]
    q2.add("gpt-4o-mini", prompt(0), custom_id="r0")  # a producer retrying: no duplicate
    assert q2.pending_count == 0
    results = q2.run(timeout=30)
    assert len(results) == 3 and all(r.status is ResultStatus.COMPLETED for r in results.values())
    stats = openai_stub.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)
    assert {r.tenant for r in records(q2).values()} == {"acme"}

    # Running again after everything finished does nothing and records nothing twice.
    q3 = make_queue(client, tmp_path)
    assert q3.run(timeout=5) == results
    assert len(records(q3)) == 3
    assert openai_stub.stats()["batch_creates"] == 1


def test_crash_between_create_and_save_finds_the_batch(client: Any, openai_stub: Any, tmp_path: Path) -> None:
    class CrashAfterCreate:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def create(self, *args: Any, **kwargs: Any) -> Any:
            self.inner.create(*args, **kwargs)
            raise KeyboardInterrupt("process killed right after the batch was created")

    q1 = make_queue(CrashAfterCreate(client), tmp_path)
    q1.add("gpt-4o-mini", prompt(1), custom_id="only", max_tokens=10)
    with pytest.raises(KeyboardInterrupt):
        q1.submit()
    q1.tracker.close()

    q2 = make_queue(client, tmp_path)
    assert q2.state.jobs[0].batch_id is None and q2.state.jobs[0].input_file_id
    results = q2.run(timeout=30)
    assert results["only"].status is ResultStatus.COMPLETED
    stats = openai_stub.stats()
    assert (stats["uploads"], stats["batch_creates"]) == (1, 1)


def test_polling_backs_off(client: Any, openai_stub: Any, tmp_path: Path) -> None:
    now = [1000.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    q = BatchQueue(
        client,
        tmp_path / "s.json",
        ledger="memory://",
        clock=lambda: now[0],
        sleep=sleep,
        backoff=Backoff(initial=30, factor=2, maximum=45),
    )
    q.add("gpt-4o-mini", prompt(0), custom_id="a", max_tokens=5)
    openai_stub.control(batch_modes=["completed"])
    q.run()
    # validating -> in_progress -> completed: waited 30 s, then 45 s (60 capped at 45).
    assert sleeps == [30, 45]
    assert q.state.jobs[0].polls == 2


def test_completion_or_defer_routes_by_metadata(client: Any, litellm_clean: Any, tmp_path: Path) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, DeferredResponse, completion_or_defer

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    q = make_queue(client, tmp_path)
    now = completion_or_defer(
        q, model="gpt-4o-mini", messages=prompt(0), mock_response="now", metadata={"tenant_id": "acme"}
    )
    later = completion_or_defer(
        q,
        model="openai/gpt-4o-mini",
        messages=prompt(1),
        max_tokens=8,
        metadata={"tenant_id": "acme", "deferrable": True},
    )
    assert now.choices[0].message.content == "now"
    assert isinstance(later, DeferredResponse) and q.pending_count == 1
    assert q.state.pending[0].model == "gpt-4o-mini" and q.state.pending[0].body["max_tokens"] == 8
    results = q.run(timeout=30)
    assert results[later.custom_id].status is ResultStatus.COMPLETED
    assert records(q)[later.custom_id].tenant == "acme"


def test_bad_state_file_and_bad_input_say_what_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError, match="state.json"):
        BatchQueue(None, bad, ledger="memory://")
    q = BatchQueue(None, None, ledger="memory://")
    with pytest.raises(ConfigurationError, match="messages"):
        q.add("gpt-4o-mini", "hello")  # type: ignore[arg-type]
    q.add("gpt-4o-mini", prompt(0))
    with pytest.raises(ConfigurationError, match="no backend"):
        q.submit()
