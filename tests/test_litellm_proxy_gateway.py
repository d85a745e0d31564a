"""The real LiteLLM proxy (``litellm --config``, the shipped config and callback) as a
gateway team runs it: LiteLLM's own response cache on, router retries and a fallback,
driven with the OpenAI client and httpx. Each request leaves one record with the
deployment's model, its price, tokens and tenant: streamed (with and without
``include_usage``), cut off by the client, 50 at once, served from the cache (never
another tenant's answer), or answered by the fallback after the first model failed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx  # both come with litellm
import openai
import pytest
import yaml
from test_litellm_proxy import INTEGRATION, start_proxy

from llm_cost_hooks import CacheStatus, PriceBook, TokenUsage
from llm_cost_hooks.ledger import open_ledger


class _Upstream(BaseHTTPRequestHandler):
    """``/slow``: 40 streamed words, 0.1 s apart (a client can leave mid-stream);
    ``/down``: every request is a 500."""

    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {"slow": 0, "down": 0}  # noqa: RUF012 - shared by the handler threads

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/down"):
            self.hits["down"] += 1
            body = json.dumps({"error": {"message": "upstream down", "type": "server_error"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.hits["slow"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": "chatcmpl-slow",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "gpt-4o-mini",
        }
        try:
            for i in range(40):
                delta = {"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}
                self.wfile.write(f"data: {json.dumps({**base, 'choices': [delta]})}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:  # the proxy hung up: the client left
            pass
        self.close_connection = True


@pytest.fixture(scope="module")
def upstream() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, openai_stub_server: Any, upstream: str) -> Any:
    workdir = tmp_path_factory.mktemp("litellm-proxy-gateway")
    config = yaml.safe_load((INTEGRATION / "config.yaml").read_text())
    config["model_list"] += [
        {
            "model_name": "slow-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-fake",
                "api_base": f"{upstream}/slow",
            },
        },
        {
            "model_name": "flaky-4o",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_key": "sk-fake",
                "api_base": f"{upstream}/down",
            },
        },
    ]
    config["router_settings"] = {
        "num_retries": 1,
        "retry_after": 0,
        "fallbacks": [{"flaky-4o": ["gpt-4o-mini"]}],
    }
    # LiteLLM's own response cache, in the proxy's memory.
    config["litellm_settings"].update({"cache": True, "cache_params": {"type": "local"}})
    ledger = workdir / "ledger.db"
    env = {"LLM_COST_HOOKS_LEDGER": f"sqlite:///{ledger}", "OPENAI_API_BASE": openai_stub_server.base}
    proc, port, key = start_proxy(workdir, config, env)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "key": key, "ledger": ledger}
    finally:
        proc.stop()


def client(gateway: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway["base"] + "/v1", api_key=gateway["key"], max_retries=0)


def records(
    ledger: Path, prefix: str, want: int = 1, timeout: float = 20.0, settle: float = 0.0
) -> list[Any]:
    """The records whose task id starts with ``prefix``, once ``want`` are there (then
    ``settle`` s more, so that an extra record would show)."""
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        led = open_ledger(f"sqlite:///{ledger}")
        try:
            found = [r for r in led.records() if (r.task_id or "").startswith(prefix)]
        finally:
            led.close()
        if len(found) >= want:
            if settle <= 0:
                break
            time.sleep(settle)
            settle = 0
            continue
        time.sleep(0.2)
    return found


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    return PriceBook.default().cost(TokenUsage(input_tokens=tokens_in, output_tokens=tokens_out), model).total


@pytest.mark.parametrize("include_usage", [False, True])
def test_streamed_request_records_the_upstream_usage(gateway: dict[str, Any], include_usage: bool) -> None:
    task = f"stream-{include_usage}-{uuid.uuid4().hex[:6]}"
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client(gateway).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "s" * 200 + task}],
            max_tokens=12,
            stream=True,
            extra_body={"metadata": {"tenant_id": "acme", "task_id": task}},
            **extra,  # type: ignore[arg-type]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    [rec] = records(gateway["ledger"], task, settle=1.0)
    prompt = (200 + len(task)) // 4 + 7  # the stub's usage: characters // 4 + 7, max_tokens out
    assert (rec.tenant, rec.model, rec.input_tokens, rec.output_tokens) == ("acme", "gpt-4o-mini", prompt, 12)
    assert rec.cost_usd == pytest.approx(price("gpt-4o-mini", prompt, 12))


def test_client_leaving_mid_stream_leaves_one_record_of_what_was_sent(gateway: dict[str, Any]) -> None:
    task = "left-" + uuid.uuid4().hex[:6]
    body = {
        "model": "slow-mini",
        "messages": [{"role": "user", "content": "a long story, please"}],
        "stream": True,
        "metadata": {"tenant_id": "acme", "task_id": task},
    }
    read = 0
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST",
            gateway["base"] + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {gateway['key']}"},
        ) as resp,
    ):
        for line in resp.iter_lines():
            read += line.startswith("data: {")
            if read == 4:
                break
    [rec] = records(gateway["ledger"], task, settle=1.0)
    assert rec.tenant == "acme" and rec.model == "gpt-4o-mini" and rec.input_tokens > 0
    # Some words went out (at least the 4 read, "wN " is 2 tokens), far from the 40 upstream.
    assert 4 <= rec.output_tokens < 60
    assert rec.cost_usd == pytest.approx(price("gpt-4o-mini", rec.input_tokens, rec.output_tokens))


def test_fifty_concurrent_requests_leave_fifty_records(gateway: dict[str, Any]) -> None:
    run = "many-" + uuid.uuid4().hex[:6]

    async def one(http: httpx.AsyncClient, i: int) -> int:
        resp = await http.post(
            gateway["base"] + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {gateway['key']}"},
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": f"{run} question {i}"}],
                "metadata": {"tenant_id": f"t{i % 5}", "task_id": f"{run}-{i}"},
            },
        )
        return resp.status_code

    async def all_of_them() -> list[int]:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=50)) as http:
            return await asyncio.gather(*(one(http, i) for i in range(50)))

    assert asyncio.run(all_of_them()) == [200] * 50
    recs = records(gateway["ledger"], run, want=50, timeout=60, settle=1.0)
    assert sorted(r.task_id for r in recs) == sorted(f"{run}-{i}" for i in range(50))
    assert all(r.success and r.tenant == f"t{int(r.task_id.rsplit('-', 1)[1]) % 5}" for r in recs)


def test_litellm_cache_hit_is_recorded_and_never_crosses_tenants(
    gateway: dict[str, Any], openai_stub_server: Any
) -> None:
    question = f"What is the refund window for order {uuid.uuid4().hex[:6]}?"
    before = openai_stub_server.stats()["chat"]
    run = "cache-" + uuid.uuid4().hex[:6]
    for i, tenant in enumerate(["tenant-a", "tenant-b", "tenant-a", "tenant-b"]):
        client(gateway).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            max_tokens=9,
            extra_body={"metadata": {"tenant_id": tenant, "task_id": f"{run}-{i}"}},
        )
        records(gateway["ledger"], f"{run}-{i}")  # in order: the next one may be its hit
    assert openai_stub_server.stats()["chat"] - before == 2  # one model call per tenant
    recs = sorted(records(gateway["ledger"], run, want=4, settle=1.0), key=lambda r: r.task_id)
    assert [(r.tenant, r.cache_status) for r in recs] == [
        ("tenant-a", CacheStatus.MISS),
        ("tenant-b", CacheStatus.MISS),
        ("tenant-a", CacheStatus.EXACT),
        ("tenant-b", CacheStatus.EXACT),
    ]
    for miss, hit in ((recs[0], recs[2]), (recs[1], recs[3])):
        assert hit.cost_usd == 0 and hit.saved_usd == pytest.approx(miss.cost_usd) and miss.cost_usd > 0


def test_fallback_records_each_attempt_and_prices_the_fallback_model(gateway: dict[str, Any]) -> None:
    task = "fallback-" + uuid.uuid4().hex[:6]
    before = _Upstream.hits["down"]
    answer = client(gateway).chat.completions.create(
        model="flaky-4o",
        messages=[{"role": "user", "content": "f" * 200}],
        max_tokens=9,
        extra_body={"metadata": {"tenant_id": "acme", "task_id": task}},
    )
    assert answer.model == "gpt-4o-mini"
    reached = _Upstream.hits["down"] - before  # num_retries: 1, so 2 attempts of flaky-4o
    recs = sorted(records(gateway["ledger"], task, want=reached + 1, settle=2.0), key=lambda r: r.attempt)
    assert [(r.model, r.success) for r in recs] == [("gpt-4o", False)] * reached + [("gpt-4o-mini", True)]
    assert len({r.task_id for r in recs}) == 1  # one task in the rollup
    fallback = recs[-1]
    prompt = 200 // 4 + 7
    assert (fallback.input_tokens, fallback.output_tokens) == (prompt, 9)
    assert fallback.cost_usd == pytest.approx(price("gpt-4o-mini", prompt, 9))
    assert "cost_mismatch" not in fallback.tags


def test_openai_user_field_is_the_records_user(gateway: dict[str, Any]) -> None:
    run = "user-" + uuid.uuid4().hex[:6]
    ask = client(gateway).chat.completions.create
    hello = [{"role": "user", "content": "hello"}]
    ask(
        model="gpt-4o-mini",
        messages=hello,
        max_tokens=3,
        user="globex-7",
        extra_body={"metadata": {"task_id": f"{run}-1"}},
    )  # type: ignore[arg-type]
    ask(
        model="gpt-4o-mini",
        messages=hello,
        max_tokens=3,
        extra_body={"metadata": {"task_id": f"{run}-2", "user_id": "globex-7"}},
    )  # type: ignore[arg-type]
    by_field, by_metadata = sorted(records(gateway["ledger"], run, want=2), key=lambda r: r.task_id)
    assert by_field.user is not None and by_field.user != "globex-7"  # hashed, as from metadata
    assert by_field.user == by_metadata.user
