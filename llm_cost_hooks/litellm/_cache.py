"""Our exact + semantic cache as LiteLLM's cache: ``litellm.cache = LiteLLMSemanticCache()``.

A subclass of ``litellm.caching.Cache`` that answers ``get_cache`` / ``add_cache`` (sync and
async) from the framework-free :class:`~llm_cost_hooks.cache.CacheCore`, so scoping
(tenant, route, prompt version, ... from the call's ``metadata`` or ``litellm_metadata``, and
:func:`~llm_cost_hooks.cache.cache_scope`; behind a LiteLLM proxy also the caller's virtual
key, team and organisation), TTL, audit sampling,
the circuit breaker and savings accounting are the LangChain cache's. Requests are keyed
and answers stored in the core's framework-neutral form (``llm_cost_hooks.cache._canonical``,
plain JSON, never pickled), so an entry written through LangChain's ``SemanticCache`` on
the same backend is served here when scope, model and parameters match, and vice versa.

How a hit is recorded: the cache notes ``{"status": "exact" | "semantic", "saved_usd"}``
under the call's ``litellm_call_id``; :class:`CostHooksLogger` picks it up on LiteLLM's
cache-hit success event and writes a $0 record with that saving. A would-be semantic hit
sent to the model for online verification (``CacheConfig.verify_share``) is a paid call
whose record carries the outcome, tag ``cache.verified`` = ``agree`` / ``disagree``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from litellm.caching.caching import Cache, LiteLLMCacheType

from .._tenancy import TENANT_KEYS, UnusableTenant, bound_or_none
from ..cache import UNKNOWN_SCOPE, CacheCore, CacheRequest, CacheScope
from ..cache._canonical import (
    CacheOptions,
    ChatKey,
    build_core,
    canonical_chat,
    decode_answer,
    drop_corrupt,
    hit_marker,
    store_answer,
    stored_usage,
)
from ..cache._openai import completion_dict, completion_from_answer, scope_of_call, stored_choices
from ._state import _PROXY_IDENTITY
from ._usage import output_text, usage_from_litellm

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LiteLLMSemanticCache", "canonical_request"]

logger = logging.getLogger("llm_cost_hooks.cache")

_MAX_PENDING = 10_000


def _bare_model(model: str) -> str:
    """``openai/gpt-4o-mini`` -> ``gpt-4o-mini``: drop a LiteLLM provider prefix (only a
    known provider's, so ``meta-llama/Llama-3-8b`` keeps its organisation)."""
    head, sep, rest = model.partition("/")
    return rest if sep and head in _providers() else model


@functools.cache
def _providers() -> frozenset[str]:
    import litellm

    return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)


def canonical_request(
    model: str, messages: Sequence[Mapping[str, Any]] | None, params: Mapping[str, Any]
) -> ChatKey:
    """The neutral cache key of a LiteLLM chat call: bare model name, the messages and
    the answer-changing parameters (the LangChain adapter computes the same key for the
    same request, so entries are shared)."""
    return canonical_chat(_bare_model(model), list(messages or []), params)


def _guard_cache_hit_path() -> None:
    """Let cache hits work on a LiteLLM install without its proxy's dependencies.

    On a hit, LiteLLM asks whether the cached result is a stream by importing the class of
    a cached Anthropic Messages stream, whose module imports the proxy (fastapi, ...):
    without them every hit, ours or LiteLLM's own cache's, raised ModuleNotFoundError into
    the caller's ``completion()``. A class whose module cannot be imported has no instances,
    so leaving it out of the check answers the same. LiteLLM's check runs as before until
    its import first fails (nothing is imported here, at construction).
    """
    from litellm.caching import caching_handler

    name = "_should_defer_streaming_cache_hit_callbacks"
    check = getattr(caching_handler, name, None)
    if check is None or getattr(check, "_llm_cost_hooks", False):
        return
    known: list[tuple[type, ...]] = []  # the importable stream types, once LiteLLM's import failed

    def is_stream(*, cached_result: object) -> bool:
        if not known:
            try:
                return bool(check(cached_result=cached_result))
            except ImportError:
                known.append(_importable_stream_types(caching_handler))
        return isinstance(cached_result, known[0])

    is_stream._llm_cost_hooks = True  # type: ignore[attr-defined]
    setattr(caching_handler, name, is_stream)


