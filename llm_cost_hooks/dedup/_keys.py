"""Idempotency keys: explicit from metadata, or derived from the exact request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError

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
    ``metadata`` (``tenant_id`` / ``tenant``): two tenants never share an answer, even
    when they pick the same key or send the same request.

    >>> idempotency_key({"idempotency_key": "order-42"})
    'explicit:order-42'
    >>> idempotency_key({"idempotency_key": "order-42", "tenant_id": "acme"})
    'explicit:tenant=acme:order-42'
    """
    if metadata:
        tenant = metadata.get("tenant_id") or metadata.get("tenant")
        if tenant is not None and tenant != "":
            namespace = f"{namespace}tenant={tenant}:"
        explicit = metadata.get(IDEMPOTENCY_KEY)
        if explicit is not None:
            if not isinstance(explicit, (str, int)) or isinstance(explicit, bool) or explicit == "":
                raise ConfigurationError(
                    f"metadata['{IDEMPOTENCY_KEY}'] must be a non-empty string, got {explicit!r}."
                )
            return f"explicit:{namespace}{explicit}"
    if derive and request is not None:
        return "req:" + request_key(request, namespace=namespace)
    return None
