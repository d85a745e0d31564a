"""Deduplicated LiteLLM calls: concurrent identical requests share one upstream call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import litellm

from .._records import CacheStatus
from ..dedup import RedisSingleFlight, idempotency_key
from ._prepare import split_model
from ._usage import usage_from_litellm

__all__ = ["HookDedup", "adeduplicated_completion", "deduplicated_completion", "shared_response"]

_KEY_FIELDS_SKIP = frozenset(
    {"metadata", "api_key", "mock_response", "num_retries", "timeout", "litellm_call_id"}
)


def _key(kwargs: Mapping[str, Any]) -> str | None:
    request = {k: v for k, v in kwargs.items() if k not in _KEY_FIELDS_SKIP}
    md = kwargs.get("metadata")
    return idempotency_key(md if isinstance(md, Mapping) else None, request, namespace="litellm")


def _serde(flight: Any) -> dict[str, Any]:
    if isinstance(flight, RedisSingleFlight):  # results cross processes as JSON, never pickled
        return {
            "dumps": lambda r: r.model_dump_json(),
            "loads": lambda s: litellm.ModelResponse(**json.loads(s)),
        }
    return {}


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
    """
    key = _key(kwargs)
    if key is None:
        return litellm.completion(**kwargs)
    result = flight.do(key, lambda: litellm.completion(**kwargs), **_serde(flight))
    if result.shared:
        _record_shared(result.value, kwargs)
    return result.value


async def adeduplicated_completion(flight: Any, **kwargs: Any) -> Any:
    """Async :func:`deduplicated_completion` over ``litellm.acompletion``."""
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
# Request fields that make two requests "the same" for a derived key; proxy-added fields
# (metadata, auth, call ids, logging objects) are left out.
_DERIVED_KEY_FIELDS = ("model", "messages", "tools", "tool_choice", "functions", "function_call", "temperature",
                       "top_p", "top_k", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
                       "frequency_penalty", "logit_bias", "seed", "response_format", "reasoning_effort",
                       "thinking", "logprobs", "top_logprobs", "stream", "modalities")  # fmt: skip


class HookDedup:
    """Single-flight for requests that only pass through hooks (the LiteLLM proxy, or
    ``acompletion`` with :class:`CostHooksLogger` installed).

    A hook cannot wrap the call, so the flight is split across events: :meth:`join` (in the
    pre-call hook) either makes this request the leader -- it goes upstream, and the
    logger's success / failure event later calls :meth:`complete` / :meth:`fail` -- or
    waits for the leader and returns its response, which the hook hands to LiteLLM as
    ``mock_response`` so no provider request is made. Works with ``SingleFlight`` (one
    process) and ``RedisSingleFlight`` (proxy replicas; responses cross as JSON).
    """

    def __init__(self, flight: Any, *, derive: bool = False, timeout: float = 600.0) -> None:
        self.flight = flight
        self.derive = derive
        self.timeout = timeout
        self._pending: dict[str, tuple[Any, Any]] = {}  # call id -> (loop, future of the response)

    def key_for(
        self, data: Mapping[str, Any], metadata: Mapping[str, Any] | None, scope: str = ""
    ) -> str | None:
        """The request's idempotency key: ``metadata["idempotency_key"]`` (scoped to the
        tenant and API key, so two clients never share answers by picking the same key)
        or, with ``derive``, the exact request."""
        md = metadata or {}
        tenant = md.get("tenant_id") or md.get("tenant") or ""
        request = {k: data[k] for k in _DERIVED_KEY_FIELDS if data.get(k) is not None}
        return idempotency_key(md, request, namespace=f"litellm:{scope}:{tenant}:", derive=self.derive)

    async def join(self, key: str, call_id: str) -> Any:
        """None when this request leads (it must go upstream); else the shared
        :class:`~llm_cost_hooks.dedup.Flight`. Raises the leader's error if it failed."""
        import asyncio

        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        leading = asyncio.Event()

        async def upstream() -> Any:
            leading.set()
            self._pending[call_id] = (loop, done)
            try:
                return await asyncio.wait_for(asyncio.shield(done), self.timeout)
            finally:
                self._pending.pop(call_id, None)

        task = asyncio.ensure_future(self.flight.ado(key, upstream, **_serde(self.flight)))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "never retrieved"
        lead = asyncio.ensure_future(leading.wait())
        await asyncio.wait({task, lead}, return_when=asyncio.FIRST_COMPLETED)
        if leading.is_set():
            return None
        lead.cancel()
        return task.result()

    def _resolve(self, call_id: str, *, value: Any = None, error: BaseException | None = None) -> None:
        pending = self._pending.get(call_id)
        if pending is None:
            return
        loop, done = pending

        def settle() -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(value)

        if loop.is_closed():
            return
        loop.call_soon_threadsafe(settle)  # success events may arrive on LiteLLM's logging thread

    def complete(self, call_id: str, response: Any) -> None:
        """The leader ``call_id`` succeeded: hand ``response`` to the waiting requests."""
        self._resolve(call_id, value=response)

    def fail(self, call_id: str, error: BaseException) -> None:
        """The leader ``call_id`` failed: the waiting requests raise ``error``."""
        self._resolve(call_id, error=error)


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
