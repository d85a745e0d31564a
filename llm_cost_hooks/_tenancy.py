"""A tenant bound to a caller's credential by the operator of a gateway.

Behind a gateway (the LiteLLM proxy) the client writes its request's metadata itself, so a
tenant it names there is only a claim. A tenant the operator stored with the credential
(the virtual key's metadata, or its team's) is not: when there is one, it is the request's
tenant for records, budgets, alerts, dedup and the cache, and a request whose metadata
names another tenant is refused. Adapters read the operator's metadata; the rule is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from ._errors import InvalidUsageError

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


def _named(metadata: Mapping[str, Any] | None, keys: Iterable[str]) -> str | None:
    # Tenant id 0 is tenant "0" (as everywhere else); None and "" name no tenant. None and
    # dicts (what the proxy passes) are told apart without the ABC's isinstance check: this
    # runs on every success event.
    if metadata is None or not isinstance(metadata, (dict, Mapping)):
        return None
    for key in keys:
        value = metadata.get(key)
        if value is not None and value != "":
            return str(value)
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
            if value is not None and value != "" and str(value) != bound:
                raise TenantRefused(
                    f"metadata.{key} names tenant {str(value)!r}, but this key is bound to tenant "
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
