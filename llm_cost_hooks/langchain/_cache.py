"""LangChain adapter of the cache: ``set_llm_cache(SemanticCache())``. ``BaseCache.lookup``
gets no config, so a configure hook records each model run's scope for it (see
docs/cache-scope-and-backends.md); keys, scopes and answers are the cache core's.
"""

from __future__ import annotations

import logging
import threading
import warnings
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumps, loads
from langchain_core.load.serializable import Serializable
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from langchain_core.runnables.config import var_child_runnable_config

from ..cache import CacheHit, CacheRequest, cache_scope
from ..cache._canonical import (
    CacheFront,
    CacheOptions,
    ChatKey,
    RevivedMemo,
    SerializedRequests,
    StoredAnswer,
    begin_run,
    build_core,
    decode_answer,
    drop_corrupt,
    end_run,
    hit_marker,
    resolve_scope,
    shallow_copies,
    store_answer,
    stored_usage,
)
from ..tracking._usage import usage_of_message
from ._callback import CACHE_MARKER_KEY, VERIFIED_MARKER_KEY, hook_handler

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SemanticCache", "cache_scope"]

logger = logging.getLogger("llm_cost_hooks.cache")

# Only these classes may be revived from a stored answer (a shared store is not trusted
# to name arbitrary classes).
_ALLOWED: list[type[Serializable]] = [
    Generation,
    ChatGeneration,
    GenerationChunk,
    ChatGenerationChunk,
    AIMessage,
    AIMessageChunk,
]


