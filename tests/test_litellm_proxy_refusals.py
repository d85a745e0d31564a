"""The real LiteLLM proxy (``litellm --config``, the shipped config and callback) refusing
requests the way LiteLLM refuses its own: driven with the OpenAI client, every refusal
has LiteLLM's status and error body, ``Retry-After`` where waiting helps, and costs
exactly one HTTP request (no client retries, never a 500). The config's cache switch
serves a repeated request without an upstream call."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx  # both come with litellm
import openai
import pytest
import yaml
from _servers import free_port
from test_litellm_proxy import INTEGRATION, start_proxy
from test_litellm_proxy_gateway import records


@pytest.fixture(scope="module")
def refusing_proxy(tmp_path_factory: pytest.TempPathFactory, openai_stub_server: Any) -> Any:
    workdir = tmp_path_factory.mktemp("litellm-proxy-refusals")
    config = yaml.safe_load((INTEGRATION / "config.yaml").read_text())
    config["model_list"] += [
        {
            "model_name": "mock-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-fake",
                "mock_response": "Hello from the mock",
            },
        },
        # Nothing listens there: every call fails, which opens the model's circuit.
        {
            "model_name": "dead-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-fake",
                "api_base": f"http://127.0.0.1:{free_port()}/v1",
            },
        },
    ]
    config["environment_variables"]["LLM_COST_HOOKS_PROXY_CACHE"] = "exact"  # the documented switch
    config["environment_variables"]["LLM_COST_HOOKS_PROXY_CACHE_STORE"] = str(workdir / "cache.db")
    env = {
        "LLM_COST_HOOKS_LEDGER": f"sqlite:///{workdir / 'ledger.db'}",
        "OPENAI_API_BASE": openai_stub_server.base,
        "LLM_COST_HOOKS_PROXY_LIMITS": json.dumps(
            [{"metric": "usd", "amount": 0.00002, "period": "day", "scope": "tenant", "route": "/budgeted"}]
        ),
        "LLM_COST_HOOKS_PROXY_BREAKER": json.dumps({"failure_threshold": 1, "reset_seconds": 120}),
    }
    proc, port, key = start_proxy(workdir, config, env)
    try:
        yield {"port": port, "key": key, "ledger": workdir / "ledger.db"}
    finally:
        proc.stop()


class Client:
    """The OpenAI client with its default retries, counting the HTTP requests it sends."""

    def __init__(self, proxy: dict[str, Any]) -> None:
        self.requests = 0

        def count(request: Any) -> None:
            self.requests += 1

        self.client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{proxy['port']}/v1",
            api_key=proxy["key"],
            http_client=httpx.Client(event_hooks={"request": [count]}, timeout=60),
        )

    def chat(self, model: str, content: str, **kw: Any) -> Any:
        return self.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}], **kw
        )


def test_budget_refusal_is_litellms_budget_error_in_one_request(refusing_proxy: dict[str, Any]) -> None:
    client = Client(refusing_proxy)
    task = "refused-" + uuid.uuid4().hex[:6]
    metadata = {"tenant_id": "capped", "route": "/budgeted", "task_id": task}
    client.chat(
        "mock-mini", "hi", max_tokens=10, extra_body={"metadata": metadata}
    )  # fits, spends the budget
    client.requests = 0
    with pytest.raises(openai.APIStatusError) as info:
        client.chat("mock-mini", "hi", max_tokens=10, extra_body={"metadata": metadata})
    err = info.value
    assert client.requests == 1  # not retried
    assert err.status_code == 422  # litellm.budget_exceeded_status_code, as for its own budgets
    body = err.response.json()["error"]
    assert body["type"] == "budget_exceeded" and body["code"] == "422"
    assert "Budget 'usd_per_day_per_tenant@/budgeted' exceeded" in body["message"]
    assert 0 < int(err.response.headers["retry-after"]) <= 86_400  # the day's reset
    # Both calls are in the ledger: the refused one failed, at no cost (as a refused LangChain call).
    paid, refused = sorted(
        records(refusing_proxy["ledger"], task, want=2, settle=1.0), key=lambda r: r.success
    )[::-1]
    assert paid.success and paid.cost_usd > 0
    assert (refused.success, refused.error_type, refused.cost_usd) == (False, "BudgetExceeded", 0.0)
    assert (refused.input_tokens, refused.output_tokens, refused.tenant) == (0, 0, "capped")
    assert refused.model == paid.model


def test_context_budget_that_cannot_be_met_is_a_400_in_one_request(refusing_proxy: dict[str, Any]) -> None:
    client = Client(refusing_proxy)
    system = (
        "Always answer in the house style, citing the policy. " * 120
    )  # far over the 400-token system budget
    with pytest.raises(openai.BadRequestError) as info:
        client.client.chat.completions.create(
            model="mock-mini",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": "hi"}],
            extra_body={"metadata": {"route": "/support"}},
        )
    assert client.requests == 1
    body = info.value.response.json()["error"]
    assert body["type"] == "invalid_request_error" and body["param"] == "messages" and body["code"] == "400"
    assert "context.system" in body["message"]
    assert "retry-after" not in info.value.response.headers  # waiting does not help


def test_open_circuit_is_a_429_with_retry_after_in_one_request(refusing_proxy: dict[str, Any]) -> None:
    client = Client(refusing_proxy)
    task = "circuit-" + uuid.uuid4().hex[:6]
    metadata = {"extra_body": {"metadata": {"tenant_id": "acme", "task_id": task}}}
    with pytest.raises(openai.APIError):  # the model is down: the first call fails upstream
        client.client.with_options(max_retries=0).chat.completions.create(
            model="dead-mini", messages=[{"role": "user", "content": "hi"}], **metadata
        )
    client.requests = 0
    with pytest.raises(openai.RateLimitError) as info:
        client.chat("dead-mini", "hi again", **metadata)
    assert client.requests == 1
    assert info.value.status_code == 429
    body = info.value.response.json()["error"]
    assert body["type"] == "rate_limit_error" and "Circuit for model 'dead-mini' is open" in body["message"]
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 121
    # Both are in the ledger, once each: the upstream failure, and the refusal at no cost.
    found = records(refusing_proxy["ledger"], task, want=2, settle=1.0)
    [refused] = [r for r in found if r.error_type == "CircuitOpenError"]
    [upstream] = [r for r in found if r is not refused]
    assert not upstream.success and upstream.input_tokens > 0  # the provider was asked
    assert (refused.success, refused.cost_usd, refused.input_tokens, refused.output_tokens) == (
        False,
        0.0,
        0,
        0,
    )
    assert (refused.tenant, refused.model) == ("acme", "gpt-4o-mini")


def test_cache_switch_serves_a_repeated_request_without_an_upstream_call(
    refusing_proxy: dict[str, Any], openai_stub_server: Any
) -> None:
    client = Client(refusing_proxy)
    before = openai_stub_server.stats()["chat"]
    first = client.chat(
        "gpt-4o-mini",
        "What is the refund window?",
        max_tokens=8,
        extra_body={"metadata": {"tenant_id": "cache-t"}},
    )
    second = client.chat(
        "gpt-4o-mini",
        "What is the refund window?",
        max_tokens=8,
        extra_body={"metadata": {"tenant_id": "cache-t"}},
    )
    assert openai_stub_server.stats()["chat"] - before == 1
    assert second.choices[0].message.content == first.choices[0].message.content
