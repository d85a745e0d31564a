"""What tenant a call belongs to, and a tenant bound to a caller's credential by the
operator of a gateway.

:func:`tenant_text` is the one reading of a tenant value: the cost record, the spend guard
(limits and alerts), the dedup key and both caches all read a tenant through it, so a call
is one tenant's everywhere. Text is kept as written; an integer (``7``), a whole float
(``7.0``, how pandas spells an integer column with gaps) and a UUID are their integer's
or UUID's text. Every other value (NaN, infinity, a fraction, ``True``, a dict, text with
unpaired surrogates or NUL characters, text longer than 512 characters) is *unusable*:
the call is treated as naming no tenant (the record's default tenant, the guard's
no-tenant pool) and shares no answer (it bypasses the cache and dedup), with one warning
naming the metadata key, never the value.

Behind a gateway (the LiteLLM proxy) the client writes its request's metadata itself, so a
tenant it names there is only a claim. A tenant the operator stored with the credential
(the virtual key's metadata, or its team's) is not: when there is one, it is the request's
tenant for records, budgets, alerts, dedup and the cache, and a request whose metadata
names another tenant is refused. Adapters read the operator's metadata; the rule is here.
"""

from __future__ import annotations

import logging
import math
import numbers
import uuid
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from ._errors import CacheScopeError, InvalidUsageError

logger = logging.getLogger("llm_cost_hooks")

__all__: list[str] = []

#: Every metadata key a tenant is read from (records and budgets read ``tenant_id`` /
#: ``tenant``, the cache and dedup also ``cache_tenant``): a binding covers them all.
TENANT_KEYS = ("tenant_id", "tenant", "cache_tenant")
#: The keys an operator binds a tenant with, in a key's or team's metadata.
BINDING_KEYS = ("tenant_id", "tenant")


class TenantRefused(InvalidUsageError):
    """A request naming a tenant its credential is not bound to, or (when every credential
    must be bound) a credential bound to none. Answered over HTTP with 403. ``bound``: the
    credential's tenant, if known (the record of the refusal is that tenant's)."""

    bound: str | None = None


#: Longest tenant id kept (the records' limit on attribution text): a longer one would be
#: cut, and two tenants sharing their first 512 characters would merge.
MAX_TENANT = 512


class UnusableTenant(CacheScopeError):
    """A tenant value no store can keep as distinct text (see :func:`tenant_text`). The
    message names the metadata key and the value's kind, never the value."""


def _problem(value: Any) -> tuple[str | None, str]:
    """``(text, "")`` for a usable tenant value, ``(None, why)`` for an unusable one."""
    if type(value) is str or isinstance(value, str):
        text = str.__str__(value)
        if len(text) > MAX_TENANT:
            return None, f"is longer than {MAX_TENANT} characters"
        if "\x00" in text or (not text.isascii() and any("\ud800" <= c <= "\udfff" for c in text)):
            return None, "is text with NUL characters or unpaired surrogates (undecodable bytes?)"
        return text, ""
    if isinstance(value, bool):
        return None, "is a bool"
    if isinstance(value, uuid.UUID):
        return str(value), ""
    if type(value).__name__ in ("bool_", "bool"):  # numpy's bool, which also has __index__
        return None, "is a bool"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        value = float(value)  # numpy's float32, fractions.Fraction
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, "is a NaN or infinite float (a missing value?)"
        if not value.is_integer():
            return None, "is a float that is not a whole number"
        value = int(value)
    try:
        number = int(value.__index__())  # int, numpy integers
        text = str(number)
    except (AttributeError, TypeError, ValueError):
        return None, f"is a {type(value).__name__}"
    if len(text) > MAX_TENANT:
        return None, f"is longer than {MAX_TENANT} characters"
    return text, ""


_warned: set[tuple[str, str]] = set()


