"""A tenant bound to a proxy virtual key (its metadata, or its team's) is the request's
tenant everywhere: the pre-call hook, the cost record, the spend guard, dedup and both
caches. The end-to-end check with the real proxy is tests/test_litellm_proxy_tenant.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from llm_cost_hooks._tenancy import TenantRefused, bind_tenant, bound_tenant
from llm_cost_hooks.budget._requests import refusal_of
from llm_cost_hooks.litellm import CostHooksLogger
from llm_cost_hooks.litellm._state import _metadata_of


def _auth(metadata: dict[str, Any] | None = None, team_metadata: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(metadata=metadata or {}, team_metadata=team_metadata, token="hash-of-key")


def _hook(logger: CostHooksLogger, auth: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    data = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "metadata": metadata}
    return asyncio.run(logger.async_pre_call_hook(auth, None, data, "acompletion"))  # type: ignore[no-any-return]


@pytest.fixture
def cost_logger() -> Any:
    cl = CostHooksLogger(ledger="memory://")
    yield cl
    cl.tracker.close()


def test_core_binding_rules() -> None:
    assert bound_tenant({"tenant_id": "acme"}, {"tenant_id": "acme"}) == "acme"
    assert bound_tenant({}, {"tenant_id": 0}) == "0"  # tenant 0 is a tenant
    assert bound_tenant({"tenant_id": ""}, None) is None
    with pytest.raises(TenantRefused):  # key and team disagree: neither is trusted
        bound_tenant({"tenant_id": "acme"}, {"tenant_id": "globex"})
    for key in ("tenant_id", "tenant", "cache_tenant"):
        with pytest.raises(TenantRefused):
            bind_tenant([{key: "globex"}], "acme")
    md: dict[str, Any] = {"tenant": "acme", "cache_tenant": ""}
    bind_tenant([md], "acme")
    assert md == {"tenant_id": "acme", "tenant": "acme", "cache_tenant": "acme"}
    unbound: dict[str, Any] = {"tenant_id": "anything"}
    bind_tenant([unbound], None)
    assert unbound == {"tenant_id": "anything"}
    with pytest.raises(TenantRefused):
        bind_tenant([unbound], None, required=True)


def test_refusal_is_a_403_on_the_tenant() -> None:
    refusal = refusal_of(TenantRefused("no"), budget_status=422)
    assert refusal is not None
    assert (refusal.code, refusal.type, refusal.param) == (403, "permission_error", "metadata.tenant_id")


def test_hook_writes_the_bound_tenant_and_refuses_another(cost_logger: CostHooksLogger) -> None:
    data = _hook(cost_logger, _auth({"tenant_id": "acme"}), {"feature": "faq"})
    assert data["metadata"]["tenant_id"] == "acme"
    data = _hook(cost_logger, _auth(team_metadata={"tenant_id": "initech"}), {"tenant_id": "initech"})
    assert data["metadata"]["tenant_id"] == "initech"
    with pytest.raises(TenantRefused):
        _hook(cost_logger, _auth({"tenant_id": "acme"}), {"tenant_id": "globex"})
    # Unbound: the client's tenant, as before.
    data = _hook(cost_logger, _auth(), {"tenant_id": "hooli"})
    assert data["metadata"]["tenant_id"] == "hooli"


def test_hook_refuses_unbound_keys_when_binding_is_required() -> None:
    cl = CostHooksLogger(ledger="memory://", require_bound_tenant=True)
    try:
        with pytest.raises(TenantRefused):
            _hook(cl, _auth(), {"tenant_id": "hooli"})
        assert _hook(cl, _auth({"tenant_id": "acme"}), {})["metadata"]["tenant_id"] == "acme"
    finally:
        cl.tracker.close()


def test_the_event_after_the_hook_carries_the_bound_tenant(cost_logger: CostHooksLogger) -> None:
    # The proxy's success event carries the request metadata the hook changed; the client's
    # own tenant key ("tenant") and the proxy's snapshot of it agree with the binding.
    metadata = {"tenant": "acme", "requester_metadata": {"tenant": "acme"}, "feature": "faq"}
    data = _hook(cost_logger, _auth({"tenant_id": "acme"}), metadata)
    merged = _metadata_of({"litellm_params": {"metadata": data["metadata"]}})
    assert merged["tenant_id"] == merged["tenant"] == "acme"


def test_the_semantic_cache_partitions_by_the_bound_tenant() -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
    proxy = {"user_api_key_hash": "h", "user_api_key_metadata": {"tenant_id": "acme"}}
    claimed = cache._scope({"metadata": {**proxy, "cache_tenant": "globex"}})
    honest = cache._scope({"metadata": dict(proxy)})
    assert claimed.tenant == honest.tenant
    assert "acme" in str(honest.tenant) and "globex" not in str(claimed.tenant)


def test_litellms_own_cache_namespace_follows_the_bound_tenant(
    cost_logger: CostHooksLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm

    monkeypatch.setattr(litellm, "cache", litellm.Cache(type="local"))
    named = _hook(cost_logger, _auth({"tenant_id": "acme"}), {"tenant_id": "acme"})
    unnamed = _hook(cost_logger, _auth({"tenant_id": "acme"}), {})
    assert named["cache"]["namespace"] == unnamed["cache"]["namespace"]


def test_a_refused_unbound_request_is_not_recorded_under_the_tenant_it_named() -> None:
    cl = CostHooksLogger(ledger="memory://", require_bound_tenant=True)
    try:
        metadata = {"tenant_id": "globex", "requester_metadata": {"tenant_id": "globex"}, "feature": "f"}
        with pytest.raises(TenantRefused):
            _hook(cl, _auth(), metadata)
        assert cl.flush()
        (record,) = cl.tracker.ledger.records()
        assert record.tenant is None and record.feature == "f" and record.cost_usd == 0
    finally:
        cl.tracker.close()
