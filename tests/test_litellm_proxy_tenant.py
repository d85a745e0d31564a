"""Behind the real LiteLLM proxy, a tenant the operator binds to a virtual key is the
tenant its requests are charged to: a client holding key A cannot spend tenant B's budget
by naming B in ``metadata.tenant_id``, nor escape A's limit. A key bound to no tenant keeps
the tenant its client writes.

The keys come from a ``custom_auth`` function (LiteLLM's documented hook returning a
``UserAPIKeyAuth``): key and team metadata arrive exactly as keys made at ``/key/generate``
with ``metadata={"tenant_id": ...}`` do, without the proxy's database."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml
from test_litellm_proxy import INTEGRATION, start_proxy

from llm_cost_hooks.ledger import open_ledger

AUTH_MODULE = """
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {
    "sk-tenant-acme": {"metadata": {"tenant_id": "acme"}},
    "sk-tenant-globex": {"metadata": {"tenant_id": "globex"}},
    "sk-team-initech": {"team_id": "team-initech", "team_metadata": {"tenant_id": "initech"}},
    "sk-unbound": {},
}


async def user_api_key_auth(request, api_key):
    if api_key not in KEYS:
        raise Exception("unknown key")
    return UserAPIKeyAuth(api_key=api_key, key_alias=api_key, **KEYS[api_key])
"""

LIMIT_USD = 0.00001  # one request of max_tokens=10 fits, a second one does not


@pytest.fixture(scope="module")
def tenant_proxy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("litellm-proxy-tenant")
    config = yaml.safe_load((INTEGRATION / "config.yaml").read_text())
    config["model_list"].append(
        {
            "model_name": "mock-mini",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-fake", "mock_response": "Hello"},
        }
    )
    config["general_settings"] = {"custom_auth": "tenant_auth.user_api_key_auth"}
    (workdir / "tenant_auth.py").write_text(AUTH_MODULE)
    ledger = workdir / "ledger.db"
    env = {
        "LLM_COST_HOOKS_LEDGER": f"sqlite:///{ledger}",
        "LLM_COST_HOOKS_PROXY_DEDUP": "off",
        "LLM_COST_HOOKS_PROXY_LIMITS": json.dumps(
            [{"metric": "usd", "amount": LIMIT_USD, "period": "day", "scope": "tenant"}]
        ),
    }
    proc, port, _ = start_proxy(workdir, config, env)
    try:
        yield {"port": port, "ledger": ledger}
    finally:
        proc.stop()


def ask(proxy: dict[str, Any], key: str, metadata: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    payload = {
        "model": "mock-mini",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": metadata,
    }
    req = urllib.request.Request(
        f"http://127.0.0.1:{proxy['port']}/v1/chat/completions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def records(proxy: dict[str, Any], feature: str) -> list[Any]:
    import time

    deadline = time.monotonic() + 20
    found: list[Any] = []
    while time.monotonic() < deadline:
        if proxy["ledger"].exists():
            led = open_ledger(f"sqlite:///{proxy['ledger']}")
            try:
                found = [r for r in led.records() if r.feature == feature]
            finally:
                led.close()
        if found:
            return found
        time.sleep(0.2)
    return found


def test_a_key_naming_another_tenant_is_refused_and_charges_nothing_to_it(
    tenant_proxy: dict[str, Any],
) -> None:
    status, body = ask(tenant_proxy, "sk-tenant-acme", {"tenant_id": "globex", "feature": "t-steal"})
    assert status == 403, body
    assert body["error"]["type"] == "permission_error"
    assert "'globex'" in body["error"]["message"]
    # Globex's budget did not move: its own first request still fits under its limit.
    status, body = ask(tenant_proxy, "sk-tenant-globex", {"feature": "t-globex"})
    assert status == 200, body
    (own,) = records(tenant_proxy, "t-globex")
    assert own.tenant == "globex" and own.cost_usd > 0
    # The refusal is recorded for the key's own tenant, at $0.
    (refused,) = records(tenant_proxy, "t-steal")
    assert refused.tenant == "acme" and refused.cost_usd == 0 and refused.error_type


def test_a_bound_keys_spend_counts_against_its_own_tenant(tenant_proxy: dict[str, Any]) -> None:
    # Naming its own tenant is allowed; naming none gives the same tenant.
    status, body = ask(tenant_proxy, "sk-tenant-acme", {"tenant_id": "acme", "feature": "t-acme"})
    assert status == 200, body
    (first,) = records(tenant_proxy, "t-acme")
    assert first.tenant == "acme"
    status, body = ask(tenant_proxy, "sk-tenant-acme", {"feature": "t-acme-2"})
    assert status == 422, body  # acme's limit, not a fresh budget
    assert body["error"]["type"] == "budget_exceeded"
    # A tenant with no spend yet is no way out either.
    status, body = ask(tenant_proxy, "sk-tenant-acme", {"tenant_id": "fresh", "feature": "t-acme-3"})
    assert status == 403, body


def test_a_team_bound_tenant_applies_to_its_keys(tenant_proxy: dict[str, Any]) -> None:
    status, body = ask(tenant_proxy, "sk-team-initech", {"feature": "t-initech"})
    assert status == 200, body
    (rec,) = records(tenant_proxy, "t-initech")
    assert rec.tenant == "initech"
    status, _ = ask(tenant_proxy, "sk-team-initech", {"cache_tenant": "globex", "feature": "t-initech-2"})
    assert status == 403


def test_an_unbound_key_keeps_the_tenant_its_client_writes(tenant_proxy: dict[str, Any]) -> None:
    status, body = ask(tenant_proxy, "sk-unbound", {"tenant_id": "hooli", "feature": "t-unbound"})
    assert status == 200, body
    (rec,) = records(tenant_proxy, "t-unbound")
    assert rec.tenant == "hooli"
