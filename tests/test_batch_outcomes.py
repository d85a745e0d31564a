"""What a user's batch traffic meets: a batch cancelled mid-way, answers with prompt-cache
reads and writes, lines the queue did not send. Against an OpenAI-like batch API in memory."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.batch import Backoff, BatchQueue, ResultStatus

FAST = Backoff(initial=0.01, factor=1.0, maximum=0.01)
Usage = dict[str, Any]


class _Backend:
    """Every batch ends with ``status`` at its first poll; ``answer(custom_id)`` gives a
    request's usage, or None to leave it out of the output file."""

    def __init__(
        self,
        answer: Callable[[str], Usage | None],
        status: str = "completed",
        extra_lines: tuple[dict[str, Any], ...] = (),
        error_line: Callable[[str, int], dict[str, Any] | None] = lambda cid, n: None,
    ) -> None:
        self.answer, self.status, self.extra_lines = answer, status, extra_lines
        self.error_line = error_line
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.creates = 0

    def upload(self, data: bytes, filename: str) -> str:
        fid = f"file-{len(self.files)}"
        self.files[fid] = data
        return fid

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        self.creates += 1
        out = []
        for raw in self.files[input_file_id].splitlines():
            cid = json.loads(raw)["custom_id"]
            if (line := self.error_line(cid, self.creates)) is not None:
                out.append({"custom_id": cid, **line})
                continue
            usage = self.answer(cid)
            if usage is not None:
                body = {"choices": [{"message": {"content": "ok"}}], "usage": usage}
                out.append({"custom_id": cid, "response": {"status_code": 200, "body": body}})
        out.extend(self.extra_lines)
        self.files[f"out-{input_file_id}"] = b"".join(json.dumps(x).encode() + b"\n" for x in out)
        bid = f"batch-{len(self.batches)}"
        self.batches[bid] = {
            "id": bid,
            "status": self.status,
            "output_file_id": f"out-{input_file_id}",
            "metadata": metadata,
        }
        return {"id": bid, "status": "validating", "metadata": metadata}

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self.batches[batch_id]

    def content(self, file_id: str) -> bytes:
        return self.files[file_id]

    def find(self, metadata_key: str, value: str) -> dict[str, Any] | None:
        return next((b for b in self.batches.values() if b["metadata"].get(metadata_key) == value), None)


def _queue(backend: _Backend, tmp_path: Path, **kw: Any) -> BatchQueue:
    return BatchQueue(
        backend, tmp_path / "state.json", ledger=f"sqlite:///{tmp_path / 'ledger.db'}", backoff=FAST, **kw
    )


def _records(q: BatchQueue) -> dict[str, Any]:
    q.tracker.flush()
    return {r.request_id: r for r in q.tracker.ledger.records()}


def test_a_cancelled_batch_is_not_submitted_again(tmp_path: Path) -> None:
    # Cancelled by its owner after two of four answers: those two are recorded, the other
    # two are reported cancelled, not sent in a new batch (and billed) behind their back.
    backend = _Backend(lambda cid: None if cid in ("r2", "r3") else {"prompt_tokens": 100, "completion_tokens": 10},
                       status="cancelled")  # fmt: skip
    q = _queue(backend, tmp_path, max_resubmits=3)
    for i in range(4):
        q.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    results = q.run(timeout=5)
    assert backend.creates == 1
    assert q.pending_count == 0
    assert [results[f"r{i}"].status for i in range(4)] == [ResultStatus.COMPLETED] * 2 + [
        ResultStatus.CANCELLED
    ] * 2
    assert "cancelled" in (results["r2"].error or "")
    recs = _records(q)
    assert recs["r0"].success and recs["r0"].cost_usd > 0
    assert not recs["r3"].success and recs["r3"].cost_usd == 0