def tenant_text(value: Any, key: str = "tenant_id") -> str | None:
    """The tenant ``value`` (read from ``metadata[key]``, or a call such as
    ``cache_scope(tenant)`` when ``key`` ends with ``)``) names: ``None`` for ``None`` and
    ``""`` (no tenant), else its text. An unusable value raises :class:`UnusableTenant`
    after one warning per key and kind of value (later ones are logged at debug level).

    >>> tenant_text("acme"), tenant_text(7), tenant_text(7.0), tenant_text(None)
    ('acme', '7', '7', None)
    >>> tenant_text(float("nan"))
    Traceback (most recent call last):
    ...
    llm_cost_hooks._tenancy.UnusableTenant: metadata['tenant_id'] is a NaN or infinite float (a missing value?); this call is treated as naming no tenant and bypasses the cache and dedup: pass the tenant id as text, e.g. metadata={'tenant_id': 'acme'}.
    """
    if type(value) is str and len(value) <= MAX_TENANT and value.isascii() and "\x00" not in value:
        return value or None
    if value is None or (isinstance(value, str) and value == ""):
        return None
    text, why = _problem(value)
    if text is not None:
        return text
    if key.endswith(")"):  # an argument: the call raises where it was named
        name, _, arg = key[:-1].partition("(")
        message = f"{key} {why}: pass the tenant id as text, e.g. {name}({arg}='acme')."
    else:
        message = (
            f"metadata[{key!r}] {why}; this call is treated as naming no tenant and bypasses the cache "
            f"and dedup: pass the tenant id as text, e.g. metadata={{{key!r}: 'acme'}}."
        )
    seen = (key, why)
    if seen in _warned:
        logger.debug("llm-cost-hooks: %s", message)
    else:
        _warned.add(seen)
        logger.warning("llm-cost-hooks: %s", message)
    raise UnusableTenant(message)


def tenant_or_none(value: Any, key: str = "tenant_id") -> str | None:
    """:func:`tenant_text`, ``None`` for an unusable value (after its warning)."""
    try:
        return tenant_text(value, key)
    except UnusableTenant:
        return None


def first_tenant(
    metadata: Mapping[str, Any] | None, keys: Iterable[str] = ("tenant_id", "tenant")
) -> str | None:
    """The tenant named by the first of ``keys`` in ``metadata`` that names one (``None``
    and ``""`` name none). An unusable value raises :class:`UnusableTenant`: it is not
    skipped for a later key, so every reader agrees on the call's tenant.

    >>> first_tenant({"tenant_id": "", "tenant": 0})
    '0'
    """
    if not metadata:
        return None
    for key in keys:
        value = metadata.get(key)
        if not absent(value):
            return tenant_text(value, key)
    return None


def absent(value: Any) -> bool:
    """Whether a tenant key's value names no tenant (``None`` or ``""``); safe for values
    whose ``==`` is not a bool (``pandas.NA``)."""
    return value is None or (isinstance(value, str) and not value)


def _named(metadata: Mapping[str, Any] | None, keys: Iterable[str]) -> str | None:
    # Tenant id 0 is tenant "0" (as everywhere else); None and "" name no tenant. None and
    # dicts (what the proxy passes) are told apart without the ABC's isinstance check: this
    # runs on every success event.
    if metadata is None or not isinstance(metadata, (dict, Mapping)):
        return None
    try:
        return first_tenant(metadata, keys)
    except UnusableTenant:  # the operator's binding: an unusable one binds nothing
        return None


def bound_tenant(
    key_metadata: Mapping[str, Any] | None, team_metadata: Mapping[str, Any] | None
) -> str | None:
    """The tenant the operator bound the caller to: the key's, else its team's; ``None``
    when neither names one. A key and team bound to different tenants raise
    :class:`TenantRefused`: which one the operator meant is unknown, so neither is used.

    >>> bound_tenant({"tenant_id": "acme"}, None), bound_tenant(None, {"tenant": 7})
    ('acme', '7')
    """
    key = _named(key_metadata, BINDING_KEYS)
    team = _named(team_metadata, BINDING_KEYS)
    if key is not None and team is not None and key != team:
        raise TenantRefused(
            f"this key is bound to tenant {key!r} but its team to tenant {team!r}; "
            "the proxy operator must bind them to one tenant."
        )
    return key if key is not None else team


