"""Pre-call hooks of the LiteLLM logger: context budget, prompt-cache breakpoints,
dedup and spend-guard reservations, run before a request goes out (proxy and SDK hooks)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from .._tenancy import UnusableTenant, first_tenant
from ..budget._requests import apply_output_cap, settled_elsewhere
from ._state import (
    _CHAT_CALL_TYPES,
    _MODEL_CALL_TYPES,
    _PROXY_IDENTITY,
    Expected,
    _LoggerState,
    _metadata_of,
    logger,
)

__all__: list[str] = []


class _PreCallHooks(_LoggerState):
    """The pre-call half of :class:`~llm_cost_hooks.litellm.CostHooksLogger`."""

    @staticmethod
    def _deployment_model(model_group: str) -> str:
        # The proxy names model groups ("my-gpt"); price the model behind the group.
        try:
            from litellm.proxy.proxy_server import llm_router

            for dep in (llm_router.get_model_list(model_name=model_group) or []) if llm_router else []:
                name = (dep.get("litellm_params") or {}).get("model")
                if name:
                    return str(name)
        except Exception:
            pass
        return model_group

    # -- pre-call work: context budget, prompt cache, dedup, spend guard ----------------------
    @property
    def _has_pre_call_work(self) -> bool:
        return (
            self.guard is not None
            or self.context_budget is not None
            or self.prompt_cache is not None
            or self.dedup is not None
        )

    def _mark_prepared(self, call_id: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._remember(self._prepared, call_id, None)
        if tags:
            self._pending_tags[call_id] = {**self._pending_tags.get(call_id, {}), **tags}
            run_id = self._open.get(call_id)  # already started (e.g. a hook after the pre-call event)
            if run_id is not None:
                self.tracker.annotate(run_id, self._pending_tags.pop(call_id))

    def _prepare(
        self, data: dict[str, Any], model: str, metadata: Mapping[str, Any], call_id: str
    ) -> tuple[dict[str, str], Any]:
        """Tags for the record, and the prompt tokens of the prepared request when the
        trim counted them (same recipe as the guard's count; None: count again)."""
        from .._errors import BudgetExceeded
        from ._prepare import prepare_request

        try:
            prepared = prepare_request(
                data,
                model=model,
                metadata=metadata,
                context_budget=self.context_budget,
                prompt_cache=self.prompt_cache,
                price_book=self.tracker.price_book,
            )
        except BudgetExceeded as exc:  # a segment over budget with oversize="raise"
            self._refuse(call_id, exc, model, metadata)
            raise
        counted = prepared.trim.prompt_tokens if prepared.trim is not None and not data.get("tools") else None
        return prepared.tags, counted

    def _refuse(self, call_id: str, error: BaseException, model: str, metadata: Mapping[str, Any]) -> None:
        with self._lock:
            self._remember(self._refused, call_id, None)
            self._expected.pop(call_id, None)
        self._pending_tags.pop(call_id, None)
        if self.dedup is not None:
            self.dedup.fail(call_id, error)
        self._record_refusal(call_id, error, model, metadata)

    def _record_refusal(
        self, call_id: str, error: BaseException, model: str, metadata: Mapping[str, Any]
    ) -> None:
        """A refused call leaves a failed record with no tokens and no cost (no provider
        received it), as a refused LangChain call does: reports count refusals from it.
        LiteLLM's failure event for it, if any, is not recorded (``_refused``)."""
        if self._replaced():
            return
        try:
            with self._lock:
                run_id = self._open.pop(call_id, None) or call_id
                self._remember(self._done, call_id, None)
            if run_id not in self.tracker._runs:
                md = _metadata_of({"litellm_params": {"metadata": dict(metadata)}})
                name, provider = _model_and_provider(model)
                self.tracker.start_llm(run_id, None, model=name, provider=provider, name=name, metadata=md)
            self.tracker.error_llm(run_id, error)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: recording a refused LiteLLM call failed")

    @contextlib.contextmanager
    def _reserving(self, call_id: str, model: str, metadata: Mapping[str, Any]) -> Iterator[None]:
        """Around a reserve: an unpriced model is let through (warned), a refusal (a limit,
        or a fail-closed spend store that cannot answer) is recorded once and raised."""
        from .._errors import BudgetExceeded, SpendStoreUnavailable, UnknownModelError

        try:
            yield
        except UnknownModelError:
            logger.warning("llm-cost-hooks: no price for %r; request not budget-checked", model)
        except (BudgetExceeded, SpendStoreUnavailable) as exc:
            self._refuse(call_id, exc, model, metadata)
            raise

    def _spend_request(self, data: Mapping[str, Any], model: str, metadata: Any, counted: Any) -> Any:
        from ._budget import spend_request_for  # naming no tenant: the tenant this logger records

        request = (model, data.get("messages"), data, metadata)
        return spend_request_for(*request, input_tokens=counted, recorders=[self])

    def _hold(self, call_id: str, data: dict[str, Any], reservation: Any) -> None:
        self.holds.add(call_id, reservation)
        apply_output_cap(data, reservation)  # a shrink_output policy may have lowered the cap

    async def _apre_call(
        self,
        data: dict[str, Any],
        call_id: str,
        model: str,
        metadata: Mapping[str, Any],
        scope: str = "",
        *,
        chat: bool = True,
    ) -> None:
        """The pre-call work on one request (``data`` is changed in place): fit it to the
        context budget, place cache breakpoints, join an identical in-flight request
        (served from its answer, no upstream call) or reserve its worst-case cost."""
        tags, counted = self._prepare(data, model, metadata, call_id)
        if self.dedup is not None and chat:
            key = self.dedup.key_for(data, metadata, scope)
            if key is not None:
                flight = await self.dedup.join(key, call_id)
                tags["dedup.key"] = key[:40]
                if flight is not None:
                    from ._dedup import shared_response

                    data["mock_response"] = shared_response(flight.value, flight.source)
                    tags["dedup.source"] = flight.source
                    with self._lock:
                        self._remember(self._shared, call_id, flight.source)
                    self._mark_prepared(call_id, tags)
                    return
                tags["dedup.source"] = "leader"
        if self.guard is not None and not settled_elsewhere(self.guard):  # aguarded_completion's
            with self._reserving(call_id, model, metadata):
                reservation = await self.guard.areserve(self._spend_request(data, model, metadata, counted))
                self._hold(call_id, data, reservation)
        self._mark_prepared(call_id, tags)

    def _pre_call_sync(
        self, data: dict[str, Any], call_id: str, model: str, metadata: Mapping[str, Any]
    ) -> None:
        """:meth:`_apre_call` for the sync SDK path, without dedup (see
        :func:`~llm_cost_hooks.litellm.deduplicated_completion`)."""
        tags, counted = self._prepare(data, model, metadata, call_id)
        if self.guard is not None:
            with self._reserving(call_id, model, metadata):
                self._hold(
                    call_id, data, self.guard.reserve(self._spend_request(data, model, metadata, counted))
                )
        self._mark_prepared(call_id, tags)

    @staticmethod
    def _call_id(data: dict[str, Any]) -> str:
        call_id = data.get("litellm_call_id")
        if not call_id:
            import uuid

            call_id = data["litellm_call_id"] = str(uuid.uuid4())
        return str(call_id)

    def _proxy_request(self, data: dict[str, Any]) -> tuple[str, Mapping[str, Any], str]:
        """A proxy request's call id, metadata and priced model."""
        metadata = _metadata_of(
            {"litellm_params": {"metadata": data.get("metadata")}, "metadata": data.get("metadata")}
        )
        return self._call_id(data), metadata, self._deployment_model(str(data.get("model") or ""))

    def _refuse_request(self, data: Any, error: BaseException) -> None:
        """Proxy: record a request refused before this logger's hook ran (the proxy
        callback's circuit breaker) as the hook records its own refusals."""
        if isinstance(data, dict):
            call_id, metadata, model = self._proxy_request(data)
            self._refuse(call_id, error, model, metadata)

    def _bind_tenant(self, auth: Any, data: dict[str, Any]) -> None:
        """Proxy: the tenant bound to the caller's virtual key or team is the request's
        (``llm_cost_hooks._tenancy``); a refusal is recorded under that tenant, then raised."""
        from .._tenancy import TenantRefused, bind_request, unclaimed

        mds = [md for md in (data.get("metadata"), data.get("litellm_metadata")) if isinstance(md, dict)]
        key_md, team_md = getattr(auth, "metadata", None), getattr(auth, "team_metadata", None)
        try:
            bind_request(mds, key_md, team_md, required=self.require_bound_tenant)
        except TenantRefused as exc:
            call_id, metadata, model = self._proxy_request(data)
            self._refuse(call_id, exc, model, unclaimed(metadata, exc.bound))
            raise

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: Any, call_type: Any) -> Any:
        """Proxy: fit the request to ``context_budget`` (messages trimmed, ``max_tokens``
        clamped), place prompt-cache breakpoints (``prompt_cache``), serve a duplicate
        from its leader's answer (``dedup``) and reserve the worst-case cost on ``guard``;
        a :class:`~llm_cost_hooks.BudgetExceeded` rejects the request with its message."""
        if str(call_type) not in _MODEL_CALL_TYPES or not isinstance(data, dict):
            return data
        self._bind_tenant(user_api_key_dict, data)  # first: everything below reads the tenant
        _user_from_request(data)
        _namespace_litellm_cache(data)
        if not self._has_pre_call_work:
            return data
        call_id, metadata, model = self._proxy_request(data)
        # Answers are shared only between holders of the same proxy key.
        scope = str(
            getattr(user_api_key_dict, "token", None) or getattr(user_api_key_dict, "api_key", None) or ""
        )
        await self._apre_call(
            data, call_id, model, metadata, scope=scope, chat=str(call_type) in _CHAT_CALL_TYPES
        )
        return data

    async def async_pre_call_deployment_hook(self, kwargs: Any, call_type: Any) -> Any:
        """SDK ``acompletion`` and ``Router`` calls (LiteLLM runs this before every async
        call): the same work as :meth:`async_pre_call_hook`, unless that hook already did
        it for this call. ``BudgetExceeded`` reaches the caller of ``acompletion``."""
        if not isinstance(kwargs, dict):
            return None
        kind = str(getattr(call_type, "value", call_type)) if call_type is not None else "acompletion"
        if kind not in _MODEL_CALL_TYPES:
            return None
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return None
        self._expect(str(call_id))
        self._watch(str(call_id), bool(kwargs.get("stream")))  # LiteLLM reports no cancellation
        if not self._has_pre_call_work:
            return None
        if str(call_id) in self._prepared:
            if str(call_id) in self._shared:
                self._mark_served(kwargs)
            return None
        metadata = _metadata_of(
            {
                "litellm_params": {
                    "metadata": kwargs.get("metadata"),
                    "litellm_metadata": kwargs.get("litellm_metadata"),
                },
                "metadata": kwargs.get("metadata"),
            }
        )
        await self._apre_call(
            kwargs, str(call_id), str(kwargs.get("model") or ""), metadata, chat=kind in _CHAT_CALL_TYPES
        )
        if str(call_id) in self._shared:
            self._mark_served(kwargs)
        return kwargs

    @staticmethod
    def _mark_served(kwargs: Mapping[str, Any]) -> None:
        # A deduplicated request is answered without a provider call and costs LiteLLM $0
        # (response_cost 0 on the shared response); its "$0 for billable usage" warning,
        # once per logging object, does not apply.
        logging_obj = kwargs.get("litellm_logging_obj")
        if logging_obj is not None and hasattr(logging_obj, "zero_cost_warned"):
            logging_obj.zero_cost_warned = True

    async def async_post_call_success_deployment_hook(
        self, request_data: Any, response: Any, call_type: Any
    ) -> Any:
        """Hand a leader's response to the requests waiting on it as soon as LiteLLM has it
        (inline, before the logging events, which may come later on a worker), and keep
        the response until the call's success event records it."""
        if isinstance(request_data, Mapping):
            call_id = request_data.get("litellm_call_id")
            if call_id and not request_data.get("stream"):
                expected = self._expected.get(str(call_id))
                if expected is not None:
                    expected.response = response
                if self.dedup is not None:
                    self.dedup.complete(str(call_id), response)
        return None

    def _expect_hit(self, call_id: str, kwargs: dict[str, Any], response: Any) -> None:
        """An async call our LiteLLM cache answers (LiteLLM runs no hook of ours before its
        event): noted with the cached response, like :meth:`_expect`."""
        self._expect(call_id)
        expected = self._expected.get(call_id)
        if expected is not None:
            expected.kwargs = kwargs
            expected.response = response

    def _expect(self, call_id: str) -> None:
        """Note an async call (run on this event loop) whose success event is to come:
        the loop's end may cancel that event before it reaches us, and ``flush()`` and
        the exit then record the call from what was kept (see ``_record_lost_events``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            if call_id not in self._expected:
                self._remember(self._expected, call_id, Expected(loop))

    async def async_post_call_failure_hook(
        self,
        request_data: Any,
        original_exception: Any,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> Any:
        """Proxy: a request that failed before reaching the model (e.g. refused by a later
        hook) gives back its reservation and releases the requests waiting on it."""
        call_id = request_data.get("litellm_call_id") if isinstance(request_data, Mapping) else None
        if call_id:
            self._release(str(call_id))
            if self.dedup is not None:
                self.dedup.fail(str(call_id), original_exception)
        return None


def _model_and_provider(model: str) -> tuple[str, str | None]:
    # Named as LiteLLM's own events name it ("openai/gpt-4o-mini" -> "gpt-4o-mini", "openai").
    try:
        from litellm import get_llm_provider

        name, provider = get_llm_provider(model)[:2]
        return str(name), str(provider) if provider else None
    except Exception:
        return model or "unknown", None


def _namespace_litellm_cache(data: dict[str, Any]) -> None:
    """LiteLLM's own cache (the proxy's ``cache: true``) keys an answer by the request alone: a
    request naming ``metadata.tenant_id`` gets a per-request namespace (its tenant's entries
    only; an unusable tenant: no cache). Our ``LiteLLMSemanticCache`` scopes entries itself."""
    import litellm

    cache = litellm.cache
    metadata = data.get("metadata")
    if cache is None or hasattr(cache, "pop_hit") or not isinstance(metadata, Mapping):
        return
    control = dict(data["cache"]) if isinstance(data.get("cache"), Mapping) else {}
    try:
        tenant = first_tenant(metadata, ("tenant_id",))
    except UnusableTenant:  # whose request it is is unknown (warned once): no shared answer
        tenant, data["cache"] = None, {**control, "no-cache": True, "no-store": True}
    if tenant is None:
        return
    base = control.get("namespace") or metadata.get("redis_namespace") or getattr(cache, "namespace", None)
    # The client writes metadata.tenant_id itself: behind the proxy the caller's identity
    # (organisation, team, virtual key) wraps it, so naming another caller's tenant reaches
    # none of its entries (as in LiteLLMSemanticCache).
    caller = [metadata.get(f) for f in _PROXY_IDENTITY]
    named = tenant
    if any(v is not None for v in caller):
        named = json.dumps(["proxy", *(None if v is None else str(v) for v in caller), named])
    # Hashed: cache keys (e.g. in Redis) then carry no tenant names.
    scope = "tenant-" + hashlib.sha256(named.encode()).hexdigest()[:16]
    control["namespace"] = f"{base}:{scope}" if base else scope
    data["cache"] = control


def _user_from_request(data: dict[str, Any]) -> None:
    """The OpenAI ``user`` field of a proxy request is the end user: the record's user
    (hashed) when the request's metadata names none."""
    user = data.get("user")
    metadata = data.get("metadata")
    if not isinstance(user, str) or not user or (metadata is not None and not isinstance(metadata, dict)):
        return
    if metadata is None:
        data["metadata"] = metadata = {}
    if metadata.get("user_id") is None and metadata.get("user") is None:
        metadata["user_id"] = user