@pytest.mark.parametrize(
    ("model", "provider", "usage"),
    [
        (
            "claude-sonnet-4-5",
            "anthropic",
            {"prompt_tokens": 3000, "completion_tokens": 100,
             "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500},
        ),
        (
            "gpt-4o-mini",
            "openai",
            {"prompt_tokens": 3000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 2048}},
        ),
    ],
)  # fmt: skip
def test_batch_savings_with_prompt_cache_reads_add_up_to_the_uncached_realtime_price(
    tmp_path: Path, model: str, provider: str, usage: Usage
) -> None:
    # The report's "without levers" cost is the billed cost plus the recorded savings, net
    # of cache-write premiums: for a batch answer it must be the same call at realtime
    # prices with no prompt cache, whichever way the batch and the cache share the saving.
    q = _queue(_Backend(lambda cid: usage), tmp_path, provider=provider)
    q.add(model, [{"role": "user", "content": "hi"}], custom_id="a")
    q.run(timeout=5)
    rec = _records(q)["a"]
    book = PriceBook.default()
    read = usage.get("cache_read_input_tokens") or usage.get("prompt_tokens_details", {}).get(
        "cached_tokens", 0
    )
    write = usage.get("cache_creation_input_tokens", 0)
    actual = TokenUsage(
        input_tokens=3000, output_tokens=100, cache_read_tokens=read, cache_write_tokens=write
    )
    plain = TokenUsage(input_tokens=3000, output_tokens=100)
    assert rec.cache_read_tokens == read and rec.cache_write_tokens == write and rec.input_tokens == 3000
    assert rec.cost_usd == pytest.approx(book.cost(actual, model, provider, batch=True).total)
    premium = float(rec.tags.get("prompt_cache.write_premium_usd", 0.0))
    assert rec.cost_usd + rec.saved_usd - premium == pytest.approx(book.cost(plain, model, provider).total)


