"""A chat request (``completion(**kwargs)`` keywords) as a batch line: what the batch API
takes of it, framework-free."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._queue import BatchQueue

__all__ = ["defer"]

# Keywords of a live call that mean nothing in a batch line (connection, retries, streaming).
_LIVE_ONLY = ("api_base", "api_key", "base_url", "mock_response", "num_retries", "stream", "stream_options")


def defer(queue: BatchQueue, kwargs: Mapping[str, Any]) -> str:
    """Queue the request ``kwargs`` on ``queue`` and return its ``custom_id``. ``model`` may
    carry a provider prefix (``openai/gpt-4o-mini``); the batch line uses the bare name."""
    kw = dict(kwargs)
    model = str(kw.pop("model"))
    messages = kw.pop("messages")
    custom_id = kw.pop("custom_id", None)
    metadata = kw.pop("metadata", None)
    for key in _LIVE_ONLY:
        kw.pop(key, None)
    if "/" in model and model.split("/", 1)[0] in ("openai", "azure"):
        model = model.split("/", 1)[1]
    return queue.add(model, messages, custom_id=custom_id, metadata=metadata, **kw)
