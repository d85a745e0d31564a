"""Records of the batch queue: requests, submitted jobs, results and the saved state."""

from __future__ import annotations

import json
import os
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .._errors import ConfigurationError

__all__ = [
    "Backoff",
    "BatchBackend",
    "BatchJob",
    "BatchRequest",
    "BatchResult",
    "BatchState",
    "JobStatus",
    "ResultStatus",
    "to_jsonl",
]

#: OpenAI batch statuses that are final.
FINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchRequest(BaseModel):
    """One deferred request, as it goes into the provider's batch JSONL.

    ``metadata`` carries the attribution (``tenant_id``, ``feature``, ...) recorded with
    the result; it is not sent to the provider.

    >>> request = BatchRequest(custom_id="r1", model="gpt-4o-mini",
    ...                        body={"messages": [{"role": "user", "content": "Hi"}]},
    ...                        metadata={"tenant_id": "acme"})
    >>> request.line()
    {'custom_id': 'r1', 'method': 'POST', 'url': '/v1/chat/completions',
     'body': {'messages': [{'role': 'user', 'content': 'Hi'}], 'model': 'gpt-4o-mini'}}
    """

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    model: str
    body: dict[str, Any]
    url: str = "/v1/chat/completions"
    metadata: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None
    submissions: int = 0
    queued_at: float = Field(default_factory=time.time)

    def line(self) -> dict[str, Any]:
        """The request as one line of OpenAI's batch input format."""
        return {
            "custom_id": self.custom_id,
            "method": "POST",
            "url": self.url,
            "body": {**self.body, "model": self.model},
        }