class _RunScopeTracker(BaseCallbackHandler):
    """Records the scope of each LLM / chat model run while it runs (see module doc)."""

    run_inline = True  # in the caller's context, before the model's cache lookup
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    # LangChain passes (serialized, messages | prompts) positionally and the rest by keyword.
    def on_chat_model_start(
        self, *args: Any, run_id: UUID, metadata: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        begin_run(run_id, metadata, (var_child_runnable_config.get() or {}).get("configurable"))

    def on_llm_end(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
        end_run(run_id)

    on_llm_start = on_chat_model_start
    on_llm_error = on_llm_end


_hook_lock = threading.Lock()
_tracker: ContextVar[BaseCallbackHandler | None] | None = None


def _install_scope_hook() -> None:
    """Add the tracker to every LangChain callback manager from now on (once per process)."""
    global _tracker
    with _hook_lock:
        if _tracker is None:  # one shared, stateless handler is intended
            _tracker = hook_handler("llm_cost_hooks_cache_tracker", _RunScopeTracker(), inheritable=False)


def _chain_metadata() -> dict[str, Any] | None:
    """Metadata of the enclosing chain's config (a cache call made outside a model run)."""
    cfg = var_child_runnable_config.get()
    return cfg.get("metadata") if cfg else None


def _from_neutral(answer: StoredAnswer, chat: bool) -> list[Generation]:
    """Generations rebuilt from an answer another framework wrote."""
    gens: list[Generation] = []
    for m in answer.messages():
        info = {"finish_reason": m["finish_reason"]}
        if not chat:
            gens.append(Generation(text=m["content"], generation_info=info))
            continue
        msg = AIMessage(
            content=m["content"],
            tool_calls=[{**t, "type": "tool_call"} for t in m["tool_calls"]],
            usage_metadata=m["usage"],
            response_metadata={"model_name": answer.model, **info},
        )
        gens.append(ChatGeneration(message=msg, generation_info=info))
    return gens


class SemanticCache(CacheFront, BaseCache):
    """The global LangChain cache: exact, then semantic, inside the request's scope.

    Embedded and persisted to ``llm_cache.db`` by default; ``redis_url=`` shares it across
    processes. The options (``path``, ``semantic``, ``backend``, ``embedder``, ``config``,
    ...) are :class:`~llm_cost_hooks.cache.CacheCore`'s, listed in docs/semantic-cache.md;
    ``price_book`` prices the savings hits record.

    >>> from langchain_core.globals import set_llm_cache
    >>> from llm_cost_hooks.langchain import FakeChatModelWithUsage
    >>> cache = SemanticCache(path=":memory:", semantic=False)
    >>> set_llm_cache(cache)
    >>> model = FakeChatModelWithUsage(responses=["Paris."])
    >>> with cache_scope(tenant="acme"):
    ...     _ = model.invoke("Capital of France?")
    ...     model.invoke("Capital of France?").response_metadata["llm_cost_hooks_cache"]["status"]
    'exact'
    >>> set_llm_cache(None)
    """

    def __init__(self, *, price_book: Any = None, **options: Unpack[CacheOptions]) -> None:
        self.core = build_core(**options)
        _install_scope_hook()
        self._price_book = price_book
        self._revived = RevivedMemo()
        self._requests = SerializedRequests(self.core)

    def _request(self, prompt: str, llm_string: str) -> tuple[CacheRequest, ChatKey]:
        return self._requests.get(prompt, llm_string, resolve_scope(_chain_metadata))

    def _revive(self, hit: CacheHit, chat: bool) -> list[Generation] | None:
        # Reviving with langchain_core.load is the slowest step of an exact hit, so answers
        # are memoised with the hit marker already in the message: a hit then costs one
        # shallow copy per generation (LangChain replaces the message when it zeroes the
        # cost), like InMemoryCache's shared objects.
        gens: list[Generation] | None = self._revived.serve(hit, chat, self._revive_new)
        return shallow_copies(gens) if gens is not None else None

    def _revive_new(self, hit: CacheHit, chat: bool) -> list[Generation] | None:
        """The stored answer as generations carrying the hit marker; None when corrupt."""
        try:
            answer = decode_answer(hit.entry.answer)
            native = answer.native.get("langchain")
            if native is None:  # written by another framework (LiteLLM)
                gens = _from_neutral(answer, chat)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gens = loads(native, allowed_objects=_ALLOWED)
                if not isinstance(gens, list) or not all(isinstance(g, Generation) for g in gens):
                    raise TypeError(f"stored answer is {type(gens).__name__}, not a list of generations")
        except Exception as exc:
            drop_corrupt(self.core, hit.entry.id, exc)
            return None
        marker = hit_marker(hit)
        for i, g in enumerate(gens):
            msg = getattr(g, "message", None)
            if isinstance(g, ChatGeneration) and msg is not None:
                meta = {**(msg.response_metadata or {}), CACHE_MARKER_KEY: marker}
                gens[i] = g.model_copy(update={"message": msg.model_copy(update={"response_metadata": meta})})
        return gens

    # ------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        try:
            req, _ = self._request(prompt, llm_string)
            hit = self.core.lookup(req)
        except Exception as exc:
            logger.warning("cache lookup failed (%s); treated as a miss", type(exc).__name__)
            return None
        return self._revive(hit, chat=prompt.startswith("[{")) if hit is not None else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        try:
            req, key = self._request(prompt, llm_string)
            if req.scope.bypass:
                return
            clean: list[Generation] = []
            choices: list[dict[str, Any]] = []
            usage = None
            model = None
            for g in return_val:
                msg = getattr(g, "message", None)
                finish = (g.generation_info or {}).get("finish_reason")
                if msg is not None:
                    rm = dict(msg.response_metadata or {})
                    if CACHE_MARKER_KEY in rm:  # never store our own hit marker
                        del rm[CACHE_MARKER_KEY]
                        g = g.model_copy(update={"message": msg.model_copy(update={"response_metadata": rm})})
                    model = model or rm.get("model_name") or rm.get("model")
                    usage = usage or stored_usage(usage_of_message(msg))
                    finish = finish or rm.get("finish_reason")
                choices.append(
                    {"text": g.text, "tool_calls": getattr(msg, "tool_calls", None), "finish_reason": finish}
                )
                clean.append(g)
            model = str(model or key.model)
            native = {"langchain": dumps(clean)}
            verified = store_answer(
                self.core, req, choices, model=model, usage=usage, native=native, price_book=self._price_book
            )
            msg = getattr(return_val[0], "message", None) if verified and return_val else None
            if msg is not None:  # online verification: the cost handler records the outcome
                msg.response_metadata[VERIFIED_MARKER_KEY] = verified
        except Exception as exc:
            logger.warning("cache update failed (%s); answer not cached", type(exc).__name__)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        return await self._off_loop(self.lookup, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        await self._off_loop(self.update, prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        await self._off_loop(self.clear, **kwargs)