def _importable_stream_types(caching_handler: Any) -> tuple[type, ...]:
    import importlib

    types: list[type] = []
    wrapper = getattr(caching_handler, "CustomStreamWrapper", None)
    if isinstance(wrapper, type):
        types.append(wrapper)
    for module, attr in (
        ("litellm.responses.streaming_iterator", "BaseResponsesAPIStreamingIterator"),
        ("litellm.llms.anthropic.messages.native.response_cache", "CachedAnthropicMessagesStreamIterator"),
    ):
        try:
            types.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def _bound(sources: Sequence[Any]) -> dict[str, str] | None:
    """The tenant the proxy operator bound to the caller's key or team, over every tenant
    key (appended last, so it wins): the partition is the tenant the budgets charge."""
    for md in sources:
        if isinstance(md, Mapping) and ("user_api_key_metadata" in md or "user_api_key_team_metadata" in md):
            bound = bound_or_none(md.get("user_api_key_metadata"), md.get("user_api_key_team_metadata"))
            if bound is not None:
                return dict.fromkeys(TENANT_KEYS, bound)
    return None


class LiteLLMSemanticCache(Cache):
    """``litellm.cache = LiteLLMSemanticCache()``: exact, then semantic, inside the scope
    named by each call's ``metadata``.

    ``LiteLLMSemanticCache()`` is embedded and persisted to ``llm_cache.db``
    (``LLM_COST_HOOKS_CACHE_PATH``; ``path=":memory:"`` for none); ``redis_url=`` shares it
    across processes and machines; ``semantic=False`` keeps only the exact tier. The other
    options are the LangChain ``SemanticCache``'s; pass ``core=`` instead to share one
    :class:`~llm_cost_hooks.cache.CacheCore` with another adapter.

    >>> import litellm
    >>> from llm_cost_hooks.litellm import LiteLLMSemanticCache
    >>> litellm.cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
    >>> litellm.cache = None
    """

    def __init__(
        self, *, core: CacheCore | None = None, price_book: Any = None, **options: Unpack[CacheOptions]
    ) -> None:
        # LiteLLM's own machinery (supported call types, mode) with an in-memory inner
        # cache that we never use for chat answers.
        super().__init__(type=LiteLLMCacheType.LOCAL)
        try:
            _guard_cache_hit_path()
        except Exception as exc:  # LiteLLM internals moved: its own hit path applies
            logger.debug("LiteLLM cache-hit guard not applied (%s)", exc)
        if core is None and options.get("semantic") is True and options.get("embedder") is None:
            # The semantic tier asked for with the default embedder: a missing [embed] extra
            # is an error now (e.g. at proxy start), not a logged miss on every lookup.
            # It loads once per process; the first lookup would load it anyway.
            from ..embeddings import default_embedder

            default_embedder()
        self.core = core if core is not None else build_core(**options)
        self._price_book = price_book
        self._hits: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._scopes: OrderedDict[str, CacheScope] = OrderedDict()  # call id -> scope read at lookup
        # Online verification, by call id: the lookup of a miss (its answer may be a verified
        # one) and the outcome found by the cache write, for the cost record.
        self._misses: OrderedDict[str, CacheRequest] = OrderedDict()
        self._verified: OrderedDict[str, str] = OrderedDict()
        self._hits_lock = threading.Lock()

    @property
    def stats(self) -> Any:
        return self.core.stats

    # -- helpers -------------------------------------------------------------------------
    def _scope(self, kwargs: Mapping[str, Any]) -> CacheScope:
        """The call's scope: its metadata (``metadata`` / ``litellm_metadata``, top level or
        in ``litellm_params``), then :func:`cache_scope` fields, then, behind a LiteLLM proxy,
        the caller's virtual key, team and organisation around the tenant (a client cannot
        name its way into another key's entries). Unreadable: :data:`UNKNOWN_SCOPE`."""
        call_id = kwargs.get("litellm_call_id")
        if call_id:
            with self._hits_lock:
                known = self._scopes.get(str(call_id))
            if known is not None:  # the write of a call whose lookup read the scope
                return known
        try:
            params = kwargs.get("litellm_params") or {}
            sources = (
                params.get("litellm_metadata"),
                params.get("metadata"),
                kwargs.get("litellm_metadata"),
                kwargs.get("metadata"),
            )
            scope = scope_of_call((*sources, _bound(sources)), kwargs.get("user"), _PROXY_IDENTITY)
        except UnusableTenant:  # already warned about, once
            scope = UNKNOWN_SCOPE
        except Exception as exc:
            logger.warning("cache scope unreadable (%s); this call bypasses the cache", exc)
            scope = UNKNOWN_SCOPE
        if call_id:
            self._note(self._scopes, call_id, scope)
        return scope

    def _request(self, kwargs: Mapping[str, Any]) -> CacheRequest | None:
        model = kwargs.get("model")
        messages = kwargs.get("messages")
        if not model or not isinstance(messages, list):
            return None  # embeddings, completions without messages: not cached here
        key = canonical_request(str(model), messages, kwargs)
        return self.core.request(
            key.query,
            llm_string=key.llm_string,
            context=key.context,
            scope=self._scope(kwargs),
            semantic=key.semantic,
        )

    def _note(self, table: OrderedDict[str, Any], call_id: Any, value: Any) -> None:
        with self._hits_lock:
            table[str(call_id)] = value
            while len(table) > _MAX_PENDING:
                table.popitem(last=False)

    def pop_hit(self, call_id: str) -> dict[str, Any] | None:
        """How the call ``call_id`` was served (None if not from this cache)."""
        with self._hits_lock:
            return self._hits.pop(str(call_id), None)

    def pop_verified(self, call_id: str, response: Any) -> str | None:
        """``"agree"`` / ``"disagree"`` when the call ``call_id`` was a would-be semantic hit
        answered by the model for online verification (its ``response``), else None. The
        cache write usually compares first; when the cost event comes first, it does."""
        with self._hits_lock:
            outcome = self._verified.pop(str(call_id), None)
            req = self._misses.pop(str(call_id), None)
        if outcome is not None or req is None:
            return outcome
        return self.core.check_verification(req, output_text(response))

    # -- LiteLLM Cache API ---------------------------------------------------------------
    def get_cache(self, dynamic_cache_object: Any = None, **kwargs: Any) -> Any:
        hit = None
        try:
            # LiteLLM's Cache.should_use_cache has no annotations.
            if self.should_use_cache(**kwargs) is not True:  # type: ignore[no-untyped-call]
                return None
            req = self._request(kwargs)
            if req is None:
                return None
            hit = self.core.lookup(req)
            if hit is None:
                if self.core.verify_share > 0 and kwargs.get("litellm_call_id"):
                    self._note(self._misses, kwargs["litellm_call_id"], req)
                return None
            answer = decode_answer(hit.entry.answer)
            native = answer.native.get("litellm")
            response = native if native is not None else completion_from_answer(answer)
            if not isinstance(response, dict) or not response.get("choices"):
                raise ValueError("stored answer has no choices")
        except Exception as exc:
            if hit is not None:  # a corrupt entry: skip, count, remove
                drop_corrupt(self.core, hit.entry.id, exc)
            else:
                logger.warning("cache lookup failed (%s); treated as a miss", type(exc).__name__)
            return None
        if kwargs.get("litellm_call_id"):
            self._note(self._hits, kwargs["litellm_call_id"], hit_marker(hit))
        return response

    async def async_get_cache(self, dynamic_cache_object: Any = None, **kwargs: Any) -> Any:
        if not self.core.backend.shared:  # in-process: sub-millisecond, no thread hop
            response = self.get_cache(**kwargs)
        else:
            import asyncio

            response = await asyncio.to_thread(lambda: self.get_cache(**kwargs))
        if response is not None and kwargs.get("litellm_call_id"):
            _note_async_hit(str(kwargs["litellm_call_id"]), kwargs, response)
        return response

    def add_cache(self, result: Any, **kwargs: Any) -> None:
        try:
            # LiteLLM's Cache.should_use_cache has no annotations.
            if self.should_use_cache(**kwargs) is not True:  # type: ignore[no-untyped-call]
                return
            req = self._request(kwargs)
            if req is None or req.scope.bypass:
                return
            response = completion_dict(result)
            if not response.get("choices"):
                return
            choices = stored_choices(response)
            model = _bare_model(str(response.get("model") or kwargs.get("model")))
            usage = stored_usage(usage_from_litellm(response.get("usage")))
            verified = store_answer(
                self.core,
                req,
                choices,
                model=model,
                usage=usage,
                native={"litellm": response},
                price_book=self._price_book,
            )
            if verified is not None and kwargs.get("litellm_call_id"):
                self._note(self._verified, kwargs["litellm_call_id"], verified)
        except Exception as exc:
            logger.warning("cache update failed (%s); answer not cached", type(exc).__name__)
        finally:
            if kwargs.get("litellm_call_id"):
                with self._hits_lock:
                    self._scopes.pop(str(kwargs["litellm_call_id"]), None)
                    self._misses.pop(str(kwargs["litellm_call_id"]), None)

    async def async_add_cache(self, result: Any, dynamic_cache_object: Any = None, **kwargs: Any) -> None:
        if not self.core.backend.shared:
            self.add_cache(result, **kwargs)
            return
        import asyncio

        await asyncio.to_thread(lambda: self.add_cache(result, **kwargs))

    async def async_add_cache_pipeline(
        self, result: Any, dynamic_cache_object: Any = None, **kwargs: Any
    ) -> None:
        await self.async_add_cache(result, **kwargs)

    def supports_async(self) -> bool:
        return True


def _note_async_hit(call_id: str, kwargs: dict[str, Any], response: Any) -> None:
    """Tell the installed :class:`CostHooksLogger` s of an async hit: its event comes from a
    task the loop's end can cancel, and no hook of theirs runs before it."""
    import litellm

    from ._logger import CostHooksLogger

    for cb in litellm.callbacks:
        if isinstance(cb, CostHooksLogger):
            cb._expect_hit(call_id, kwargs, response)
