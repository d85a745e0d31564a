"""Batch-API routing for deferrable work (framework-free core).

Requests that do not need an answer now (metadata ``deferrable=True``, or queued with
:meth:`BatchQueue.add`) are written as the provider's batch JSONL, submitted through a
:class:`BatchBackend` (the LiteLLM files + batches API: ``llm_cost_hooks.litellm.LiteLLMBatchClient``),
polled with back-off, mapped back by ``custom_id`` and recorded at the batch price.
State survives a restart (``state_path``) without submitting anything twice.

>>> from llm_cost_hooks.batch import BatchQueue, is_deferrable
>>> is_deferrable({"deferrable": True})
True
"""

from .._errors import BatchError
from ._models import (
    Backoff,
    BatchBackend,
    BatchJob,
    BatchRequest,
    BatchResult,
    JobStatus,
    ResultStatus,
    to_jsonl,
)
from ._queue import DEFERRABLE_KEY, BatchQueue, is_deferrable

__all__ = [
    "DEFERRABLE_KEY",
    "Backoff",
    "BatchBackend",
    "BatchError",
    "BatchJob",
    "BatchQueue",
    "BatchRequest",
    "BatchResult",
    "JobStatus",
    "ResultStatus",
    "is_deferrable",
    "to_jsonl",
]