def bound_or_none(key_metadata: Any, team_metadata: Any) -> str | None:
    """:func:`bound_tenant` that never raises, for reads after the request was admitted
    (the cache's partition): a conflicting binding was refused before, and binds nothing."""
    key = _named(key_metadata, BINDING_KEYS)
    team = _named(team_metadata, BINDING_KEYS)
    if key is not None and team is not None and key != team:
        return None
    return key if key is not None else team


def bind_tenant(
    metadatas: Iterable[MutableMapping[str, Any] | None], bound: str | None, *, required: bool = False
) -> None:
    """Apply the caller's bound tenant to a request's metadata mappings (changed in place).

    Bound: a tenant the request names (under any of :data:`TENANT_KEYS`) must be the bound
    one, else :class:`TenantRefused`; then ``tenant_id`` (and any other tenant key present)
    is the bound tenant. Not bound: nothing changes (the client-written tenant is trusted),
    unless ``required``, which refuses the request.

    >>> md = {"tenant_id": "acme", "feature": "faq"}
    >>> bind_tenant([md], "acme"); md["tenant_id"]
    'acme'
    >>> bind_tenant([md], "globex")
    Traceback (most recent call last):
    ...
    llm_cost_hooks._tenancy.TenantRefused: metadata.tenant_id names tenant 'acme', but this key is bound to tenant 'globex'; leave the tenant out of the request (the key's tenant applies).
    """
    if bound is None:
        if required:
            raise TenantRefused(
                "this proxy requires every key to be bound to a tenant, and this key is bound to none; "
                'ask the operator to set metadata {"tenant_id": ...} on the key or its team.'
            )
        return
    present = [md for md in metadatas if md is not None]
    for md in present:
        for key in TENANT_KEYS:
            value = md.get(key)
            if absent(value):
                continue
            named = tenant_or_none(value, key)
            if named != bound:
                shown = repr(named) if named is not None else "an unusable value"
                raise TenantRefused(
                    f"metadata.{key} names tenant {shown}, but this key is bound to tenant "
                    f"{bound!r}; leave the tenant out of the request (the key's tenant applies)."
                )
    for md in present:
        for key in TENANT_KEYS:
            if key in md:
                md[key] = bound
        md["tenant_id"] = bound


def bind_request(
    metadatas: Iterable[MutableMapping[str, Any] | None],
    key_metadata: Mapping[str, Any] | None,
    team_metadata: Mapping[str, Any] | None,
    *,
    required: bool = False,
) -> str | None:
    """:func:`bound_tenant` then :func:`bind_tenant`: the request's tenant, when bound. A
    :class:`TenantRefused` carries the bound tenant (``bound``) when there is one."""
    bound = bound_tenant(key_metadata, team_metadata)
    try:
        bind_tenant(metadatas, bound, required=required)
    except TenantRefused as exc:
        exc.bound = bound
        raise
    return bound


def unclaimed(metadata: Mapping[str, Any], bound: str | None) -> dict[str, Any]:
    """``metadata`` without the tenant a refused request claimed: the bound tenant (or no
    tenant) for the record of the refusal, never the tenant the client named."""
    out = {k: v for k, v in metadata.items() if k not in TENANT_KEYS}
    snapshot = out.get("requester_metadata")  # the proxy's copy of what the client sent
    if isinstance(snapshot, Mapping):
        out["requester_metadata"] = {k: v for k, v in snapshot.items() if k not in TENANT_KEYS}
    if bound is not None:
        out["tenant_id"] = bound
    return out
