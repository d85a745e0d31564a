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
import functools
import hashlib
import json
import logging
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .._errors import CacheScopeError
from .._tenancy import UnusableTenant, tenant_text

__all__ = [
    "DEFAULT_TENANT",
    "UNKNOWN_SCOPE",
    "CacheScope",
    "CacheScopeError",
    "begin_run",
    "cache_scope",
    "current_scope",
    "end_run",
    "normalize_query",
    "resolve_scope",
    "run_scope",
    "scope_from_metadata",
]

logger = logging.getLogger("llm_cost_hooks.cache")

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
    A tenant is read as in metadata (``7`` and ``7.0`` are ``"7"``); one that is not usable
    there (NaN, undecodable text...) raises :class:`CacheScopeError`.

    >>> with cache_scope(tenant="acme", route="faq", prompt_version="v3") as s:
    ...     s.tenant
    'acme'
    """
    unknown = sorted(set(fields) - set(CacheScope.model_fields))
    if unknown:  # a misspelt field would be dropped silently: the calls would lose their tenant
        raise CacheScopeError(
            f"cache_scope() takes no field {', '.join(map(repr, unknown))}; its fields are "
            f"{', '.join(CacheScope.model_fields)}."
        )
    if "evidence_ids" in fields and fields["evidence_ids"] is not None:
        fields["evidence_ids"] = tuple(str(x) for x in fields["evidence_ids"])
    tenant = fields.get("tenant")
    if tenant is not None and not (isinstance(tenant, str) and not tenant):
        # Read as metadata is (7 or 7.0 is "7"); an unusable tenant raises UnusableTenant
        # here, where the caller named it, rather than differ between cache, guard and record.
        fields["tenant"] = tenant_text(tenant, "cache_scope(tenant)")
    inner = CacheScope(**fields)
    outer = _scope_var.get()
    scope = outer.merged(inner) if outer is not None else inner
    token = _scope_var.set(scope)
    try:
        yield scope
    finally:
        _scope_var.reset(token)


def current_scope() -> CacheScope | None:
    """The scope set by the innermost :func:`cache_scope`, if any.

    >>> current_scope() is None
    True
    >>> with cache_scope(tenant="acme"):
    ...     current_scope().tenant
    'acme'
    """
    return _scope_var.get()


#: The scope of a request whose scope could not be read: it bypasses the cache (no lookup,
#: no write), so it can never be served another partition's entry.
UNKNOWN_SCOPE = CacheScope(bypass=True)

_SCALARS = (str, int, float, bool, uuid.UUID)


# Every metadata key scope_from_metadata reads: its result depends on these values only.
_READ_KEYS = (
    *(key for keys in _META_KEYS.values() for key in keys),
    "cache_per_user",
    "cache_bypass",
    "evidence_ids",
    "cache_answer_key",
)
_READ_KEY_SET = frozenset(_READ_KEYS)
_NO_SCOPE = CacheScope()
_MEMO_SIZE = 256
# Scopes already read, by the (type, value) of every key read (types too: True == 1, but
# "True" != "1"). Shared scopes are frozen, so returning one object for equal metadata is
# safe, and the adapters' per-scope memos can then compare scopes by identity.
_from_meta_memo: dict[tuple[tuple[Any, ...], tuple[type, ...]], CacheScope] = {}


def scope_from_metadata(metadata: Mapping[str, Any] | None) -> CacheScope:
    """Scope fields found in a run's metadata (``tenant_id``, ``route``, ``prompt_version`` ...).

    The first key present wins for each field. An empty string is a value of its own: the
    empty tenant ``""`` never shares a partition with requests that name no tenant.
    A value that is not a string, number or UUID, or a NaN or infinite number (NaN is how
    a table spells a missing value), raises :class:`CacheScopeError` (callers then bypass
    the cache rather than guess a partition). The tenant is read as the cost record and
    the spend guard read it: ``7.0`` is tenant ``"7"``; a fraction, a bool, or text with
    unpaired surrogates or NUL characters raises too.

    >>> scope = scope_from_metadata({"tenant_id": "acme", "route": "faq"})
    >>> scope.tenant, scope.route, scope.prompt_version
    ('acme', 'faq', None)
    """
    if not metadata or _READ_KEY_SET.isdisjoint(metadata):  # most runs name no scope at all
        return _NO_SCOPE
    values = tuple(map(metadata.get, _READ_KEYS))
    found = (values, tuple(map(type, values)))
    try:
        got = _from_meta_memo.get(found)
    except TypeError:  # an unhashable value (a list of evidence ids): read it each time
        return _read_scope(metadata)
    if got is None:
        got = _read_scope(metadata)
        if len(_from_meta_memo) >= _MEMO_SIZE:
            _from_meta_memo.clear()
        _from_meta_memo[found] = got
    return got


def _read_scope(metadata: Mapping[str, Any]) -> CacheScope:
    data: dict[str, Any] = {}
    for field, keys in _META_KEYS.items():
        for key in keys:
            value = metadata.get(key)
            if value is None:
                continue
            if field == "tenant":
                # The one reading of a tenant (the record's, the guard's): 7.0 is tenant "7";
                # an unusable value (NaN, a dict, undecodable text) raises UnusableTenant, a
                # CacheScopeError, after its one warning: the call bypasses the cache.
                # "" stays a tenant of its own here: it never shares the no-tenant partition.
                data[field] = "" if isinstance(value, str) and not value else tenant_text(value, key)
                break
            if not isinstance(value, _SCALARS):
                raise CacheScopeError(
                    f"metadata[{key!r}] is a {type(value).__name__}; the cache scope needs a string or number."
                )
            if isinstance(value, float) and not math.isfinite(value):
                # NaN is how a table (pandas, a CSV) spells a missing value: read as the text
                # "nan", every row that lost its tenant would share one partition.
                raise CacheScopeError(
                    f"metadata[{key!r}] is {value!r} (a missing value?); the cache scope needs a string or number."
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


# --------------------------------------------------------------------- run scopes
# A framework whose cache hook sees no config (LangChain's ``BaseCache.lookup`` gets only
# the prompt and the model string) records each model run's scope when the run starts and
# reads it back in the lookup. Runs in progress in this context, innermost last. A start
# stores a new dict (copy on write), so concurrent tasks and threads never see each other's
# runs; an end removes its id from the dict it finds, which is the one its caller sees too
# (frameworks end async runs in gathered tasks, i.e. in context copies).
_run_scopes: contextvars.ContextVar[dict[Hashable, CacheScope] | None] = contextvars.ContextVar(
    "llm_cost_hooks_cache_runs", default=None
)


_TENANT_KEYS = frozenset(_META_KEYS["tenant"])
_configurable_logged = False
# Runs kept per context. A handler raising in its end callback (``strict=True`` on an
# unknown model) makes LangChain skip the other handlers' ends, so a run's scope can be
# left behind; nesting never comes near this, and the oldest entries go first.
_MAX_RUNS = 256


def begin_run(
    run_id: Hashable, metadata: Mapping[str, Any] | None, configurable: Mapping[str, Any] | None = None
) -> None:
    """Record the scope of a model run from its metadata. Unreadable metadata fails
    closed: the run bypasses the cache. So does a tenant named only in the enclosing
    config's ``configurable``, which the framework does not hand to callbacks as metadata:
    the run's partition would otherwise be every tenant's default one."""
    global _configurable_logged
    try:
        scope = scope_from_metadata(metadata)
    except UnusableTenant:  # already warned about, once
        scope = UNKNOWN_SCOPE
    except Exception as exc:
        logger.warning("cache scope unreadable from run metadata (%s); this call bypasses the cache", exc)
        scope = UNKNOWN_SCOPE
    if (
        configurable
        and scope.tenant is None
        and not _TENANT_KEYS.isdisjoint(configurable)
        and getattr(_scope_var.get(), "tenant", None) is None
    ):
        scope = UNKNOWN_SCOPE
        log = logger.debug if _configurable_logged else logger.warning
        _configurable_logged = True
        log(
            "the tenant is in the config's 'configurable' only, which the cache cannot read on every "
            "path; these calls bypass the cache: put it in 'metadata' or use cache_scope(tenant=...)"
        )
    runs = _run_scopes.get()
    fresh = dict(runs) if runs else {}
    while len(fresh) >= _MAX_RUNS:  # ends another callback's error skipped: drop the oldest
        del fresh[next(iter(fresh))]
    fresh[run_id] = scope
    _run_scopes.set(fresh)


def end_run(run_id: Hashable) -> None:
    """Forget a finished (or failed) run's scope."""
    runs = _run_scopes.get()
    if runs:
        runs.pop(run_id, None)


