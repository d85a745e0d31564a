"""Idempotency keys: explicit from metadata, or derived from the exact request."""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError
from .._tenancy import UnusableTenant, first_tenant

__all__ = ["IDEMPOTENCY_KEY", "idempotency_key", "request_key"]

#: Metadata key of an explicit idempotency key (e.g. a client's request id).
IDEMPOTENCY_KEY = "idempotency_key"


def request_key(request: Any, *, namespace: str = "") -> str:
    """A stable key for an exact request (model, messages, parameters): sha256 of its
    canonical JSON. Two requests share a key only if every field is equal.

    >>> request_key({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})[:12]
    'b4c661caf838'
    """
    try:
        blob = json.dumps(request, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot derive an idempotency key from this request: {exc}") from exc
    return hashlib.sha256((namespace + "\x00" + blob).encode()).hexdigest()


def idempotency_key(
    metadata: Mapping[str, Any] | None, request: Any = None, *, namespace: str = "", derive: bool = True
) -> str | None:
    """The explicit key in ``metadata['idempotency_key']`` (namespaced), else the derived
    :func:`request_key` when ``derive``, else ``None``. Either is scoped to the tenant in
    enclosing :func:`~llm_cost_hooks.cache.cache_scope`, else to the tenant in ``metadata``
    (``tenant_id`` / ``tenant`` / ``cache_tenant``): two tenants never share an answer,
    even when they pick the same key or send the same request. A tenant value that is not
    usable (NaN, a dict...: see ``_tenancy.tenant_text``) gives ``None``: no dedup.

    >>> idempotency_key({"idempotency_key": "order-42"})
    'explicit:order-42'
    >>> idempotency_key({"idempotency_key": "order-42", "tenant_id": "acme"})
    'explicit:tenant=acme:order-42'
    """
    try:
        tenant = _tenant(metadata)
    except UnusableTenant:  # whose call it is is unknown: it shares no answer (warned once)
        return None
    if tenant is not None:
        # Percent-encoded, as is the explicit key below: tenant "acme:order" with key "42"
        # and tenant "acme" with key "order:42" must not share one answer.
        namespace = f"{namespace}tenant={_quote(tenant)}:"
    if metadata:
        explicit = metadata.get(IDEMPOTENCY_KEY)
        if explicit is not None:
            if not isinstance(explicit, (str, int)) or isinstance(explicit, bool) or explicit == "":
                raise ConfigurationError(
                    f"metadata['{IDEMPOTENCY_KEY}'] must be a non-empty string, got {explicit!r}."
                )
            return f"explicit:{namespace}{_quote(str(explicit))}"
    if derive and request is not None:
        return "req:" + request_key(request, namespace=namespace)
    return None


# Whose account a request is sent on. Different API keys (or endpoints, organizations) are
# different customers of one gateway: they never share an answer, tenant named or not.
_CREDENTIAL_FIELDS = ("api_key", "api_base", "base_url", "organization")


def credentials_scope(source: Any, *, fields: tuple[str, ...] = _CREDENTIAL_FIELDS, also: str = "") -> str:
    """A namespace part for the credentials in ``source`` (a mapping, or an object read by
    attribute, e.g. a chat model): ``"cred=<sha256 of them>:"``, or ``""`` when it has
    none. Only the digest goes into a key; the key itself never reaches Redis or a log.

    >>> credentials_scope({"api_key": "sk-a"}) != credentials_scope({"api_key": "sk-b"})
    True
    >>> credentials_scope({"model": "gpt-4o"})
    ''
    """
    found: dict[str, str] = {}
    mapping = isinstance(source, Mapping)
    for name in fields:
        value = source.get(name) if mapping else getattr(source, name, None)
        secret = getattr(value, "get_secret_value", None)  # pydantic SecretStr
        if callable(secret):
            value = secret()
        if value is not None and value != "":
            found[name] = str(value)
    if also:
        found["scope"] = also
    if not found:
        return ""
    blob = json.dumps(found, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "cred=" + hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32] + ":"


def _tenant(metadata: Mapping[str, Any] | None) -> str | None:
    """The tenant a key is scoped to: the enclosing ``cache_scope(tenant=...)`` first, then
    the run's metadata (``tenant_id`` / ``tenant`` / ``cache_tenant``). The same order the
    cache's partition, the cost record and the spend guard use, so a call that names two
    tenants is one tenant's everywhere."""
    module = sys.modules.get("llm_cost_hooks.cache._scope")  # no scope exists before its import
    scope = module.current_scope() if module is not None else None
    if scope is not None and scope.tenant:
        return str(scope.tenant)
    # Read as the record and the guard read it (7.0 is "7"); an unusable value raises.
    return first_tenant(metadata, ("tenant_id", "tenant", "cache_tenant"))


def _quote(part: str) -> str:
    # Injective and free of ':' and '=', so a key's parts cannot shift into each other.
    return urllib.parse.quote(part, safe="", errors="surrogatepass")
