"""A queue of deferrable requests sent through a provider's batch API at batch prices."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import BatchError, ConfigurationError
from .._records import TokenUsage
from ..tracking import CostTracker
from ..tracking._usage import usage_from_openai
from ._models import (
    FINAL_STATUSES,
    Backoff,
    BatchBackend,
    BatchJob,
    BatchRequest,
    BatchResult,
    BatchState,
    JobStatus,
    ResultStatus,
    to_jsonl,
)

__all__ = ["DEFERRABLE_KEY", "BatchError", "BatchQueue", "is_deferrable"]

logger = logging.getLogger("llm_cost_hooks")

#: Metadata key that marks a request as deferrable (``{"deferrable": True}``).
DEFERRABLE_KEY = "deferrable"
_JOB_META_KEY = "llm_cost_hooks_job"
# What the batch API saved on a record, apart from what its prompt-cache reads saved (both
# are in saved_usd): reports credit it to the batch, not to the record's cache status.
_SAVED_TAG = "batch.saved_usd"
# OpenAI's limit per batch input file.
_MAX_PER_BATCH = 50_000


def is_deferrable(metadata: Mapping[str, Any] | None) -> bool:
    """True when the request's metadata marks it deferrable (``deferrable=True``).

    >>> is_deferrable({"deferrable": True}), is_deferrable({"deferrable": "yes"}), is_deferrable(None)
    (True, False, False)
    """
    return bool(metadata) and metadata.get(DEFERRABLE_KEY) is True  # type: ignore[union-attr]


class BatchQueue:
    """Collects deferrable requests, submits them as provider batches, polls, and records
    each answer at the batch price, attributed like a realtime call.

    State (queued requests, submitted jobs, results) lives in ``state_path`` and is saved
    after every step (a request queued since the last save is one line appended to
    ``<state_path>.queued.jsonl``, read back on restart), so a restarted process resumes
    polling the batches it submitted and never submits a request twice: a job is written to
    the state before its batch is created and tagged with its id, and on resume a job whose
    creation was interrupted is looked up by that tag instead of created again.

    Requests a finished batch did not run (absent from its output or written as expired:
    partial output, an expired batch) are queued again up to ``max_resubmits`` times, then
    reported as ``missing``; a failed batch's requests are reported ``batch_failed``
    (resubmitted too with ``resubmit_failed``). A batch cancelled at the provider keeps the
    answers it gave; its other requests are reported ``cancelled`` and not resubmitted.

    Each answer is recorded at the batch price; ``saved_usd`` is what the batch API saved
    over realtime plus what prompt-cache reads saved at batch rates, so cost plus savings
    (net of cache-write premiums) is the realtime price without prompt caching.

    >>> from llm_cost_hooks.batch import BatchQueue
    >>> q = BatchQueue(backend=None, state_path=None, ledger="memory://")
    >>> q.add("gpt-4o-mini", [{"role": "user", "content": "Summarise..."}], custom_id="r1")
    'r1'
    >>> q.pending_count
    1
    """

    def __init__(
        self,
        backend: BatchBackend | None,
        state_path: str | Path | None,
        *,
        tracker: CostTracker | None = None,
        ledger: Any = None,
        price_book: Any = None,
        backoff: Backoff | None = None,
        max_requests_per_batch: int = _MAX_PER_BATCH,
        max_resubmits: int = 1,
        resubmit_failed: bool = False,
        provider: str | None = "openai",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= max_requests_per_batch <= _MAX_PER_BATCH:
            raise ConfigurationError(
                f"max_requests_per_batch must be between 1 and {_MAX_PER_BATCH}, got {max_requests_per_batch}."
            )
        if max_resubmits < 0:
            raise ConfigurationError(f"max_resubmits must be >= 0, got {max_resubmits}.")
        self.backend = backend
        self.state_path = Path(state_path) if state_path is not None else None
        self.tracker = tracker or CostTracker(ledger=ledger, price_book=price_book)
        self.backoff = backoff or Backoff()
        self.max_requests_per_batch = max_requests_per_batch
        self.max_resubmits = max_resubmits
        self.resubmit_failed = resubmit_failed
        self.provider = provider
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self.state = BatchState.load(self.state_path) if self.state_path else BatchState()
        # Requests queued since the state was last saved: appended one line each, so adding
        # n requests writes O(n) bytes, not the whole state n times. Folded into the state
        # file at its next save.
        self._journal = Path(f"{self.state_path}.queued.jsonl") if self.state_path else None
        self._pending_ids = {r.custom_id for r in self.state.pending}
        self._replay_journal()

    # -- queueing ----------------------------------------------------------------------
    def _known(self, custom_id: str) -> bool:
        s = self.state
        return custom_id in s.requests or custom_id in s.results or custom_id in self._pending_ids

    def _queue(self, req: BatchRequest) -> None:
        self.state.pending.append(req)
        self._pending_ids.add(req.custom_id)

    def _replay_journal(self) -> None:
        if self._journal is None or not self._journal.exists():
            return
        for n, raw in enumerate(self._journal.read_bytes().splitlines(), 1):
            try:
                req = BatchRequest.model_validate_json(raw)
            except ValueError:
                # A line cut short by a crash mid-append: its add() never returned.
                logger.warning("llm-cost-hooks: skipped damaged line %d of %s", n, self._journal)
                continue
            if not self._known(req.custom_id):  # also in the state when saved before a crash
                self._queue(req)

    def add(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        custom_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        url: str = "/v1/chat/completions",
        **params: Any,
    ) -> str:
        """Queue one chat request; returns its ``custom_id``. Adding a ``custom_id`` the
        queue already knows (queued, submitted or answered) is a no-op, so producers can
        retry safely. ``params`` (``max_tokens``, ``temperature``, ...) go in the body."""
        if not isinstance(model, str) or not model:
            raise ConfigurationError(f"model must be a non-empty string, got {model!r}.")
        if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
            raise ConfigurationError("messages must be a list of OpenAI-format message dicts.")
        custom_id = custom_id or uuid.uuid4().hex
        meta = {k: v for k, v in (metadata or {}).items() if k != DEFERRABLE_KEY}
        try:
            json.dumps(meta)
            json.dumps(params)
        except TypeError as exc:
            raise ConfigurationError(f"metadata and params must be JSON-serialisable: {exc}") from None
        with self._lock:
            if self._known(custom_id):
                return custom_id
            body = {"messages": [dict(m) for m in messages], **params}
            req = BatchRequest(
                custom_id=custom_id, model=model, body=body, url=url, metadata=meta, provider=self.provider
            )
            if self._journal is not None:
                with open(self._journal, "ab") as f:
                    f.write(req.model_dump_json().encode() + b"\n")
                    f.flush()
                    os.fsync(f.fileno())
            self._queue(req)
        return custom_id

    @property
    def pending_count(self) -> int:
        return len(self.state.pending)

    @property
    def active_jobs(self) -> list[BatchJob]:
        return [j for j in self.state.jobs if j.status is not JobStatus.DONE]

    def results(self) -> dict[str, BatchResult]:
        """Outcomes so far, by ``custom_id``."""
        return dict(self.state.results)

    def _save(self) -> None:
        if self.state_path is not None:
            self.state.save(self.state_path)
            if self._journal is not None:
                # Now in the state file; a crash before this unlink replays known ids: no-ops.
                self._journal.unlink(missing_ok=True)

    def _need_backend(self) -> BatchBackend:
        if self.backend is None:
            raise ConfigurationError(
                "This BatchQueue has no backend: pass backend=LiteLLMBatchClient(...) "
                "(llm_cost_hooks.litellm) or another BatchBackend."
            )
        return self.backend

    # -- submission --------------------------------------------------------------------
    def submit(self) -> list[BatchJob]:
        """Submit every queued request (one batch per model and endpoint, split at
        ``max_requests_per_batch``), and finish creating jobs interrupted by a restart."""
        backend = self._need_backend()
        created: list[BatchJob] = []
        with self._lock:
            groups: dict[tuple[str, str], list[BatchRequest]] = {}
            for req in self.state.pending:
                groups.setdefault((req.model, req.url), []).append(req)
            for (model, url), reqs in groups.items():
                for i in range(0, len(reqs), self.max_requests_per_batch):
                    chunk = reqs[i : i + self.max_requests_per_batch]
                    job = BatchJob(
                        job_id=uuid.uuid4().hex,
                        custom_ids=[r.custom_id for r in chunk],
                        model=model,
                        endpoint=url,
                    )
                    for r in chunk:
                        r.submissions += 1
                        self.state.requests[r.custom_id] = r
                    self.state.jobs.append(job)
                    created.append(job)
            self.state.pending = []
            self._pending_ids.clear()
            # The jobs (and which requests they hold) are on disk before any upload.
            self._save()
            for job in [j for j in self.state.jobs if j.status is JobStatus.UPLOADED]:
                self._create(backend, job)
        return created

    def _create(self, backend: BatchBackend, job: BatchJob) -> None:
        # Resume: was the batch created before a crash lost its id? Find it by our tag.
        found = backend.find(_JOB_META_KEY, job.job_id) if job.input_file_id else None
        if found is None:
            if job.input_file_id is None:
                data = to_jsonl([self.state.requests[c] for c in job.custom_ids])
                job.input_file_id = backend.upload(data, f"llm_cost_hooks_{job.job_id}.jsonl")
                self._save()
            found = backend.create(job.input_file_id, job.endpoint, {_JOB_META_KEY: job.job_id})
        job.batch_id = str(found["id"])
        job.provider_status = found.get("status")
        job.status = JobStatus.SUBMITTED
        job.submitted_at = self._clock()
        job.poll_interval = self.backoff.initial
        job.next_poll_at = self._clock() + job.poll_interval
        self._save()
        logger.info(
            "llm-cost-hooks: submitted batch %s (%d requests, %s)",
            job.batch_id,
            len(job.custom_ids),
            job.model,
        )

    # -- polling -----------------------------------------------------------------------
    def poll(self, *, force: bool = False) -> list[BatchResult]:
        """Check every submitted batch that is due (all with ``force``); process the
        finished ones. Returns the results that became known."""
        backend = self._need_backend()
        new: list[BatchResult] = []
        with self._lock:
            now = self._clock()
            for job in list(self.state.jobs):
                if job.status is not JobStatus.SUBMITTED or (not force and job.next_poll_at > now):
                    continue
                batch = backend.retrieve(job.batch_id or "")
                job.polls += 1
                job.provider_status = str(batch.get("status"))
                if job.provider_status in FINAL_STATUSES:
                    new.extend(self._process(backend, job, batch))
                    # Its records are written before the state says it is done: a process
                    # killed in between polls it again (recorded once, same request ids),
                    # instead of losing records nothing would write again.
                    if not self.tracker.flush():
                        logger.warning(
                            "llm-cost-hooks: the ledger did not confirm batch %s's records in time",
                            job.batch_id,
                        )
                else:
                    job.poll_interval = self.backoff.next(job.poll_interval)
                    job.next_poll_at = self._clock() + job.poll_interval
                self._save()
        return new

    def next_poll_in(self) -> float | None:
        """Seconds until the next batch is due for a poll (None when none is active)."""
        due = [j.next_poll_at for j in self.state.jobs if j.status is JobStatus.SUBMITTED]
        return max(min(due) - self._clock(), 0.0) if due else None

    def run(self, *, timeout: float | None = None) -> dict[str, BatchResult]:
        """Submit what is queued and poll (with back-off) until every request has an
        outcome, resubmitting missing ones; returns all results."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            if self.state.pending or any(j.status is JobStatus.UPLOADED for j in self.state.jobs):
                self.submit()
            wait = self.next_poll_in()
            if wait is None and not self.state.pending:
                return self.results()
            if wait:
                if deadline is not None and self._clock() + wait > deadline:
                    raise TimeoutError(
                        f"batches still running after {timeout} s: "
                        + ", ".join(j.batch_id or j.job_id for j in self.active_jobs)
                    )
                self._sleep(wait)
            self.poll()

    # -- results -----------------------------------------------------------------------
    def _lines(self, backend: BatchBackend, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        out = []
        for raw in backend.content(file_id).splitlines():
            if raw.strip():
                try:
                    line = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    line = None
                if isinstance(line, dict):
                    out.append(line)
                else:  # its request, if any, is reported missing like an absent line
                    logger.warning("llm-cost-hooks: skipped a malformed line in batch file %s", file_id)
        return out

    def _process(self, backend: BatchBackend, job: BatchJob, batch: Mapping[str, Any]) -> list[BatchResult]:
        job.output_file_id = batch.get("output_file_id")
        job.error_file_id = batch.get("error_file_id")
        status = job.provider_status
        results: list[BatchResult] = []
        seen: set[str] = set()
        wanted = set(job.custom_ids)
        strays: list[str] = []
        cancelled: list[str] = []
        for line in self._lines(backend, job.output_file_id) + self._lines(backend, job.error_file_id):
            cid = line.get("custom_id")
            if cid not in wanted:
                strays.append(str(cid))
                continue
            if cid in seen or cid in self.state.results:
                continue
            not_run = _not_run(line)
            if not_run == "expired":
                continue  # never ran: like a request absent from the output, resubmitted
            seen.add(cid)
            if not_run == "cancelled":
                cancelled.append(cid)
                continue
            results.append(self._record_line(job, self.state.requests[cid], line))
        if cancelled:
            why = f"batch {job.batch_id} was cancelled before answering"
            results.extend(
                self._give_up_or_requeue(job, cancelled, ResultStatus.CANCELLED, why, requeue=False)
            )
        if strays:
            # Billed by the provider but sent by no request of this batch: nothing to attribute
            # it to, so it is not recorded; said, so a bill that differs can be traced.
            logger.warning(
                "llm-cost-hooks: batch %s returned %d line(s) for custom_id(s) it was not sent: %s",
                job.batch_id,
                len(strays),
                ", ".join(strays[:10]),
            )
        missing = [c for c in job.custom_ids if c not in seen and c not in self.state.results]
        if status == "failed":
            errs = (batch.get("errors") or {}).get("data") or []
            reason = "; ".join(str(e.get("message") or e.get("code")) for e in errs) or "batch failed"
            job.errors.append(reason)
            results.extend(
                self._give_up_or_requeue(
                    job,
                    missing,
                    ResultStatus.BATCH_FAILED,
                    f"batch {job.batch_id} failed: {reason}",
                    requeue=self.resubmit_failed,
                )
            )
        elif status == "cancelled":
            # Someone cancelled it to stop the spend: its unanswered requests are not sent again.
            why = f"batch {job.batch_id} was cancelled before answering"
            results.extend(self._give_up_or_requeue(job, missing, ResultStatus.CANCELLED, why, requeue=False))
        else:
            why = f"absent from the output of batch {job.batch_id} ({status})"
            results.extend(self._give_up_or_requeue(job, missing, ResultStatus.MISSING, why, requeue=True))
        job.status = JobStatus.DONE
        job.finished_at = self._clock()
        for r in results:
            self.state.results[r.custom_id] = r
        return results

    def _give_up_or_requeue(
        self, job: BatchJob, custom_ids: list[str], status: ResultStatus, why: str, *, requeue: bool
    ) -> list[BatchResult]:
        out = []
        for cid in custom_ids:
            req = self.state.requests[cid]
            if requeue and req.submissions <= self.max_resubmits:
                self.state.requests.pop(cid, None)
                self._queue(req)
                continue
            out.append(self._record_failure(job, req, status, why))
        if custom_ids:
            logger.warning("llm-cost-hooks: %d request(s) %s", len(custom_ids), why)
        return out

    def _start(self, job: BatchJob, req: BatchRequest, saved: float | None = None) -> None:
        tags = {"batch_id": job.batch_id or "", "batch": "true"}
        if saved:
            tags[_SAVED_TAG] = f"{saved:.10g}"
        run = self.tracker.start_llm(
            req.custom_id,
            None,
            model=req.model,
            provider=req.provider,
            name=req.model,
            params={k: v for k, v in req.body.items() if k in ("max_tokens", "temperature", "top_p")},
            metadata={
                **req.metadata,
                "cost_tags": {**(req.metadata.get("cost_tags") or {}), **tags},
            },
            messages=req.body.get("messages"),
        )
        if job.submitted_at is not None:
            # Stamped with the batch's submission time, saved in the state: a batch polled
            # again after a restart (its answers recorded, the state not yet saved) writes
            # the same (timestamp, request id) again, which replaces the row, not adds one.
            run.start_time = datetime.fromtimestamp(job.submitted_at, timezone.utc)

    def _record_line(self, job: BatchJob, req: BatchRequest, line: Mapping[str, Any]) -> BatchResult:
        response = line.get("response") or {}
        body = response.get("body") if isinstance(response, Mapping) else None
        code = response.get("status_code") if isinstance(response, Mapping) else None
        status = _http_status(code)
        error = line.get("error")
        if error or not isinstance(body, Mapping) or (status is not None and status >= 400):
            message = ""
            if isinstance(error, Mapping):
                message = str(error.get("message") or error.get("code"))
            elif isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
                message = str(body["error"].get("message"))
            return self._record_failure(
                job, req, ResultStatus.FAILED, f"HTTP {code}: {message}" if code else message or "error"
            )

        usage = usage_from_openai(body.get("usage"))
        realtime = saved = 0.0
        if usage is not None:
            realtime = self.tracker.price(usage, req.model, req.provider)[0].total
            # What the batch API saved, on the prompt taken as plain input: the record adds
            # what cache reads saved at batch rates, so the two sum to the realtime price with
            # no prompt cache (the report's "without levers"), each counted once.
            plain = usage.model_copy(update={"cache_read_tokens": 0, "cache_write_tokens": 0})
            saved = max(
                self.tracker.price(plain, req.model, req.provider)[0].total
                - self.tracker.price(plain, req.model, req.provider, batch=True)[0].total,
                0.0,
            )
        self._start(job, req, saved)
        record = self.tracker.end_llm(
            req.custom_id,
            usage,
            model=req.model,
            batch=True,
            output_text=lambda: _text(body),
            saved_usd=saved,
        )
        cost = record.cost_usd if record is not None else 0.0
        return BatchResult(
            custom_id=req.custom_id,
            status=ResultStatus.COMPLETED,
            batch_id=job.batch_id,
            response=dict(body),
            cost_usd=cost,
            realtime_cost_usd=realtime,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
        )

    def _record_failure(
        self, job: BatchJob, req: BatchRequest, status: ResultStatus, why: str
    ) -> BatchResult:
        self._start(job, req)
        # Not billed: a request the batch did not answer costs nothing.
        self.tracker.error_llm(req.custom_id, BatchError(why), usage=TokenUsage())
        return BatchResult(custom_id=req.custom_id, status=status, batch_id=job.batch_id, error=why)


def _not_run(line: Mapping[str, Any]) -> str | None:
    """``"expired"`` / ``"cancelled"`` for the line of a request the provider never ran (no
    bill, no answer), else None. OpenAI writes them to the error file with the code
    ``batch_expired`` / ``batch_cancelled``; LiteLLM turns Anthropic's ``expired`` /
    ``canceled`` results into HTTP 400 lines with its own message."""
    error = line.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    response = line.get("response")
    body = response.get("body") if isinstance(response, Mapping) else None
    body_error = body.get("error") if isinstance(body, Mapping) else None
    message = body_error.get("message") if isinstance(body_error, Mapping) else None
    if code == "batch_expired" or message == "Batch request was expired":
        return "expired"
    if code == "batch_cancelled" or message == "Batch request was canceled":
        return "cancelled"
    return None


def _http_status(code: Any) -> int | None:
    """A line's HTTP status as a number; None when absent or unreadable (the body decides)."""
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def _text(body: Mapping[str, Any]) -> str:
    """The answer's text (counted when the line reports no usage); "" when it has none."""
    choices = body.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        message = choice.get("message") if isinstance(choice, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            return content
    return ""
