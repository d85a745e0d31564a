"""The real LiteLLM proxy (``litellm --config``) on loopback, loading the logger from
integrations/litellm-proxy/: one request end to end lands in the ledger with the
attribution from the request's metadata."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from _servers import ServerStartError, free_port, start_process

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.ledger import open_ledger

INTEGRATION = Path(__file__).resolve().parent.parent / "integrations" / "litellm-proxy"


def http_ready(port: int) -> Any:
    def check() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=1) as r:
            return r.status == 200

    return check


@pytest.fixture(scope="module")
def anthropic_endpoint() -> Any:
    from test_prompt_cache_litellm import AnthropicCapture

    capture = AnthropicCapture([{"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 2900}])
    yield capture
    capture.close()


# The proxy imports most of LiteLLM before it listens: ~120 s on a 2-core machine under
# load (16 runnable processes) where 90 s was once too short. Being slow to start is no
# fault of ours; a proxy that never starts still fails the test.
PROXY_START_TIMEOUT = 300.0


def start_proxy(
    workdir: Path, config: dict[str, Any], env: dict[str, str], *, timeout: float = PROXY_START_TIMEOUT
) -> tuple[Any, int, str]:
    """``litellm --config`` with ``config`` and the shipped callback module in ``workdir``,
    on loopback, ready: ``(process, port, master key)``. A test failure if it cannot start."""
    litellm_cli = Path(sys.executable).with_name("litellm")
    if not litellm_cli.exists():
        pytest.fail("the `litellm` CLI is missing: pip install 'litellm[proxy]'", pytrace=False)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.copy(INTEGRATION / "cost_hooks_callback.py", workdir / "cost_hooks_callback.py")
    key = "sk-" + secrets.token_hex(32)
    port = free_port()
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": key,
        "OPENAI_API_KEY": "sk-upstream-test",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "PYTHONPATH": str(INTEGRATION.parent.parent),  # the checkout under test, not an installed copy
        **env,
    }
    error = ""
    proc = None
    try:
        proc = start_process(
            [
                str(litellm_cli),
                "--config",
                str(workdir / "config.yaml"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            http_ready(port),
            env=env,
            timeout=timeout,
            cwd=str(workdir),
        )
    except ServerStartError as exc:
        error = str(exc)
    if error or proc is None:
        pytest.fail(f"cannot start the LiteLLM proxy: {error}", pytrace=False)
    return proc, port, key


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, openai_stub_server: Any, anthropic_endpoint: Any) -> Any:
    workdir = tmp_path_factory.mktemp("litellm-proxy")
    # The shipped config, plus one model answered by LiteLLM's mock_response.
    config = yaml.safe_load((INTEGRATION / "config.yaml").read_text())
    config["model_list"].append(
        {
            "model_name": "mock-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-fake",
                "mock_response": "Hello from the mock",
            },
        }
    )
    # A Claude model answered by a local Anthropic-format endpoint that keeps the bodies.
    config["model_list"].append(
        {
            "model_name": "claude-local",
            "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_key": "sk-ant-test",
                "api_base": anthropic_endpoint.base,
            },
        }
    )
    ledger = workdir / "ledger.db"
    env = {
        "LLM_COST_HOOKS_LEDGER": f"sqlite:///{ledger}",
        "OPENAI_API_BASE": openai_stub_server.base,  # the "real" model goes to the local stub
        # A budget only for route /budgeted (other tests' requests are not limited).
        "LLM_COST_HOOKS_PROXY_LIMITS": json.dumps(
            [{"metric": "usd", "amount": 0.00002, "period": "day", "scope": "tenant", "route": "/budgeted"}]
        ),
    }
    proc, port, key = start_proxy(workdir, config, env)
    try:
        yield {"port": port, "key": key, "ledger": ledger}
    finally:
        proc.stop()


def post(proxy: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{proxy['port']}/v1/chat/completions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {proxy['key']}"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def wait_record(ledger: Path, request_filter: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.exists():
            led = open_ledger(f"sqlite:///{ledger}")
            try:
                found = [r for r in led.records() if request_filter(r)]
            finally:
                led.close()
            if found:
                return found
        time.sleep(0.2)
    raise AssertionError("the proxy wrote no matching record to the ledger")


def test_proxy_request_lands_in_the_ledger_with_metadata_attribution(proxy: dict[str, Any]) -> None:
    body = post(
        proxy,
        {
            "model": "mock-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "metadata": {
                "tenant_id": "acme",
                "feature": "faq",
                "prompt_version": "v7",
                "task_id": "proxy-task-1",
            },
        },
    )
    assert body["choices"][0]["message"]["content"] == "Hello from the mock"
    [rec] = wait_record(proxy["ledger"], lambda r: r.task_id == "proxy-task-1")
    assert (rec.tenant, rec.feature, rec.prompt_version) == ("acme", "faq", "v7")
    assert (rec.model, rec.provider) == ("gpt-4o-mini", "openai")
    usage = body["usage"]
    assert (rec.input_tokens, rec.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert rec.cost_usd == pytest.approx(PriceBook.default().cost(rec.usage, "gpt-4o-mini").total)
    assert rec.success


def test_proxy_to_an_upstream_server_via_the_shipped_model(
    proxy: dict[str, Any], openai_stub_server: Any
) -> None:
    content = "y" * 200  # stub usage: 200 // 4 + 7 = 57 prompt tokens
    body = post(
        proxy,
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 9,
            "metadata": {"tenant_id": "beta", "task_id": "proxy-task-2"},
        },
    )
    assert body["usage"]["prompt_tokens"] == 57
    [rec] = wait_record(proxy["ledger"], lambda r: r.task_id == "proxy-task-2")
    assert rec.tenant == "beta"
    assert (rec.input_tokens, rec.output_tokens) == (57, 9)
    expected = PriceBook.default().cost(TokenUsage(input_tokens=57, output_tokens=9), "gpt-4o-mini").total
    assert rec.cost_usd == pytest.approx(expected)


def test_proxy_budget_rejects_the_request_that_would_overspend(proxy: dict[str, Any]) -> None:
    import urllib.error

    payload = {
        "model": "mock-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 10,
        "metadata": {"tenant_id": "capped", "route": "/budgeted", "task_id": "budget-1"},
    }
    post(proxy, payload)  # fits: the worst case is ~$0.0000075; the mock call costs $0.0000135
    wait_record(proxy["ledger"], lambda r: r.task_id == "budget-1")
    with pytest.raises(urllib.error.HTTPError) as info:
        post(proxy, {**payload, "metadata": {**payload["metadata"], "task_id": "budget-2"}})
    body = info.value.read().decode()
    assert info.value.code >= 400
    assert "Budget 'usd_per_day_per_tenant@/budgeted' exceeded" in body
    time_limit = time.monotonic() + 2
    while time.monotonic() < time_limit:  # the refused request is recorded once, at no cost
        time.sleep(0.2)
    led = open_ledger(f"sqlite:///{proxy['ledger']}")
    try:
        [refused] = [r for r in led.records() if r.task_id == "budget-2"]
        assert (refused.success, refused.error_type, refused.cost_usd) == (False, "BudgetExceeded", 0.0)
    finally:
        led.close()


def test_proxy_dedup_one_idempotency_key_one_upstream_call(
    proxy: dict[str, Any], openai_stub_server: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from llm_cost_hooks import CacheStatus

    before = openai_stub_server.stats()["chat"]
    payload = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Refund order 991?"}],
        "max_tokens": 7,
    }

    def one(i: int) -> dict[str, Any]:
        return post(
            proxy,
            {
                **payload,
                "metadata": {"tenant_id": "dd", "idempotency_key": "refund-991", "task_id": f"proxy-dd-{i}"},
            },
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        bodies = list(pool.map(one, range(24)))
    assert openai_stub_server.stats()["chat"] - before == 1
    assert len({(b["id"], b["choices"][0]["message"]["content"]) for b in bodies}) == 1
    recs = wait_record(proxy["ledger"], lambda r: (r.task_id or "").startswith("proxy-dd-"))
    deadline = time.monotonic() + 20
    while len(recs) < 24 and time.monotonic() < deadline:
        time.sleep(0.2)
        recs = wait_record(proxy["ledger"], lambda r: (r.task_id or "").startswith("proxy-dd-"))
    statuses = [r.cache_status for r in recs]
    assert len(recs) == 24
    assert statuses.count(CacheStatus.MISS) == 1 and statuses.count(CacheStatus.DEDUPLICATED) == 23
    paid = next(r for r in recs if r.cache_status is CacheStatus.MISS)
    assert all(
        r.cost_usd == 0 and r.saved_usd == pytest.approx(paid.cost_usd)
        for r in recs
        if r.cache_status is CacheStatus.DEDUPLICATED
    )


def test_proxy_trims_to_the_route_context_budget(proxy: dict[str, Any]) -> None:
    from llm_cost_hooks.budget import ContextBudget

    budgets = json.loads(
        yaml.safe_load((INTEGRATION / "config.yaml").read_text())["environment_variables"][
            "LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS"
        ]
    )
    history = [{"role": "system", "content": "You are a support agent."}]
    for i in range(60):
        history += [
            {"role": "user", "content": f"Question {i}: " + "where is my parcel? " * 8},
            {"role": "assistant", "content": f"Answer {i}: " + "it is on its way. " * 8},
        ]
    history.append({"role": "user", "content": "And the refund?"})
    expected = ContextBudget(budgets).apply(history, route="/support", max_tokens=4000, model="gpt-4o-mini")
    body = post(
        proxy,
        {
            "model": "gpt-4o-mini",
            "messages": history,
            "max_tokens": 4000,
            "metadata": {"route": "/support", "task_id": "proxy-trim"},
        },
    )
    # The upstream stub bills exactly max_tokens out and chars // 4 + 7 in: what it got.
    assert body["usage"]["completion_tokens"] == budgets["/support"]["output"]
    assert body["usage"]["prompt_tokens"] == sum(len(m["content"]) for m in expected.messages) // 4 + 7
    [rec] = wait_record(proxy["ledger"], lambda r: r.task_id == "proxy-trim")
    assert rec.tags["budget.trimmed.history"] == str(expected.removed["history"])
    assert int(rec.tags["budget.trimmed.history"]) > 1000


def test_proxy_places_prompt_cache_breakpoints_for_claude(
    proxy: dict[str, Any], anthropic_endpoint: Any
) -> None:
    from test_prompt_cache_litellm import POLICY, cache_marks

    body = post(
        proxy,
        {
            "model": "claude-local",
            "max_tokens": 50,
            "messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}],
            "metadata": {"task_id": "proxy-pc"},
        },
    )
    assert body["choices"][0]["message"]["content"]
    sent = anthropic_endpoint.bodies[-1]
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"} and len(cache_marks(sent)) == 1
    [rec] = wait_record(proxy["ledger"], lambda r: r.task_id == "proxy-pc")
    assert rec.tags["prompt_cache.breakpoints"] == "system"
    price = PriceBook.default().lookup("claude-sonnet-4-5")
    assert rec.cache_read_tokens == 2900
    assert rec.saved_usd == pytest.approx(
        2900 * (price.input_per_token - price.cache_read_per_token), rel=1e-9
    )