def run_scope() -> CacheScope | None:
    """The scope of the innermost model run in progress in this context, if any."""
    runs = _run_scopes.get()
    if not runs:
        return None
    scopes = list(runs.values())  # one C-level copy: safe while another thread ends a run
    return scopes[-1] if scopes else None


# Merged scopes by the identity of their parts (both kept alive in the value, so an id is
# never reused while its entry exists).
_merge_memo: dict[tuple[int, int], tuple[CacheScope, CacheScope, CacheScope]] = {}


def resolve_scope(outer_metadata: Callable[[], Mapping[str, Any] | None]) -> CacheScope:
    """The scope of a cache call: the innermost run's scope, or, outside any run, the scope
    of ``outer_metadata()`` (the enclosing chain's); :func:`cache_scope` fields win."""
    scope = run_scope()
    if scope is None:
        scope = scope_from_metadata(outer_metadata())
    explicit = _scope_var.get()
    if explicit is None:
        return scope
    key = (id(scope), id(explicit))
    got = _merge_memo.get(key)
    if got is not None and got[0] is scope and got[1] is explicit:
        return got[2]
    merged = scope.merged(explicit)
    if len(_merge_memo) >= _MEMO_SIZE:
        _merge_memo.clear()
    _merge_memo[key] = (scope, explicit, merged)
    return merged


