"""Single-flight split across a gateway's hooks: identical concurrent requests that only pass
through pre-call and end-of-call hooks (no wrapper around the call) share one upstream call.
Framework-free: the adapter supplies how a response crosses processes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._keys import credentials_scope, idempotency_key
from ._singleflight import RedisSingleFlight

__all__ = ["DERIVED_KEY_FIELDS", "HookDedup", "credentials_scope"]

# Request fields that make two requests "the same" for a derived key; proxy-added fields
# (metadata, auth, call ids, logging objects) are left out.
DERIVED_KEY_FIELDS = ("model", "messages", "tools", "tool_choice", "functions", "function_call", "temperature",
                      "top_p", "top_k", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
                      "frequency_penalty", "logit_bias", "seed", "response_format", "reasoning_effort",
                      "thinking", "logprobs", "top_logprobs", "stream", "modalities")  # fmt: skip


class HookDedup:
    """Single-flight for requests that only pass through hooks (a gateway's pre-call and
    end-of-call hooks, e.g. the LiteLLM proxy's).

    A hook cannot wrap the call, so the flight is split across events: :meth:`join` (in the
    pre-call hook) either makes this request the leader -- it goes upstream, and the
    success / failure event later calls :meth:`complete` / :meth:`fail` -- or waits for
    the leader and returns its response, which the hook hands back as the request's answer
    so no provider request is made. Works with ``SingleFlight`` (one process) and
    ``RedisSingleFlight`` (replicas: responses cross as JSON, by ``dumps`` / ``loads``).
    """

    def __init__(
        self,
        flight: Any,
        *,
        derive: bool = False,
        timeout: float = 600.0,
        namespace: str = "",
        dumps: Callable[[Any], str] | None = None,
        loads: Callable[[str], Any] | None = None,
    ) -> None:
        self.flight = flight
        self.derive = derive
        self.timeout = timeout
        self.namespace = namespace
        shared = isinstance(flight, RedisSingleFlight)  # results cross processes: never pickled
        self._serde = {"dumps": dumps, "loads": loads} if shared and dumps and loads else {}
        self._pending: dict[str, tuple[Any, Any]] = {}  # call id -> (loop, future of the response)

    def key_for(
        self, data: Mapping[str, Any], metadata: Mapping[str, Any] | None, scope: str = ""
    ) -> str | None:
        """The request's idempotency key: ``metadata["idempotency_key"]`` (scoped to the
        tenant, the API key and the model, so two clients never share answers by picking
        the same key) or, with ``derive``, the exact request. ``scope`` (the proxy key) and
        the request's own credentials enter as a digest, never in plain text."""
        md = metadata or {}
        request = {k: data[k] for k in DERIVED_KEY_FIELDS if data.get(k) is not None}
        namespace = f"{self.namespace}:{data.get('model') or ''}:{credentials_scope(data, also=scope)}"
        return idempotency_key(md, request, namespace=namespace, derive=self.derive)

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

        task = asyncio.ensure_future(self.flight.ado(key, upstream, **self._serde))
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
