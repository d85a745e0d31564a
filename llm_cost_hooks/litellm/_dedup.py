"""Deduplicated LiteLLM calls: concurrent identical requests share one upstream call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import litellm

from .._records import CacheStatus
from ..dedup import RedisSingleFlight, idempotency_key
from ..dedup._hooked import HookDedup, credentials_scope
from ._prepare import split_model
from ._usage import usage_from_litellm

__all__ = ["adeduplicated_completion", "deduplicated_completion", "hook_dedup", "shared_response"]

_KEY_FIELDS_SKIP = frozenset(
    {"metadata", "api_key", "mock_response", "num_retries", "timeout", "litellm_call_id"}
)


def _key(kwargs: Mapping[str, Any]) -> str | None:
    request = {k: v for k, v in kwargs.items() if k not in _KEY_FIELDS_SKIP}
    md = kwargs.get("metadata")
    # An explicit key is scoped to the model too: the same key on another model is another
    # call; and to the credentials (a digest): another API key is another customer.
    namespace = f"litellm:{kwargs.get('model') or ''}:{credentials_scope(kwargs)}"
    return idempotency_key(md if isinstance(md, Mapping) else None, request, namespace=namespace)


def _dumps(response: Any) -> str:
    return str(response.model_dump_json())


def _loads(data: str) -> Any:
    return litellm.ModelResponse(**json.loads(data))


def _serde(flight: Any) -> dict[str, Any]:
    # Results cross processes as JSON, never pickled.
    return {"dumps": _dumps, "loads": _loads} if isinstance(flight, RedisSingleFlight) else {}


def _record_shared(response: Any, kwargs: Mapping[str, Any]) -> None:
    """A caller served by another caller's call: a $0 record, saved = that call's price,
    on every installed :class:`CostHooksLogger` (no LiteLLM event exists for it)."""
    from ._logger import CostHooksLogger, _metadata_of

    for cb in list(litellm.callbacks):
        if not isinstance(cb, CostHooksLogger):
            continue
        model, provider = split_model(str(kwargs.get("model")))
        run_id = f"dedup-{uuid.uuid4().hex}"
        cb.tracker.start_llm(
            run_id,
            None,
            model=model,
            provider=provider,
            metadata=_metadata_of({"metadata": kwargs.get("metadata")}),
        )
        cb.tracker.end_llm(
            run_id,
            usage_from_litellm(getattr(response, "usage", None)),
            model=model,
            cache_status=CacheStatus.DEDUPLICATED,
        )


def deduplicated_completion(flight: Any, **kwargs: Any) -> Any:
    """``litellm.completion(**kwargs)`` through a single-flight (``SingleFlight`` or
    ``RedisSingleFlight`` from :mod:`llm_cost_hooks.dedup`): identical concurrent requests
    (or the same ``metadata["idempotency_key"]``) make one upstream call; the others get
    its response and a ``deduplicated`` cost record ($0, saved = the shared call's price).

    >>> from llm_cost_hooks.dedup import SingleFlight
    >>> flight = SingleFlight(result_ttl=60)
    >>> request = dict(model="gpt-4o-mini", mock_response="Within 3-5 days.",
    ...                messages=[{"role": "user", "content": "When does my card arrive?"}])
    >>> first = deduplicated_completion(flight, **request)
    >>> again = deduplicated_completion(flight, **request)  # within result_ttl: no second call
    >>> again is first, again.choices[0].message.content
    (True, 'Within 3-5 days.')
    """
    key = _key(kwargs)
    if key is None:
        return litellm.completion(**kwargs)
    result = flight.do(key, lambda: litellm.completion(**kwargs), **_serde(flight))
    if result.shared:
        _record_shared(result.value, kwargs)
    return result.value


async def adeduplicated_completion(flight: Any, **kwargs: Any) -> Any:
    """Async :func:`deduplicated_completion` over ``litellm.acompletion``.

    >>> import asyncio
    >>> from llm_cost_hooks.dedup import SingleFlight
    >>> flight = SingleFlight(result_ttl=60)
    >>> async def three_at_once():
    ...     return await asyncio.gather(*(adeduplicated_completion(flight, model="gpt-4o-mini",
    ...         mock_response="ok", messages=[{"role": "user", "content": "Status?"}]) for _ in range(3)))
    >>> responses = asyncio.run(three_at_once())
    >>> len({id(r) for r in responses}), responses[0].choices[0].message.content
    (1, 'ok')
    """
    key = _key(kwargs)
    if key is None:
        return await litellm.acompletion(**kwargs)

    async def call() -> Any:
        return await litellm.acompletion(**kwargs)

    result = await flight.ado(key, call, **_serde(flight))
    if result.shared:
        _record_shared(result.value, kwargs)
    return result.value


# -- dedup inside LiteLLM's hooks (proxy and acompletion) ---------------------------------
def hook_dedup(flight: Any, *, derive: bool = False) -> HookDedup:
    """The single-flight of :class:`CostHooksLogger`'s hooks (``dedup=``): requests cross
    Redis as JSON ``ModelResponse`` s."""
    return HookDedup(flight, derive=derive, namespace="litellm", dumps=_dumps, loads=_loads)


def shared_response(response: Any, source: str) -> Any:
    """A copy of a shared ``ModelResponse`` for a deduplicated request: LiteLLM returns it
    as that request's ``mock_response``; its cost for LiteLLM is 0 and the marker makes
    :class:`CostHooksLogger` record it as ``deduplicated`` (cost 0, saved = its price)."""
    from ._logger import CACHE_MARKER_KEY

    if isinstance(response, litellm.ModelResponse):
        copy = litellm.ModelResponse(**json.loads(response.model_dump_json()))
    elif isinstance(response, Mapping):
        copy = litellm.ModelResponse(**response)
    else:
        raise TypeError(f"cannot share a {type(response).__name__} between deduplicated requests")
    copy._hidden_params = {
        "response_cost": 0.0,
        CACHE_MARKER_KEY: {"status": CacheStatus.DEDUPLICATED.value},
        "dedup_source": source,
    }
    return copy
