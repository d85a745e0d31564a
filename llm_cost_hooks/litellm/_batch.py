"""The batch queue's backend over LiteLLM's files and batches API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import litellm

from ..batch import BatchQueue, is_deferrable
from ..batch._requests import defer

__all__ = ["DeferredResponse", "LiteLLMBatchClient", "completion_or_defer"]


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    return dict(dump()) if callable(dump) else dict(vars(obj))


class LiteLLMBatchClient:
    """A :class:`~llm_cost_hooks.batch.BatchBackend` that calls ``litellm.create_file``,
    ``create_batch``, ``retrieve_batch``, ``list_batches`` and ``file_content``.

    ``api_base`` / ``api_key`` go to every call (``None``: LiteLLM's defaults from the
    environment, e.g. ``OPENAI_API_KEY``).

    >>> from llm_cost_hooks.litellm import LiteLLMBatchClient
    >>> client = LiteLLMBatchClient(api_base="http://127.0.0.1:8000/v1", api_key="sk-local")
    """

    def __init__(
        self,
        *,
        custom_llm_provider: str = "openai",
        api_base: str | None = None,
        api_key: str | None = None,
        completion_window: str = "24h",
        **extra: Any,
    ) -> None:
        self.custom_llm_provider = custom_llm_provider
        self.completion_window = completion_window
        self._kw: dict[str, Any] = {"custom_llm_provider": custom_llm_provider, **extra}
        if api_base is not None:
            self._kw["api_base"] = api_base
        if api_key is not None:
            self._kw["api_key"] = api_key

    def upload(self, data: bytes, filename: str) -> str:
        f = litellm.create_file(file=(filename, data), purpose="batch", **self._kw)
        return str(f.id)

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        batch = litellm.create_batch(
            completion_window=self.completion_window,
            endpoint=endpoint,
            input_file_id=input_file_id,
            metadata=metadata,
            **self._kw,
        )
        return _as_dict(batch)

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return _as_dict(litellm.retrieve_batch(batch_id=batch_id, **self._kw))

    def content(self, file_id: str) -> bytes:
        resp = litellm.file_content(file_id=file_id, **self._kw)
        data = getattr(resp, "content", resp)
        return data if isinstance(data, bytes) else str(data).encode()

    def find(self, metadata_key: str, value: str) -> dict[str, Any] | None:
        # Every page: a batch missed on a busy account would be created (and billed) twice.
        after: str | None = None
        while True:
            page = _as_dict(litellm.list_batches(after=after, limit=100, **self._kw))
            items = [_as_dict(item) for item in page.get("data") or ()]
            for batch in items:
                if (batch.get("metadata") or {}).get(metadata_key) == value:
                    return batch
            last = page.get("last_id") or (items[-1].get("id") if items else None)
            if not page.get("has_more") or not last or last == after:
                return None
            after = str(last)


class DeferredResponse:
    """Returned by :func:`completion_or_defer` for a deferred request: the ``custom_id``
    under which its answer will appear in ``queue.results()``.

    >>> from llm_cost_hooks.batch import BatchQueue
    >>> queue = BatchQueue(backend=None, state_path=None, ledger="memory://")
    >>> deferred = completion_or_defer(queue, model="gpt-4o-mini", metadata={"deferrable": True},
    ...                                messages=[{"role": "user", "content": "Summarise..."}])
    >>> isinstance(deferred, DeferredResponse), deferred.custom_id in queue.results()
    (True, False)
    """

    __slots__ = ("custom_id",)

    def __init__(self, custom_id: str) -> None:
        self.custom_id = custom_id

    def __repr__(self) -> str:
        return f"DeferredResponse(custom_id={self.custom_id!r})"


def completion_or_defer(queue: BatchQueue, **kwargs: Any) -> Any:
    """``litellm.completion(**kwargs)``, unless ``kwargs["metadata"]`` marks the request
    ``deferrable=True``: then it is queued for the batch API and a
    :class:`DeferredResponse` comes back at once.

    ``model`` may carry a provider prefix (``openai/gpt-4o-mini``); the batch line uses
    the bare model name.

    >>> from llm_cost_hooks.batch import BatchQueue
    >>> queue = BatchQueue(backend=None, state_path=None, ledger="memory://")
    >>> completion_or_defer(queue, model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Summarise..."}],
    ...                     metadata={"deferrable": True, "tenant_id": "acme"})
    DeferredResponse(custom_id='...')
    >>> queue.pending_count
    1
    >>> completion_or_defer(queue, model="gpt-4o-mini", mock_response="Now.",  # not deferrable: called now
    ...                     messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content
    'Now.'
    """
    if not is_deferrable(kwargs.get("metadata")):
        return litellm.completion(**kwargs)
    return DeferredResponse(defer(queue, kwargs))