_WS = re.compile(r"\s+")
_HSPACE = re.compile(r"[^\S\n]+")
_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[a-z][A-Z]")
# Invisible characters that never change what a text says (zero-width space, word joiner,
# byte-order mark, soft hyphen). The zero-width joiner and non-joiner are kept: they change
# emoji sequences and the spelling of Persian and Indic words.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
# Compatibility forms NFKC would fold but that change the meaning: 2³ is not 23, x₂ not x2,
# ½ not 1⁄2, ① not 1.
_KEEP_TAGS = ("<super>", "<sub>", "<fraction>", "<circle>")


@functools.lru_cache(maxsize=4096)
def _folds(ch: str) -> bool:
    return not unicodedata.decomposition(ch).startswith(_KEEP_TAGS)


def _compat(text: str) -> str:
    """NFKC except for the compatibility forms in ``_KEEP_TAGS`` (kept as NFC)."""
    if all(_folds(c) for c in text if not c.isascii()):
        return unicodedata.normalize("NFKC", text)
    return "".join(unicodedata.normalize("NFKC" if _folds(c) else "NFC", c) for c in text)


def _fold_word(m: re.Match[str]) -> str:
    w = m.group()
    # camelCase and mixed-case codes (userName, AbC123) are kept: their case is meaning.
    return w.lower() if w.islower() or w.isupper() or w.istitle() or not any(c.isupper() for c in w) else w


def normalize_query(text: str) -> str:
    """The exact tier's key text: Unicode NFKC (full-width digits, no-break spaces and
    ligatures folded; superscripts, subscripts, fractions and circled numbers kept),
    invisible zero-width characters dropped, words lower-cased (mixed-case words such as
    ``userName`` or ``AbC123`` kept), spaces collapsed. Lines and their indentation are
    kept: in code they are meaning.

    >>> normalize_query("  Where is   MY card?\\n")
    'where is my card?'
    >>> normalize_query("Order １２３４"), normalize_query("What is 2³?")
    ('order 1234', 'what is 2³?')
    """
    if text.isascii():
        norm = text
    else:
        norm = _compat(text).translate(_INVISIBLE)
    norm = norm.strip()
    if "\n" in norm or "\r" in norm:
        norm = norm.replace("\r\n", "\n").replace("\r", "\n")
        lines = []
        for line in norm.split("\n"):
            body = line.strip()
            if body:  # indentation kept as written: its width is meaning in Python and YAML
                lines.append(line[: len(line) - len(line.lstrip())] + _HSPACE.sub(" ", body))
        norm = "\n".join(lines)
    else:
        norm = _WS.sub(" ", norm)
    if norm.isascii() and not _CAMEL.search(norm):
        return norm.lower()
    return _WORD.sub(_fold_word, norm)


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
