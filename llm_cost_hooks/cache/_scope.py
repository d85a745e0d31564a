"""Cache scope: who may be served an entry, and the request normalisation.

An entry is only ever served inside the partition it was written in. The partition is a
hash of: tenant (or the configured default tenant), user (when the scope is per-user),
feature, route, prompt version, corpus version, safety-policy version, the model and its
parameters (``llm_string``), the conversation before the last user message (system prompt
included) and the embedding model.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .._errors import CacheScopeError

__all__ = [
    "DEFAULT_TENANT",
    "UNKNOWN_SCOPE",
    "CacheScope",
    "CacheScopeError",
    "cache_scope",
    "current_scope",
    "normalize_query",
    "scope_from_metadata",
]

#: Tenant of requests that name none. Never equal to a real tenant id, so an anonymous
#: request is never served an entry written under a tenant (and vice versa).
DEFAULT_TENANT = "\x00default"

# Metadata keys read from the running chain's config (same names the cost handler reads).
_META_KEYS: dict[str, tuple[str, ...]] = {
    "tenant": ("cache_tenant", "tenant_id", "tenant"),
    "user": ("cache_user", "user_id", "user"),
    "feature": ("feature",),
    "route": ("cache_route", "route"),
    "prompt_version": ("prompt_version",),
    "corpus_version": ("corpus_version",),
    "safety_version": ("safety_version", "safety_policy_version"),
}


class CacheScope(BaseModel):
    """The attributes that partition the cache. ``None`` fields are unset.

    ``bypass=True`` skips the cache (no lookup, no write) for the calls inside.
    ``per_user=True`` partitions by ``user`` too (off by default: most answers are shared
    within a tenant).

    >>> CacheScope(tenant="acme").merged(CacheScope(route="faq")).route
    'faq'
    """

    model_config = ConfigDict(frozen=True)

    tenant: str | None = None
    user: str | None = None
    per_user: bool | None = None
    feature: str | None = None
    route: str | None = None
    prompt_version: str | None = None
    corpus_version: str | None = None
    safety_version: str | None = None
    evidence_ids: tuple[str, ...] | None = None
    answer_key: str | None = None
    bypass: bool | None = None

    def merged(self, inner: CacheScope) -> CacheScope:
        """This scope overridden by the set fields of ``inner``."""
        data = self.model_dump()
        data.update({k: v for k, v in inner.model_dump().items() if v is not None})
        return CacheScope(**data)


_scope_var: contextvars.ContextVar[CacheScope | None] = contextvars.ContextVar(
    "llm_cost_hooks_cache_scope", default=None
)


@contextlib.contextmanager
def cache_scope(**fields: Any) -> Iterator[CacheScope]:
    """Set cache scope fields for the calls inside (nested scopes override outer ones).

    Works across threads started with ``contextvars.copy_context`` and in asyncio tasks.

    >>> with cache_scope(tenant="acme", route="faq", prompt_version="v3") as s:
    ...     s.tenant
    'acme'
    """
    if "evidence_ids" in fields and fields["evidence_ids"] is not None:
        fields["evidence_ids"] = tuple(str(x) for x in fields["evidence_ids"])
    inner = CacheScope(**fields)
    outer = _scope_var.get()
    scope = outer.merged(inner) if outer is not None else inner
    token = _scope_var.set(scope)
    try:
        yield scope
    finally:
        _scope_var.reset(token)


def current_scope() -> CacheScope | None:
    """The scope set by the innermost :func:`cache_scope`, if any."""
    return _scope_var.get()


#: The scope of a request whose scope could not be read: it bypasses the cache (no lookup,
#: no write), so it can never be served another partition's entry.
UNKNOWN_SCOPE = CacheScope(bypass=True)

_SCALARS = (str, int, float, bool, uuid.UUID)


def scope_from_metadata(metadata: Mapping[str, Any] | None) -> CacheScope:
    """Scope fields found in a run's metadata (``tenant_id``, ``route``, ``prompt_version`` ...).

    The first key present wins for each field. An empty string is a value of its own: the
    empty tenant ``""`` never shares a partition with requests that name no tenant.
    A value that is not a string, number or UUID raises :class:`CacheScopeError` (callers
    then bypass the cache rather than guess a partition).
    """
    if not metadata:
        return CacheScope()
    data: dict[str, Any] = {}
    for field, keys in _META_KEYS.items():
        for key in keys:
            value = metadata.get(key)
            if value is None:
                continue
            if not isinstance(value, _SCALARS):
                raise CacheScopeError(
                    f"metadata[{key!r}] is a {type(value).__name__}; the cache scope needs a string or number."
                )
            data[field] = str(value)
            break
    if metadata.get("cache_per_user") is not None:
        data["per_user"] = bool(metadata["cache_per_user"])
    if metadata.get("cache_bypass") is not None:
        data["bypass"] = bool(metadata["cache_bypass"])
    if metadata.get("evidence_ids"):
        data["evidence_ids"] = tuple(str(x) for x in metadata["evidence_ids"])
    if metadata.get("cache_answer_key") is not None:
        data["answer_key"] = str(metadata["cache_answer_key"])
    return CacheScope(**data)


_WS = re.compile(r"\s+")


def normalize_query(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: the exact tier's key text.

    >>> normalize_query("  Where is   MY card?\\n")
    'where is my card?'
    """
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def digest(*parts: Any) -> str:
    """A stable 128-bit hex digest of JSON-able parts."""
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.blake2b(raw.encode("utf-8"), digest_size=16).hexdigest()


def partition_of(
    scope: CacheScope,
    *,
    llm_string: str,
    context_hash: str,
    embedder_name: str,
    default_tenant: str = DEFAULT_TENANT,
) -> str:
    """The partition id (hash) a request belongs to."""
    per_user = bool(scope.per_user)
    # Tagged, so no tenant id (not even "" or the default tenant's name) equals "no tenant".
    tenant = ["tenant", scope.tenant] if scope.tenant is not None else ["default", default_tenant]
    return digest(
        "p2",
        tenant,
        scope.user if per_user else None,
        scope.feature,
        scope.route,
        scope.prompt_version,
        scope.corpus_version,
        scope.safety_version,
        llm_string,
        context_hash,
        embedder_name,
    )