def test_a_line_the_queue_did_not_send_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The provider billed it, but no request of ours carries its custom_id: it cannot be
    # attributed, so it is said, not dropped without a word.
    stray = {"custom_id": "not-ours", "response": {"status_code": 200, "body": {
        "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5}}}}  # fmt: skip
    q = _queue(
        _Backend(lambda cid: {"prompt_tokens": 10, "completion_tokens": 1}, extra_lines=(stray,)), tmp_path
    )
    q.add("gpt-4o-mini", [{"role": "user", "content": "hi"}], custom_id="a")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        results = q.run(timeout=5)
    assert results["a"].status is ResultStatus.COMPLETED and set(results) == {"a"}
    assert any("not-ours" in r.getMessage() for r in caplog.records)


def test_the_savings_waterfall_credits_batch_savings_to_the_batch_api(tmp_path: Path) -> None:
    # One Anthropic batch answer with cache reads and writes (cache status provider_prefix)
    # and one OpenAI batch answer without: the batch API's saving is its own step, the
    # prompt cache's step holds only what cache reads saved net of write premiums.
    from llm_cost_hooks.ledger import LedgerReports, savings_waterfall

    anthropic = {"prompt_tokens": 3000, "completion_tokens": 100,
                 "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}  # fmt: skip
    book = PriceBook.default()
    records = []
    for model, provider, usage in (
        ("claude-sonnet-4-5", "anthropic", anthropic),
        ("gpt-4o-mini", "openai", {"prompt_tokens": 3000, "completion_tokens": 100}),
    ):
        d = tmp_path / model
        d.mkdir()
        q = _queue(_Backend(lambda cid, u=usage: u), d, provider=provider)
        q.add(model, [{"role": "user", "content": "hi"}], custom_id=model)
        q.run(timeout=5)
        records.extend(_records(q).values())
    steps = {s["step"]: s for s in savings_waterfall(LedgerReports.from_records(records))}
    plain = TokenUsage(input_tokens=3000, output_tokens=100)
    expected_batch = sum(
        book.cost(plain, m, p).total - book.cost(plain, m, p, batch=True).total
        for m, p in (("claude-sonnet-4-5", "anthropic"), ("gpt-4o-mini", "openai"))
    )
    # At batch rates: 2,000 reads save $1.35/M each, 500 writes cost $0.375/M above input.
    expected_cache = 2000 * 1.35e-6 - 500 * 0.375e-6
    assert steps["batch API"]["saving_usd"] == pytest.approx(expected_batch)
    assert steps["provider prompt cache"]["saving_usd"] == pytest.approx(expected_cache)
    assert steps["without levers"]["cost_usd"] == pytest.approx(
        sum(
            book.cost(plain, m, p).total
            for m, p in (("claude-sonnet-4-5", "anthropic"), ("gpt-4o-mini", "openai"))
        )
    )


def test_breakpoint_economics_of_a_batch_answer_count_only_the_cache_reads(tmp_path: Path) -> None:
    # `llm-cost prefix-report` judges each breakpoint by what its reads saved: the batch
    # API's own saving on the same record is not theirs.
    from llm_cost_hooks.prompt_cache import breakpoint_economics

    usage = {"prompt_tokens": 3000, "completion_tokens": 100,
             "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}  # fmt: skip
    q = _queue(_Backend(lambda cid: usage), tmp_path, provider="anthropic")
    q.add("claude-sonnet-4-5", [{"role": "user", "content": "hi"}], custom_id="a")
    q.run(timeout=5)
    [row] = breakpoint_economics(_records(q).values())
    assert row.read_savings_usd == pytest.approx(2000 * 1.35e-6)  # batch rates: $1.50 - $0.15 per M
    assert row.write_premium_usd == pytest.approx(500 * 0.375e-6)


def test_the_cache_savings_report_leaves_the_batch_saving_out(tmp_path: Path) -> None:
    # `llm-cost report --show cache`: the provider_prefix row holds what cache reads saved.
    from llm_cost_hooks.ledger import LedgerReports

    usage = {"prompt_tokens": 3000, "completion_tokens": 100,
             "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}  # fmt: skip
    q = _queue(_Backend(lambda cid: usage), tmp_path, provider="anthropic")
    q.add("claude-sonnet-4-5", [{"role": "user", "content": "hi"}], custom_id="a")
    q.run(timeout=5)
    q.tracker.close()
    reports = LedgerReports.from_ledger(q.tracker.ledger)
    [row] = reports.cache_savings()
    assert row["cache_status"] == "provider_prefix" and row["saved_usd"] == pytest.approx(2000 * 1.35e-6)


# How requests a batch did not run come back: OpenAI writes them to the error file with the
# code batch_expired / batch_cancelled; LiteLLM turns Anthropic's "expired" / "canceled"
# results into HTTP 400 lines with this message.
_OPENAI_EXPIRED = {
    "response": None,
    "error": {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    },
}
_OPENAI_CANCELLED = {
    "response": None,
    "error": {
        "code": "batch_cancelled",
        "message": "This request was not executed because the batch was cancelled.",
    },
}


def _litellm_anthropic(kind: str) -> dict[str, Any]:
    error = {"message": f"Batch request was {kind}", "type": "invalid_request_error"}
    return {"response": {"status_code": 400, "request_id": "", "body": {"error": error}}}  # fmt: skip


@pytest.mark.parametrize("expired", [_OPENAI_EXPIRED, _litellm_anthropic("expired")])
def test_requests_a_batch_did_not_run_in_time_are_resubmitted(
    tmp_path: Path, expired: dict[str, Any]
) -> None:
    backend = _Backend(
        lambda cid: {"prompt_tokens": 100, "completion_tokens": 10},
        status="expired",
        error_line=lambda cid, n: expired if n == 1 and cid in ("r2", "r3") else None,
    )
    q = _queue(backend, tmp_path)
    for i in range(4):
        q.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    results = q.run(timeout=5)
    assert backend.creates == 2 and q.state.jobs[1].custom_ids == ["r2", "r3"]
    assert {r.status for r in results.values()} == {ResultStatus.COMPLETED}
    assert all(r.success for r in _records(q).values())


@pytest.mark.parametrize("cancelled", [_OPENAI_CANCELLED, _litellm_anthropic("canceled")])
def test_requests_a_cancelled_batch_did_not_run_are_reported_cancelled(
    tmp_path: Path, cancelled: dict[str, Any]
) -> None:
    backend = _Backend(
        lambda cid: {"prompt_tokens": 100, "completion_tokens": 10},
        status="cancelled",
        error_line=lambda cid, n: cancelled if cid in ("r2", "r3") else None,
    )
    q = _queue(backend, tmp_path)
    for i in range(4):
        q.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    results = q.run(timeout=5)
    assert backend.creates == 1
    assert [results[f"r{i}"].status for i in range(4)] == [ResultStatus.COMPLETED] * 2 + [
        ResultStatus.CANCELLED
    ] * 2


def test_anthropic_usage_counts_cache_tokens_into_the_input() -> None:
    # Anthropic's own usage (a Message Batches result, a /v1/messages body) reports input
    # tokens after the last cache breakpoint only; cache reads and writes come beside it.
    # Responses-API usage counts cached tokens inside input_tokens and stays as reported.
    from llm_cost_hooks._records import usage_invalid
    from llm_cost_hooks.tracking._usage import usage_from_openai

    native = {"input_tokens": 500, "output_tokens": 100,
              "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}  # fmt: skip
    u = usage_from_openai(native)
    assert u is not None
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (3000, 2000, 500)
    assert not usage_invalid(u)
    responses = {"input_tokens": 3000, "output_tokens": 100, "input_tokens_details": {"cached_tokens": 2000}}
    r = usage_from_openai(responses)
    assert r is not None and (r.input_tokens, r.cache_read_tokens) == (3000, 2000)


def test_a_batch_answer_with_anthropic_usage_is_billed_for_every_prompt_token(tmp_path: Path) -> None:
    native = {"input_tokens": 500, "output_tokens": 100,
              "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 500}  # fmt: skip
    q = _queue(_Backend(lambda cid: native), tmp_path, provider="anthropic")
    q.add("claude-sonnet-4-5", [{"role": "user", "content": "hi"}], custom_id="a")
    q.run(timeout=5)
    rec = _records(q)["a"]
    actual = TokenUsage(input_tokens=3000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500)
    assert (rec.input_tokens, rec.cache_read_tokens, rec.cache_write_tokens) == (3000, 2000, 500)
    assert rec.cost_usd == pytest.approx(
        PriceBook.default().cost(actual, "claude-sonnet-4-5", batch=True).total
    )


def test_a_batch_is_marked_done_only_once_its_records_are_in_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process killed right after the state says "done" must not take the batch's records
    # with it: nothing would poll that batch again.
    import sqlite3

    from llm_cost_hooks.batch._models import BatchState, JobStatus

    q = _queue(_Backend(lambda cid: {"prompt_tokens": 100, "completion_tokens": 10}), tmp_path)
    for i in range(3):
        q.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    q.submit()
    # The writer thread holds records back at first, as a busy ledger does.
    monkeypatch.setattr(type(q.tracker.ledger), "_write_batch", _slow(type(q.tracker.ledger)._write_batch))
    on_disk: list[int] = []
    real_save = BatchState.save

    def save(self: BatchState, path: Path) -> None:
        if any(j.status is JobStatus.DONE for j in self.jobs) and not on_disk:
            with sqlite3.connect(tmp_path / "ledger.db") as conn:
                on_disk.append(conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0])
        real_save(self, path)

    monkeypatch.setattr(BatchState, "save", save)
    q.poll(force=True)
    assert on_disk == [3]


def _slow(write: Callable[..., Any]) -> Callable[..., Any]:
    import time

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return write(*args, **kwargs)

    return slow


def test_queuing_appends_each_request_instead_of_rewriting_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Rewriting the whole state on every add() made queuing n requests write O(n^2) bytes
    # (4,000 adds: 22 s). Each add() now appends one line, kept across a restart.
    from llm_cost_hooks.batch._models import BatchState

    saves: list[int] = []
    real_save = BatchState.save
    monkeypatch.setattr(BatchState, "save", lambda self, path: (saves.append(1), real_save(self, path))[1])
    backend = _Backend(lambda cid: {"prompt_tokens": 10, "completion_tokens": 1})
    q = _queue(backend, tmp_path)
    for i in range(50):
        q.add(
            "gpt-4o-mini",
            [{"role": "user", "content": f"q{i}"}],
            custom_id=f"r{i}",
            metadata={"tenant_id": "a"},
        )
    assert saves == []
    journal = tmp_path / "state.json.queued.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"custom_id": "cut-short", "mod')  # killed mid-append: that add() never returned

    # Restarted: the 50 are queued, in order, with their attribution; the cut line is skipped.
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        again = _queue(backend, tmp_path)
    assert [r.custom_id for r in again.state.pending] == [f"r{i}" for i in range(50)]
    assert again.state.pending[7].metadata == {"tenant_id": "a"}
    assert any("damaged line 51" in r.getMessage() for r in caplog.records)
    assert again.add("gpt-4o-mini", [{"role": "user", "content": "q0"}], custom_id="r0") == "r0"
    assert again.pending_count == 50  # a producer's retry is still a no-op

    # Killed after the state took them in but before the journal was removed: replaying it
    # adds nothing, so nothing is submitted twice.
    kept = journal.read_bytes()
    again.submit()
    assert not journal.exists()
    journal.write_bytes(kept)
    third = _queue(backend, tmp_path)
    assert third.pending_count == 0
    assert third.run(timeout=5).keys() == {f"r{i}" for i in range(50)}
    assert backend.creates == 1
