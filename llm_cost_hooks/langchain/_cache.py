"""LangChain adapter of the cache: ``set_llm_cache(SemanticCache())``.

``BaseCache.lookup`` only receives ``(prompt, llm_string)``: no config, no metadata. The
scope (tenant, route, prompt version, ...) is therefore taken from the model run itself:
creating a :class:`SemanticCache` registers a LangChain configure hook that adds one
light callback handler to every callback manager. Its ``on_chat_model_start`` /
``on_llm_start`` sees the run's metadata (the call's own ``config``, ``with_config``, and
everything inherited from enclosing chains, tools and agents) and records the run's scope
in a context variable that ``lookup`` and ``update`` read; ``on_llm_end`` /
``on_llm_error`` remove it. :func:`cache_scope` fields win over metadata.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import logging
import os
import re
import threading
import warnings
from collections import OrderedDict
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumps, loads
from langchain_core.load.serializable import Serializable
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from langchain_core.runnables.config import var_child_runnable_config

from ..cache import (
    UNKNOWN_SCOPE,
    AuditLog,
    CacheConfig,
    CacheCore,
    CacheHit,
    CacheRequest,
    CacheScope,
    EmbeddedBackend,
    cache_scope,
    current_scope,
    scope_from_metadata,
)
from ..cache._canonical import (
    ANSWER_ALIASES,
    ChatKey,
    StoredAnswer,
    canonical_chat,
    decode_answer,
    encode_answer,
    hit_marker,
    price_usage,
)
from ._callback import CACHE_MARKER_KEY, VERIFIED_MARKER_KEY
from ._usage import usage_dict

if TYPE_CHECKING:
    from ..embeddings import Embedder

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
_CACHE_PATH_ENV = "LLM_COST_HOOKS_CACHE_PATH"
_DEFAULT_PATH = "llm_cache.db"
_REQUEST_MEMO = 256  # requests remembered per cache (see SemanticCache._request)
_REVIVED_MEMO = 2048  # revived answers remembered per cache (see SemanticCache._revive)


_ROLES = {
    "HumanMessage": "user",
    "HumanMessageChunk": "user",
    "SystemMessage": "system",
    "SystemMessageChunk": "system",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "ToolMessage": "tool",
    "ToolMessageChunk": "tool",
    "FunctionMessage": "function",
    "FunctionMessageChunk": "function",
}
# Invocation parameters that do not change the answer (transport, client, LangChain
# plumbing). Anything else that is not a known answer parameter is keyed verbatim, so an
# unusual setting costs a miss, never a wrong answer.
_NOT_ANSWER = re.compile(
    r"^_type$|^name$|api_key|api_base|api_url|base_url|api_version|organization|proxy|timeout|retr(y|ies)|"
    r"headers|client|stream|verbose|callbacks|^tags$|^metadata$|^cache$|rate_limiter|output_version|"
    r"endpoint|region|credentials|^model_kwargs$|^model(_name|_id)?$"
)


# Scopes of the model runs in progress in this context, innermost last. A run start
# stores a new dict (copy on write), so concurrent tasks and threads never see each
# other's runs; a run end removes its id from the dict it finds, which is the one its
# caller sees too (LangChain ends async runs in gathered tasks, i.e. in context copies).
_run_scopes: ContextVar[dict[UUID, CacheScope] | None] = ContextVar("llm_cost_hooks_cache_runs", default=None)


class _RunScopeTracker(BaseCallbackHandler):
    """Records the scope of each LLM / chat model run while it runs (see module doc)."""

    run_inline = True  # in the caller's context, before the model's cache lookup
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def _start(self, run_id: UUID, metadata: dict[str, Any] | None) -> None:
        try:
            scope = scope_from_metadata(metadata)
        except Exception as exc:
            logger.warning("cache scope unreadable from run metadata (%s); this call bypasses the cache", exc)
            scope = UNKNOWN_SCOPE
        runs = _run_scopes.get()
        fresh = dict(runs) if runs else {}
        fresh[run_id] = scope
        _run_scopes.set(fresh)

    def _end(self, run_id: UUID) -> None:
        runs = _run_scopes.get()
        if runs:
            runs.pop(run_id, None)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, metadata)

    def on_llm_start(
        self,
        serialized: Any,
        prompts: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, metadata)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)


_hook_lock = threading.Lock()
_hook_installed = False


def _install_scope_hook() -> None:
    """Add the tracker to every LangChain callback manager from now on (once per process)."""
    global _hook_installed
    if _hook_installed:
        return
    with _hook_lock:
        if _hook_installed:
            return
        from langchain_core.tracers.context import register_configure_hook

        # The default value is seen by every context, including ones created earlier.
        tracker: ContextVar[BaseCallbackHandler | None] = ContextVar(
            "llm_cost_hooks_cache_tracker",
            default=_RunScopeTracker(),  # noqa: B039 - one shared, stateless default is intended
        )
        register_configure_hook(tracker, inheritable=False)
        _hook_installed = True


def run_scope() -> CacheScope | None:
    """The scope of the innermost LLM run in progress in this context, if any."""
    runs = _run_scopes.get()
    if not runs:
        return None
    scopes = list(runs.values())  # one C-level copy: safe while another thread ends a run
    return scopes[-1] if scopes else None


def _lc_messages(prompt: str) -> list[dict[str, Any]] | None:
    """Neutral role/content dicts of a chat model's cache prompt (``dumps(messages)``), or
    ``None`` when ``prompt`` is not one (a plain LLM prompt)."""
    if not prompt.startswith("[{"):
        return None
    try:
        raw = json.loads(prompt)
    except ValueError:
        return None
    if not isinstance(raw, list):
        return None
    msgs = []
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get("kwargs"), dict) or not m.get("id"):
            return None
        kw = m["kwargs"]
        cls = str(m["id"][-1])
        role = kw.get("role") if cls.startswith("ChatMessage") else _ROLES.get(cls)
        if role is None:
            return None
        msgs.append(
            {"role": role, **{k: kw[k] for k in ("content", "name", "tool_calls", "tool_call_id") if k in kw}}
        )
    return msgs


@functools.lru_cache(maxsize=256)  # an app has few distinct llm_strings; parsing one costs ~0.1 ms
def _lc_params(llm_string: str) -> dict[str, Any] | None:
    """The invocation parameters in LangChain's ``llm_string``: the model's ``dumps`` JSON
    (serialisable models) ``---`` ``str(sorted(params.items()))``. Memoised: read-only."""
    head: dict[str, Any] = {}
    tail = llm_string
    if llm_string.startswith("{"):
        try:
            obj, end = json.JSONDecoder().raw_decode(llm_string)
        except ValueError:
            return None
        if not llm_string.startswith("---", end) or not isinstance(obj, dict):
            return None
        kwargs = obj.get("kwargs")
        head = kwargs if isinstance(kwargs, dict) else {}
        tail = llm_string[end + 3 :]
    try:
        items = ast.literal_eval(tail) if tail else []
        params = {**head, **dict(items)}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(params.get("model_kwargs"), dict):
        params = {**params["model_kwargs"], **params}
    return params


@functools.lru_cache(maxsize=256)  # lookup and update of one call, and repeated (hit) prompts, parse once
def chat_key(prompt: str, llm_string: str) -> ChatKey:
    """The neutral key of a LangChain cache call (what the LiteLLM adapter computes for
    the same model, parameters and messages).

    When the model name cannot be read from ``llm_string`` the whole ``llm_string`` is the
    model key (such entries are not shared with other frameworks).
    """
    msgs = _lc_messages(prompt)
    params = _lc_params(llm_string)
    model = next(
        (str(params[k]) for k in ("model_name", "model", "model_id") if params and params.get(k)), None
    )
    extra: dict[str, Any] = {}
    if model is None or params is None:
        model, params = llm_string, {}
    else:
        extra = {
            k: v
            for k, v in params.items()
            if k not in ANSWER_ALIASES
            and not _NOT_ANSWER.search(k)
            and not (isinstance(v, dict) and v.get("type") == "secret")
        }
    if msgs is None:  # a plain (non-chat) LLM prompt: never shared with chat answers
        msgs, extra = [{"role": "user", "content": prompt}], {**extra, "prompt": "text"}
    return canonical_chat(model, msgs, params, extra=extra)


def _from_neutral(answer: StoredAnswer, chat: bool) -> list[Generation]:
    """Generations rebuilt from an answer another framework wrote."""
    gens: list[Generation] = []
    for c in answer.choices:
        fr = c.get("finish_reason")
        if not chat:
            gens.append(Generation(text=str(c.get("text") or ""), generation_info={"finish_reason": fr}))
            continue
        kw: dict[str, Any] = {
            "content": str(c.get("text") or ""),
            "response_metadata": {"model_name": answer.model, "finish_reason": fr},
        }
        calls = [
            {"name": t.get("name"), "args": t.get("args") or {}, "id": t.get("id"), "type": "tool_call"}
            for t in c.get("tool_calls") or []
        ]
        if calls:
            kw["tool_calls"] = calls
        if answer.usage and not gens:
            u = answer.usage
            kw["usage_metadata"] = {
                "input_tokens": u.get("input_tokens", 0),
                "output_tokens": u.get("output_tokens", 0),
                "total_tokens": u.get("total_tokens") or u.get("input_tokens", 0) + u.get("output_tokens", 0),
                "input_token_details": {
                    "cache_read": u.get("cache_read_tokens", 0),
                    "cache_creation": u.get("cache_write_tokens", 0),
                },
                "output_token_details": {"reasoning": u.get("reasoning_tokens", 0)},
            }
        gens.append(ChatGeneration(message=AIMessage(**kw), generation_info={"finish_reason": fr}))
    if not gens:
        raise ValueError("stored answer has no choices")
    return gens


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
        embedder: Embedder | None = None,
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
                from ..cache import RedisBackend

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
        _install_scope_hook()
        self._price_book = price_book
        self._revived: OrderedDict[tuple[Any, ...], list[Generation]] = OrderedDict()
        self._requests: dict[tuple[str, str, tuple[Any, ...]], tuple[CacheConfig, CacheRequest, ChatKey]] = {}

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
        scope = run_scope()
        if scope is None:  # called outside a model run (directly): the enclosing chain's config
            cfg = var_child_runnable_config.get()
            scope = scope_from_metadata(cfg.get("metadata") if cfg else None)
        explicit = current_scope()
        return scope.merged(explicit) if explicit is not None else scope

    def _request(self, prompt: str, llm_string: str) -> tuple[CacheRequest, ChatKey]:
        # Building the key (message parsing, normalising, two hashes) is most of an exact
        # hit's own cost; lookup and update of one call, and every repeat of a prompt in the
        # same scope, reuse it. The config is part of the check: a changed config rebuilds.
        scope = self._scope()
        # The scope's field values, not the model: pydantic's __eq__ costs more than the key.
        memo_key: tuple[str, str, tuple[Any, ...]] | None = (
            prompt,
            llm_string,
            tuple(scope.__dict__.values()),
        )
        config = self.core.config
        try:
            got = self._requests.get(memo_key) if memo_key is not None else None
        except TypeError:  # an unhashable scope field: build the request each time
            got, memo_key = None, None
        if got is not None and got[0] is config:
            return got[1], got[2]
        key = chat_key(prompt, llm_string)
        req = self.core.request(
            key.query,
            llm_string=key.llm_string,
            context=key.context,
            scope=scope,
            semantic=key.semantic,
        )
        if memo_key is not None:
            if len(self._requests) >= _REQUEST_MEMO:  # keys hold whole prompts: keep it small
                self._requests.clear()
            self._requests[memo_key] = (config, req, key)
        return req, key

    def _revive(self, hit: CacheHit, chat: bool) -> list[Generation] | None:
        # Reviving with langchain_core.load is the slowest step of an exact hit (~0.2 ms),
        # so answers are memoised per entry and hit marker, the marker already in the
        # message: a hit then costs one shallow copy per generation (LangChain copies the
        # message itself when it zeroes the cost), like InMemoryCache's shared objects.
        marker = hit_marker(hit)
        memo_key = (hit.entry.id, hash(hit.entry.answer), chat, *sorted(marker.items()))
        gens = self._revived.get(memo_key)
        if gens is None:
            gens = self._revive_new(hit, chat, marker)
            if gens is None:
                return None
            self._revived[memo_key] = gens
            while len(self._revived) > _REVIVED_MEMO:
                self._revived.popitem(last=False)
        return [g.model_copy() for g in gens]

    def _revive_new(self, hit: CacheHit, chat: bool, marker: dict[str, Any]) -> list[Generation] | None:
        """The stored answer as generations carrying the hit marker; None when corrupt."""
        try:
            answer = decode_answer(hit.entry.answer)
            native = answer.native.get("langchain")
            if native is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gens = loads(native, allowed_objects=_ALLOWED)
                if not isinstance(gens, list) or not all(isinstance(g, Generation) for g in gens):
                    raise TypeError(f"stored answer is {type(gens).__name__}, not a list of generations")
            else:  # written by another framework (LiteLLM)
                gens = _from_neutral(answer, chat)
        except Exception as exc:
            self.core.count_corrupt()
            logger.warning("cache entry %s is corrupt (%s); removed", hit.entry.id, exc)
            self.core.invalidate(entry_id=hit.entry.id)
            return None
        out: list[Generation] = []
        for g in gens:
            msg = getattr(g, "message", None)
            if isinstance(g, ChatGeneration) and msg is not None:
                msg = msg.model_copy(
                    update={"response_metadata": {**(msg.response_metadata or {}), CACHE_MARKER_KEY: marker}}
                )
                g = g.model_copy(update={"message": msg})
            out.append(g)
        return out

    # ------------------------------------------------------------ BaseCache
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        try:
            req, _ = self._request(prompt, llm_string)
            hit = self.core.lookup(req)
        except Exception as exc:
            logger.warning("cache lookup failed (%s: %s); treated as a miss", type(exc).__name__, exc)
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
                    usage = usage or usage_dict(getattr(msg, "usage_metadata", None))
                    finish = finish or rm.get("finish_reason")
                choices.append(
                    {"text": g.text, "tool_calls": getattr(msg, "tool_calls", None), "finish_reason": finish}
                )
                clean.append(g)
            model = str(model or key.model)
            answer = encode_answer(choices, model=model, usage=usage, native={"langchain": dumps(clean)})
            self.core.update(
                req,
                answer,
                answer_text="".join(c["text"] for c in choices),
                cost_usd=price_usage(usage, model, self._price_book),
                model=model,
            )
            msg = getattr(return_val[0], "message", None) if req.verified and return_val else None
            if msg is not None:  # online verification: the cost handler records the outcome
                msg.response_metadata[VERIFIED_MARKER_KEY] = req.verified
        except Exception as exc:
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
