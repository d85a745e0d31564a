"""A batch polled again after the process died between recording its answers and saving its
state: each answer stays one record in the ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks.batch import BatchQueue
from llm_cost_hooks.batch._models import BatchState
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.tracking import CostTracker


class _Backend:
    """An OpenAI-like batch API in memory: every batch completes with usage for each line,
    but the first line's request fails."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def upload(self, data: bytes, filename: str) -> str:
        fid = f"file-{len(self.files)}"
        self.files[fid] = data
        return fid

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        lines = [json.loads(x) for x in self.files[input_file_id].splitlines()]
        out = []
        for i, line in enumerate(lines):
            if i == 0:
                resp = {"status_code": 500, "body": {"error": {"message": "server error"}}}
            else:
                usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
                body = {"choices": [{"message": {"content": "ok"}}], "usage": usage}
                resp = {"status_code": 200, "body": body}
            out.append(json.dumps({"custom_id": line["custom_id"], "response": resp}))
        self.files[f"out-{input_file_id}"] = "\n".join(out).encode()
        bid = f"batch-{len(self.batches)}"
        self.batches[bid] = {
            "id": bid,
            "status": "completed",
            "output_file_id": f"out-{input_file_id}",
            "metadata": metadata,
        }
        return self.batches[bid]

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self.batches[batch_id]

    def content(self, file_id: str) -> bytes:
        return self.files[file_id]

    def find(self, metadata_key: str, value: str) -> dict[str, Any] | None:
        return next((b for b in self.batches.values() if b["metadata"].get(metadata_key) == value), None)


class _Died(BaseException):
    pass


def test_repolled_batch_is_recorded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, state = tmp_path / "llm_costs.db", tmp_path / "batch_state.json"
    backend = _Backend()
    ledger = SQLiteLedger(db)
    queue = BatchQueue(backend, state, tracker=CostTracker(ledger=ledger))
    for i in range(4):
        queue.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    queue.submit()

    # The process dies after the answers went to the ledger, before the state says so.
    real_save = BatchState.save
    monkeypatch.setattr(BatchState, "save", lambda self, path: (_ for _ in ()).throw(_Died()))
    with pytest.raises(_Died):
        queue.poll(force=True)
    monkeypatch.setattr(BatchState, "save", real_save)
    ledger.close()

    # Restarted: the batch is still "submitted" in the state, so it is polled again.
    ledger = SQLiteLedger(db)
    again = BatchQueue(backend, state, tracker=CostTracker(ledger=ledger))
    assert len(again.poll(force=True)) == 4
    ledger.close()

    rows = (
        sqlite3.connect(db)
        .execute("SELECT request_id, success, cost_usd FROM cost_records ORDER BY request_id")
        .fetchall()
    )
    assert [r[0] for r in rows] == ["r0", "r1", "r2", "r3"], rows
    assert rows[0][1] == 0 and rows[0][2] == 0.0  # the failed item: recorded, not billed
    # The answered ones at the batch price: half of gpt-4o-mini's $0.15 / $0.60 per million.
    for _, ok, cost in rows[1:]:
        assert ok == 1 and cost == pytest.approx((1000 * 0.15 + 100 * 0.60) / 2e6)


@pytest.mark.parametrize(
    "bad_line",
    [
        json.dumps([1, 2]),  # valid JSON, not an object
        json.dumps({"custom_id": "r0", "response": {"status_code": "200 OK", "body": {"choices": []}}}),
        # no usage (so the answer's text is counted) and choices of the wrong shapes
        json.dumps({"custom_id": "r0", "response": {"status_code": 200, "body": {"choices": 5}}}),
        json.dumps({"custom_id": "r0", "response": {"status_code": 200, "body": {"choices": ["x"]}}}),
        json.dumps({"custom_id": "r0", "response": {"body": {"choices": [{"message": "text"}]}}}),
    ],
)
def test_a_malformed_output_line_does_not_wedge_the_queue(tmp_path: Path, bad_line: str) -> None:
    # A line the queue cannot read must not make every poll raise (the batch would stay
    # "submitted" and its other answers never be recorded).
    from llm_cost_hooks.ledger import MemoryLedger

    backend = _Backend()
    ledger = MemoryLedger()
    queue = BatchQueue(backend, tmp_path / "state.json", tracker=CostTracker(ledger=ledger), max_resubmits=0)
    for i in range(3):
        queue.add("gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], custom_id=f"r{i}")
    (job,) = queue.submit()
    out = backend.batches[str(job.batch_id)]["output_file_id"]
    lines = backend.files[out].decode().splitlines()
    backend.files[out] = "\n".join([bad_line, *lines[1:]]).encode()
    results = {r.custom_id: r for r in queue.poll(force=True)}
    assert results["r1"].status.value == "completed" and results["r2"].status.value == "completed"
    assert "r0" in results  # answered as read, or reported missing: either way it has an outcome
    assert not queue.active_jobs
    tracker_records = {r.request_id for r in ledger.records()}
    assert {"r1", "r2"} <= tracker_records


def test_resume_finds_its_batch_past_the_first_page_of_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # On resume, a job whose batch creation was interrupted looks its batch up by tag. An
    # account with more than one page of newer batches must not make it miss and create
    # (and pay for) the same batch a second time.
    pytest.importorskip("litellm")
    import litellm

    from llm_cost_hooks.litellm import LiteLLMBatchClient

    batches = [{"id": f"batch_{i}", "metadata": {"other": "x"}} for i in range(250)]
    batches[180]["metadata"] = {"llm_cost_hooks_job": "job-1"}
    calls: list[Any] = []

    def list_batches(after: str | None = None, limit: int | None = None, **kw: Any) -> dict[str, Any]:
        calls.append(after)
        start = 0 if after is None else next(i for i, b in enumerate(batches) if b["id"] == after) + 1
        page = batches[start : start + (limit or 20)]
        return {"data": page, "has_more": start + len(page) < len(batches), "last_id": page[-1]["id"]}

    monkeypatch.setattr(litellm, "list_batches", list_batches)
    client = LiteLLMBatchClient(api_key="sk-test")
    found = client.find("llm_cost_hooks_job", "job-1")
    assert found is not None and found["id"] == "batch_180"
    assert client.find("llm_cost_hooks_job", "job-2") is None and len(calls) <= 2 + 3
