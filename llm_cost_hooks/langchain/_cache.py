"""LangChain adapter of the cache: ``set_llm_cache(SemanticCache())``.

``BaseCache.lookup`` only receives ``(prompt, llm_string)``. The scope (tenant, route,
prompt version, ...) comes from the running chain's config metadata — LangChain keeps the
config of the runnable being run in the context variable ``var_child_runnable_config``,
which is set while a chain step (the chat model) runs — and from :func:`cache_scope`,
whose fields win. A model invoked directly, outside any chain, with ``config={"metadata":
...}`` does not expose that metadata to caches: use ``cache_scope`` there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from langchain_core.runnables.config import var_child_runnable_config

from ..cache._core import AuditLog, CacheConfig, CacheCore, CacheRequest
from ..cache._embedded import EmbeddedBackend
from ..cache._entry import CacheHit
from ..cache._scope import CacheScope, cache_scope, current_scope, scope_from_metadata
from ._callback import CACHE_MARKER_KEY

__all__ = ["SemanticCache", "cache_scope"]

logger = logging.getLogger("llm_cost_hooks.cache")

# Only these classes may be revived from a stored answer (a shared store is not trusted
# to name arbitrary classes).
_ALLOWED = [Generation, ChatGeneration, GenerationChunk, ChatGenerationChunk, AIMessage, AIMessageChunk]
_CACHE_PATH_ENV = "LLM_COST_HOOKS_CACHE_PATH"
_DEFAULT_PATH = "llm_cache.db"
_HUMAN = ("HumanMessage", "HumanMessageChunk")


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            else:
                return None  # images, files, ...: exact tier only
        return "\n".join(parts)
    return None


def split_prompt(prompt: str) -> tuple[str, str, bool]:
    """``(last user text, everything before it, semantic allowed)`` of a LangChain cache prompt.

    Chat models pass ``dumps(messages)``; LLMs pass the raw prompt string.
    """
    if not prompt.startswith("[{"):
        return prompt, "", True
    try:
        msgs = json.loads(prompt)
    except ValueError:
        return prompt, "", True
    if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict):
        return prompt, "", False
    last = msgs[-1]
    ident = last.get("id") or []
    kwargs = dict(last.get("kwargs") or {})
    text = _content_text(kwargs.pop("content", None))
    if not ident or ident[-1] not in _HUMAN or text is None:
        return prompt, "", False  # last turn is not a user message (tool result, ...): exact only
    # The conversation before the last user message, plus the last message's other fields
    # (name, additional kwargs), must match exactly.
    context = json.dumps([msgs[:-1], kwargs], sort_keys=True, separators=(",", ":"))
    return text, context, True


def _model_from(llm_string: str, generations: Sequence[Generation]) -> str | None:
    for g in generations:
        msg = getattr(g, "message", None)
        if msg is not None:
            rm = msg.response_metadata or {}
            name = rm.get("model_name") or rm.get("model")
            if name:
                return str(name)
    for key in ("model_name", "model"):
        marker = f"('{key}', '"
        i = llm_string.find(marker)
        if i >= 0:
            j = llm_string.find("'", i + len(marker))
            return llm_string[i + len(marker): j]
        try:
            head = json.loads(llm_string.split("---", 1)[0])
            val = head.get("kwargs", {}).get(key)
            if val:
                return str(val)
        except (ValueError, AttributeError):
            pass
    return None


class SemanticCache(BaseCache):
    """The global LangChain cache: exact, then semantic, inside the request's scope.

    ``SemanticCache()`` is embedded (in-process) and persisted to ``llm_cache.db``
    (``LLM_COST_HOOKS_CACHE_PATH``; ``path=":memory:"`` for none). ``redis_url=`` shares
    it across processes and machines. ``semantic=False`` keeps only the exact tier.

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

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        redis_url: str | None = None,
        backend: Any = None,
        embedder: Any = None,
        config: CacheConfig | str | Path | None = None,
        semantic: bool | None = None,
        max_entries: int = 100_000,
        ttl_seconds: float | None = None,
        default_tenant: str | None = None,
        audit_path: str | Path | None = None,
        audit_capture_text: bool | None = None,
        price_book: Any = None,
        redis_prefix: str = "llmch",
        redis_timeout_s: float = 0.25,
    ) -> None:
        if backend is None:
            if redis_url is not None:
                from ..cache._redis import RedisBackend

                backend = RedisBackend(redis_url, prefix=redis_prefix, timeout_s=redis_timeout_s)
            else:
                where = path if path is not None else os.environ.get(_CACHE_PATH_ENV, _DEFAULT_PATH)
                backend = EmbeddedBackend(where, max_entries=max_entries)
        if isinstance(config, (str, Path)):
            config = CacheConfig.load(config)
        cfg = config or CacheConfig()
        updates: dict[str, Any] = {}
        if ttl_seconds is not None:
            updates["ttl_seconds"] = ttl_seconds
        if default_tenant is not None:
            updates["default_tenant"] = default_tenant
        if updates:
            cfg = cfg.model_copy(update=updates)
        if audit_capture_text is None:
            from .._settings import get_settings

            audit_capture_text = get_settings().capture_content
        audit = AuditLog(sample_rate=cfg.audit_sample_rate, path=audit_path, capture_text=audit_capture_text)
        self.core = CacheCore(backend, embedder=embedder, config=cfg, semantic=semantic, audit=audit)
        self._price_book = price_book
        self._revived: OrderedDict[tuple[str, int], list[Generation]] = OrderedDict()

    # -------------------------------------------------------------- helpers
    @property
    def stats(self) -> Any:
        """Counters: lookups, exact/semantic hits, misses, vetoes, errors, corrupt, saved_usd."""
        return self.core.stats

    @property
    def audit(self) -> AuditLog:
        return self.core.audit

    @property
    def backend(self) -> Any:
        return self.core.backend

    def _scope(self) -> CacheScope:
        cfg = var_child_runnable_config.get()
        scope = scope_from_metadata(cfg.get("metadata") if cfg else None)
        explicit = current_scope()
        return scope.merged(explicit) if explicit is not None else scope

    def _request(self, prompt: str, llm_string: str) -> CacheRequest:
        text, context, semantic = split_prompt(prompt)
        return self.core.request(text, llm_string=llm_string, context=context, scope=self._scope(), semantic=semantic)

    def _revive(self, hit: CacheHit) -> list[Generation] | None:
        # Reviving with langchain_core.load is the slowest step of an exact hit (~0.2 ms),
        # so revived answers are memoised per entry (each hit still gets fresh copies).
        memo_key = (hit.entry.id, hash(hit.entry.answer))
        gens = self._revived.get(memo_key)
        try:
            if gens is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gens = loads(hit.entry.answer, allowed_objects=_ALLOWED)
                if not isinstance(gens, list) or not all(isinstance(g, Generation) for g in gens):
                    raise TypeError(f"stored answer is {type(gens).__name__}, not a list of generations")
                self._revived[memo_key] = gens
                while len(self._revived) > 2048:
                    self._revived.popitem(last=False)
        except Exception as exc:  # noqa: BLE001 - corrupt entry: skip, count, remove
            self.core.count_corrupt()
            logger.warning("cache entry %s is corrupt (%s); removed", hit.entry.id, exc)
            self.core.invalidate(entry_id=hit.entry.id)
            return None
        marker = {"status": hit.status, "saved_usd": hit.saved_usd}
        if hit.status == "semantic":
            marker.update(similarity=round(hit.similarity, 4), entry_id=hit.entry.id)
        out: list[Generation] = []
        for g in gens:
            msg = getattr(g, "message", None)
            if isinstance(g, ChatGeneration) and msg is not None:
                msg = msg.model_copy(update={"response_metadata": {**(msg.response_metadata or {}), CACHE_MARKER_KEY: marker}})
                g = g.model_copy(update={"message": msg})
            else:
                g = g.model_copy()
            out.append(g)
        return out

    def _cost(self, llm_string: str, generations: Sequence[Generation]) -> tuple[float | None, str | None]:
        model = _model_from(llm_string, generations)
        usage = None
        for g in generations:
            msg = getattr(g, "message", None)
            if msg is not None and getattr(msg, "usage_metadata", None):
                usage = msg.usage_metadata
                break
        if model is None or not usage:
            return None, model
        try:
            from ..pricing import PriceBook

            book = self._price_book or PriceBook.default()
            details_in = usage.get("input_token_details") or {}
            details_out = usage.get("output_token_details") or {}
            cost = book.cost({
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "cache_read_tokens": details_in.get("cache_read", 0) or 0,
                "cache_write_tokens": details_in.get("cache_creation", 0) or 0,
                "reasoning_tokens": details_out.get("reasoning", 0) or 0,
            }, model)
            return float(cost.total), model
        except Exception as exc:  # noqa: BLE001 - an unknown price must not stop caching
            logger.debug("cache: no price for %s (%s); saved_usd unknown for this entry", model, exc)
            return None, model

    # ------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        try:
            req = self._request(prompt, llm_string)
            hit = self.core.lookup(req)
        except Exception as exc:  # noqa: BLE001 - never an exception into the chain
            logger.warning("cache lookup failed (%s: %s); treated as a miss", type(exc).__name__, exc)
            return None
        return self._revive(hit) if hit is not None else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        try:
            req = self._request(prompt, llm_string)
            if req.scope.bypass:
                return
            gens = list(return_val)
            clean = []
            for g in gens:  # never store our own hit marker
                msg = getattr(g, "message", None)
                if msg is not None and CACHE_MARKER_KEY in (msg.response_metadata or {}):
                    rm = {k: v for k, v in msg.response_metadata.items() if k != CACHE_MARKER_KEY}
                    g = g.model_copy(update={"message": msg.model_copy(update={"response_metadata": rm})})
                clean.append(g)
            cost, model = self._cost(llm_string, clean)
            self.core.update(req, dumps(clean), answer_text="".join(g.text for g in clean),
                             cost_usd=cost, model=model)
        except Exception as exc:  # noqa: BLE001
            logger.warning("cache update failed (%s: %s); answer not cached", type(exc).__name__, exc)

    def clear(self, **kwargs: Any) -> None:
        """Drop everything, or by scope: ``clear(tenant="acme")``, ``clear(prompt_version="v2")``,
        ``clear(corpus_version=...)``, ``clear(route=...)``."""
        self.core.clear(**kwargs)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        if not self.core.backend.shared:  # in-process: sub-millisecond, no thread hop
            return self.lookup(prompt, llm_string)
        return await asyncio.to_thread(self.lookup, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        if not self.core.backend.shared:
            self.update(prompt, llm_string, return_val)
            return
        await asyncio.to_thread(self.update, prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        if not self.core.backend.shared:
            self.clear(**kwargs)
            return
        await asyncio.to_thread(self.clear, **kwargs)

    # ------------------------------------------------------------- extras
    def invalidate(self, **kwargs: Any) -> int:
        """Delete by ``tenant``, ``prompt_version``, ``corpus_version``, ``route`` or ``entry_id``."""
        return self.core.invalidate(**kwargs)

    def report_bad_hit(self, hit_or_entry_id: str, *, route: str | None = None) -> Any:
        """A served semantic hit was wrong: remove the entry and tighten the route."""
        return self.core.report_bad_hit(hit_or_entry_id, route=route)

    def __repr__(self) -> str:
        return f"SemanticCache({self.core.backend!r})"