def to_jsonl(requests: list[BatchRequest]) -> bytes:
    """Requests -> the bytes of a batch input file (one JSON object per line).

    >>> to_jsonl([BatchRequest(custom_id="a", model="gpt-4o-mini", body={"messages": []})])[:16]
    b'{"custom_id":"a"'
    """
    return b"".join(
        json.dumps(r.line(), separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in requests
    )


class JobStatus(str, Enum):
    """Our view of a submitted batch.

    >>> [status.value for status in JobStatus]
    ['uploaded', 'submitted', 'done']
    """

    UPLOADED = "uploaded"  # input file uploaded, batch not (known to be) created
    SUBMITTED = "submitted"  # batch created, waiting for it to finish
    DONE = "done"  # final status seen and its results processed


class BatchJob(BaseModel):
    """One provider batch we submitted (or are submitting); :meth:`BatchQueue.submit`
    returns them (a full run is under :class:`BatchBackend`).

    >>> job = BatchJob(job_id="j1", custom_ids=["r1", "r2"], model="gpt-4o-mini")
    >>> job.status.value, job.batch_id
    ('uploaded', None)
    """

    model_config = ConfigDict(extra="forbid")

    job_id: str
    custom_ids: list[str]
    model: str
    endpoint: str = "/v1/chat/completions"
    status: JobStatus = JobStatus.UPLOADED
    input_file_id: str | None = None
    batch_id: str | None = None
    provider_status: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    polls: int = 0
    poll_interval: float = 0.0
    next_poll_at: float = 0.0
    submitted_at: float | None = None
    finished_at: float | None = None
    errors: list[str] = Field(default_factory=list)


class ResultStatus(str, Enum):
    """How one deferred request ended in its batch.

    >>> ResultStatus("batch_failed") is ResultStatus.BATCH_FAILED
    True
    """

    COMPLETED = "completed"  # an answer came back and was recorded at the batch price
    FAILED = "failed"  # the provider answered with an error for this request
    BATCH_FAILED = "batch_failed"  # the whole batch failed
    CANCELLED = "cancelled"  # its batch was cancelled before answering it; not resubmitted
    MISSING = "missing"  # absent from the output after the batch ended, resubmits exhausted


class BatchResult(BaseModel):
    """The outcome of one deferred request, from :meth:`BatchQueue.poll` or
    :meth:`BatchQueue.results` (a full run is under :class:`BatchBackend`).

    >>> result = BatchResult(custom_id="r1", status=ResultStatus.COMPLETED,
    ...                      response={"choices": [{"message": {"content": "Done."}}]})
    >>> result.text, result.error
    ('Done.', None)
    """

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    status: ResultStatus
    batch_id: str | None = None
    response: dict[str, Any] | None = None
    error: str | None = None
    cost_usd: float = 0.0
    realtime_cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def text(self) -> str:
        """The answer's text ('' when there is none)."""
        for choice in (self.response or {}).get("choices") or ():
            content = (choice.get("message") or {}).get("content")
            if isinstance(content, str):
                return content
        return ""


class Backoff(BaseModel):
    """Polling intervals: ``initial`` seconds, times ``factor`` after each unfinished poll,
    at most ``maximum``.

    >>> backoff = Backoff(initial=30, factor=2, maximum=100)
    >>> backoff.next(0), backoff.next(30), backoff.next(60)
    (30.0, 60.0, 100.0)
    """

    model_config = ConfigDict(frozen=True)

    initial: float = Field(default=30.0, gt=0)
    factor: float = Field(default=1.5, ge=1)
    maximum: float = Field(default=600.0, gt=0)

    def next(self, current: float) -> float:
        if current <= 0:
            return self.initial
        return min(current * self.factor, self.maximum)


class BatchState(BaseModel):
    """Everything the queue must remember across a restart."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    pending: list[BatchRequest] = Field(default_factory=list)
    requests: dict[str, BatchRequest] = Field(default_factory=dict)  # submitted, by custom_id
    jobs: list[BatchJob] = Field(default_factory=list)
    results: dict[str, BatchResult] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BatchState:
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_bytes())
        except Exception as exc:
            raise ConfigurationError(
                f"Batch state file {str(path)!r} cannot be read ({exc.__class__.__name__}: {exc}); "
                "fix or move it away (a new one is started when it is absent)."
            ) from None

    def save(self, path: Path) -> None:
        # Write-then-rename: a crash mid-write leaves the previous state, never half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.model_dump_json().encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


class BatchBackend(Protocol):
    """The provider's files + batches API (OpenAI shape). The LiteLLM adapter
    (:class:`llm_cost_hooks.litellm.LiteLLMBatchClient`) implements it.

    A stand-in that finishes every batch at once, as a test of your own code might use:

    >>> import json
    >>> from llm_cost_hooks.batch import BatchQueue
    >>> class InstantBatches:
    ...     def __init__(self):
    ...         self.files = {}
    ...     def upload(self, data, filename):
    ...         self.files["in"] = data
    ...         return "in"
    ...     def create(self, input_file_id, endpoint, metadata):
    ...         body = {"choices": [{"message": {"content": "Done."}}],
    ...                 "usage": {"prompt_tokens": 12, "completion_tokens": 2}}
    ...         lines = [{"custom_id": json.loads(line)["custom_id"],
    ...                   "response": {"status_code": 200, "body": body}}
    ...                  for line in self.files["in"].splitlines()]
    ...         self.files["out"] = "\\n".join(map(json.dumps, lines)).encode()
    ...         return self.retrieve("batch_1")
    ...     def retrieve(self, batch_id):
    ...         return {"id": batch_id, "status": "completed", "output_file_id": "out"}
    ...     def content(self, file_id):
    ...         return self.files[file_id]
    ...     def find(self, metadata_key, value):
    ...         return None
    >>> q = BatchQueue(backend=InstantBatches(), state_path=None, ledger="memory://")
    >>> q.add("gpt-4o-mini", [{"role": "user", "content": "Summarise..."}], custom_id="r1")
    'r1'
    >>> [(job.batch_id, job.status.value) for job in q.submit()]
    [('batch_1', 'submitted')]
    >>> [(r.custom_id, r.status.value, r.text, r.cost_usd < r.realtime_cost_usd) for r in q.poll(force=True)]
    [('r1', 'completed', 'Done.', True)]
    """

    def upload(self, data: bytes, filename: str) -> str:
        """Upload a batch input file; return its file id."""
        ...

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        """Create a batch; return the batch object."""
        ...

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The batch object now."""
        ...

    def content(self, file_id: str) -> bytes:
        """The bytes of a file (output or error file)."""
        ...

    def find(self, metadata_key: str, value: str) -> dict[str, Any] | None:
        """A batch whose ``metadata[metadata_key] == value`` (None if none), so a job whose
        creation was interrupted is found instead of created twice."""
        ...
