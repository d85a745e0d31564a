"""Our exact + semantic cache as LiteLLM's cache: ``litellm.cache = LiteLLMSemanticCache()``.

A subclass of ``litellm.caching.Cache`` that answers ``get_cache`` / ``add_cache`` (sync and
async) from the framework-free :class:`~llm_cost_hooks.cache.CacheCore`, so scoping
(tenant, route, prompt version, ... from the call's ``metadata``), TTL, audit sampling,
the circuit breaker and savings accounting are the LangChain cache's. Answers are stored
as the JSON of LiteLLM's response (never pickled).

How a hit is recorded: the cache notes ``{"status": "exact" | "semantic", "saved_usd"}``
under the call's ``litellm_call_id``; :class:`CostHooksLogger` picks it up on LiteLLM's
cache-hit success event and writes a $0 record with that saving.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from litellm.caching.caching import Cache, LiteLLMCacheType

from ..cache import AuditLog, CacheConfig, CacheCore, CacheRequest, scope_from_metadata
from ._usage import usage_from_litellm

__all__ = ["LiteLLMSemanticCache", "canonical_request", "from_langchain_answer"]

logger = logging.getLogger("llm_cost_hooks.cache")

# Request fields that change the answer: part of the exact context (not the query).
_ANSWER_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
                  "tools", "tool_choice", "response_format", "functions", "function_call",
                  "presence_penalty", "frequency_penalty", "logit_bias", "reasoning_effort")  # fmt: skip
_MAX_PENDING = 10_000


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            else:
                return None  # images, audio, files: exact tier only
        return "\n".join(parts)
    return None


def canonical_request(model: str, messages: Sequence[Mapping[str, Any]] | None,
                      params: Mapping[str, Any]) -> tuple[str, str, str, bool]:
    """``(llm_string, query, context, semantic allowed)`` of a chat request.

    ``llm_string`` is the bare model name (provider prefix dropped), ``query`` the last
    user message's text, ``context`` the canonical JSON of everything before it plus the
    parameters that change the answer.
    """
    name = model.split("/", 1)[1] if "/" in model and not model.startswith("ft:") else model
    msgs = [dict(m) for m in (messages or [])]
    query = ""
    semantic = False
    if msgs and msgs[-1].get("role") == "user":
        text = _text(msgs[-1].get("content"))
        if text is not None:
            query, semantic = text, True
            last_rest = {k: v for k, v in msgs[-1].items() if k not in ("role", "content")}
            msgs = [*msgs[:-1], last_rest] if last_rest else msgs[:-1]
    if not semantic:  # tool results, multimodal input: the whole request is the exact key
        query = json.dumps(msgs, sort_keys=True, separators=(",", ":"), default=str)
        msgs = []
    extra = {k: params[k] for k in _ANSWER_PARAMS if params.get(k) is not None}
    context = json.dumps([msgs, extra], sort_keys=True, separators=(",", ":"), default=str) if (msgs or extra) else ""
    return name, query, context, semantic


def from_langchain_answer(stored: Any) -> dict[str, Any]:
    """A chat-completion dict from an answer the LangChain cache stored (the JSON of
    ``langchain_core.load.dumps(generations)``), read as plain JSON: nothing is revived."""
    if not isinstance(stored, list) or not stored:
        raise ValueError("not a LangChain generations list")
    choices = []
    usage: dict[str, Any] | None = None
    model = None
    for i, gen in enumerate(stored):
        kw = (gen or {}).get("kwargs") or {}
        msg = (kw.get("message") or {}).get("kwargs") or {}
        content = msg.get("content", kw.get("text", ""))
        text = content if isinstance(content, str) else _text(content) or ""
        rm = msg.get("response_metadata") or {}
        model = model or rm.get("model_name") or rm.get("model")
        choices.append({"index": i, "message": {"role": "assistant", "content": text},
                        "finish_reason": rm.get("finish_reason") or "stop"})
        um = msg.get("usage_metadata")
        if usage is None and isinstance(um, Mapping):
            details = um.get("input_token_details") or {}
            usage = {"prompt_tokens": um.get("input_tokens", 0), "completion_tokens": um.get("output_tokens", 0),
                     "total_tokens": um.get("total_tokens") or um.get("input_tokens", 0) + um.get("output_tokens", 0),
                     "prompt_tokens_details": {"cached_tokens": details.get("cache_read", 0) or 0}}
    out: dict[str, Any] = {"object": "chat.completion", "choices": choices}
    if model:
        out["model"] = model
    if usage:
        out["usage"] = usage
    return out


class LiteLLMSemanticCache(Cache):
    """``litellm.cache = LiteLLMSemanticCache()``: exact, then semantic, inside the scope
    named by each call's ``metadata``.

    ``LiteLLMSemanticCache()`` is embedded and persisted to ``llm_cache.db``
    (``LLM_COST_HOOKS_CACHE_PATH``; ``path=":memory:"`` for none); ``redis_url=`` shares it
    across processes and machines; ``semantic=False`` keeps only the exact tier. Pass
    ``core=`` to share one :class:`~llm_cost_hooks.cache.CacheCore` with another adapter.

    >>> import litellm
    >>> from llm_cost_hooks.litellm import LiteLLMSemanticCache
    >>> litellm.cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
    >>> litellm.cache = None
    """

    def __init__(
        self,
        *,
        core: CacheCore | None = None,
        path: str | Path | None = None,
        redis_url: str | None = None,
        backend: Any = None,
        embedder: Any = None,
        config: CacheConfig | str | Path | None = None,
        semantic: bool | None = None,
        ttl_seconds: float | None = None,
        audit_path: str | Path | None = None,
        price_book: Any = None,
        redis_prefix: str = "llmch",
    ) -> None:
        # LiteLLM's own machinery (supported call types, mode) with an in-memory inner
        # cache that we never use for chat answers.
        super().__init__(type=LiteLLMCacheType.LOCAL)
        if core is None:
            if backend is None:
                if redis_url is not None:
                    from ..cache import RedisBackend

                    backend = RedisBackend(redis_url, prefix=redis_prefix)
                else:
                    from ..cache import EmbeddedBackend

                    where = path if path is not None else os.environ.get("LLM_COST_HOOKS_CACHE_PATH", "llm_cache.db")
                    backend = EmbeddedBackend(where)
            if isinstance(config, (str, Path)):
                config = CacheConfig.load(config)
            cfg = config or CacheConfig()
            if ttl_seconds is not None:
                cfg = cfg.model_copy(update={"ttl_seconds": ttl_seconds})
            audit = AuditLog(sample_rate=cfg.audit_sample_rate, path=audit_path)
            core = CacheCore(backend, embedder=embedder, config=cfg, semantic=semantic, audit=audit)
        self.core = core
        self._price_book = price_book
        self._hits: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._hits_lock = threading.Lock()

    @property
    def stats(self) -> Any:
        return self.core.stats

    # -- helpers -------------------------------------------------------------------------
    def _request(self, kwargs: Mapping[str, Any]) -> CacheRequest | None:
        model = kwargs.get("model")
        messages = kwargs.get("messages")
        if not model or not isinstance(messages, list):
            return None  # embeddings, completions without messages: not cached here
        llm_string, query, context, semantic = canonical_request(str(model), messages, kwargs)
        metadata = kwargs.get("metadata") or (kwargs.get("litellm_params") or {}).get("metadata")
        scope = scope_from_metadata(metadata if isinstance(metadata, Mapping) else None)
        return self.core.request(query, llm_string=llm_string, context=context, scope=scope, semantic=semantic)

    def _note_hit(self, kwargs: Mapping[str, Any], marker: dict[str, Any]) -> None:
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return
        with self._hits_lock:
            self._hits[str(call_id)] = marker
            while len(self._hits) > _MAX_PENDING:
                self._hits.popitem(last=False)

    def pop_hit(self, call_id: str) -> dict[str, Any] | None:
        """How the call ``call_id`` was served (None if not from this cache)."""
        with self._hits_lock:
            return self._hits.pop(str(call_id), None)

    def _cost(self, response: Mapping[str, Any], model: str) -> float | None:
        usage = usage_from_litellm(response.get("usage"))
        if usage is None:
            return None
        try:
            from ..pricing import PriceBook

            book = self._price_book or PriceBook.default()
            return float(book.cost(usage, model.split("/", 1)[-1] if "/" in model else model).total)
        except Exception:  # noqa: BLE001 - unknown price: saved_usd unknown, still cached
            return None

    # -- LiteLLM Cache API ---------------------------------------------------------------
    def get_cache(self, dynamic_cache_object: Any = None, **kwargs: Any) -> Any:
        hit = None
        try:
            if self.should_use_cache(**kwargs) is not True:
                return None
            req = self._request(kwargs)
            if req is None:
                return None
            hit = self.core.lookup(req)
            if hit is None:
                return None
            stored = json.loads(hit.entry.answer)
            response = stored["response"] if isinstance(stored, dict) else from_langchain_answer(stored)
            if not isinstance(response, dict) or not response.get("choices"):
                raise ValueError("stored answer has no choices")
        except Exception as exc:  # noqa: BLE001 - never an exception into the call
            if hit is not None:  # a corrupt entry: skip, count, remove
                self.core.count_corrupt()
                self.core.invalidate(entry_id=hit.entry.id)
                logger.warning("cache entry %s is corrupt (%s); removed", hit.entry.id, exc)
            else:
                logger.warning("cache lookup failed (%s: %s); treated as a miss", type(exc).__name__, exc)
            return None
        marker: dict[str, Any] = {"status": hit.status, "saved_usd": hit.saved_usd}
        if hit.status == "semantic":
            marker.update(similarity=round(hit.similarity, 4), entry_id=hit.entry.id)
        self._note_hit(kwargs, marker)
        return response

    async def async_get_cache(self, dynamic_cache_object: Any = None, **kwargs: Any) -> Any:
        if not self.core.backend.shared:  # in-process: sub-millisecond, no thread hop
            return self.get_cache(**kwargs)
        import asyncio

        return await asyncio.to_thread(lambda: self.get_cache(**kwargs))

    def add_cache(self, result: Any, **kwargs: Any) -> None:
        try:
            if self.should_use_cache(**kwargs) is not True:
                return
            req = self._request(kwargs)
            if req is None or req.scope.bypass:
                return
            if isinstance(result, (str, bytes)):
                response = json.loads(result)
            elif hasattr(result, "model_dump"):
                response = result.model_dump()
            else:
                response = dict(result)
            if isinstance(response, Mapping) and "response" in response and "choices" not in response:
                response = response["response"]  # LiteLLM's {"timestamp", "response"} envelope
                if isinstance(response, (str, bytes)):
                    response = json.loads(response)
            if not response.get("choices"):
                return
            text = "".join(
                str(((c or {}).get("message") or {}).get("content") or "") for c in response.get("choices") or []
            )
            model = str(kwargs.get("model"))
            self.core.update(req, json.dumps({"response": response}, default=str), answer_text=text,
                             cost_usd=self._cost(response, model), model=model)
        except Exception as exc:  # noqa: BLE001
            logger.warning("cache update failed (%s: %s); answer not cached", type(exc).__name__, exc)

    async def async_add_cache(self, result: Any, dynamic_cache_object: Any = None, **kwargs: Any) -> None:
        if not self.core.backend.shared:
            self.add_cache(result, **kwargs)
            return
        import asyncio

        await asyncio.to_thread(lambda: self.add_cache(result, **kwargs))

    async def async_add_cache_pipeline(self, result: Any, dynamic_cache_object: Any = None, **kwargs: Any) -> None:
        await self.async_add_cache(result, **kwargs)

    def supports_async(self) -> bool:
        return True
