"""Behind the LiteLLM proxy, a client writes ``metadata.tenant_id`` itself: naming another
caller's tenant must not reach that caller's entries in LiteLLM's own cache."""

from __future__ import annotations

from typing import Any

import litellm
import pytest

from llm_cost_hooks.litellm._hooks import _namespace_litellm_cache


@pytest.fixture
def litellm_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litellm, "cache", litellm.Cache(type="local"))


def _namespace(tenant: Any, **identity: str) -> str:
    data: dict[str, Any] = {"metadata": {"tenant_id": tenant, **identity}}
    _namespace_litellm_cache(data)
    return str(data["cache"]["namespace"])


def test_a_caller_naming_another_callers_tenant_gets_another_namespace(litellm_cache: None) -> None:
    victim = _namespace("acme", user_api_key_hash="hash-of-acme-key", user_api_key_team_id="team-acme")
    attacker = _namespace("acme", user_api_key_hash="hash-of-other-key", user_api_key_team_id="team-other")
    assert victim != attacker
    # The same caller and tenant keep one namespace (hits still work).
    assert victim == _namespace(
        "acme", user_api_key_hash="hash-of-acme-key", user_api_key_team_id="team-acme"
    )


def test_outside_the_proxy_the_tenant_namespace_is_unchanged(litellm_cache: None) -> None:
    import hashlib

    assert _namespace("acme") == "tenant-" + hashlib.sha256(b"acme").hexdigest()[:16]
    assert _namespace("acme") != _namespace("acme2")
