"""CostHooksLogger: real litellm.completion / acompletion calls (mock responses with
realistic usage, and the local OpenAI-compatible stub) priced, attributed and checked
against LiteLLM's own response_cost."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from typing import Any

import pytest

from llm_cost_hooks import CacheStatus, PriceBook

MSG = [{"role": "user", "content": "What is the capital of Freedonia?"}]
ATTR = {"tenant_id": "acme", "feature": "faq", "route": "/ask", "prompt_version": "v3", "task_id": "task-42"}


def mock(
    litellm: Any,
    *,
    model: str = "gpt-4o-mini",
    text: str = "Fredville.",
    prompt: int = 1200,
    completion: int = 300,
    cached: int = 0,
    reasoning: int = 0,
    cache_write: int | None = None,
) -> Any:
    """A ModelResponse with the usage a real provider would report."""
    from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

    if cache_write is not None:  # Anthropic style: cache read/creation fields
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            cache_creation_input_tokens=cache_write,
            cache_read_input_tokens=cached,
        )
    else:
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=cached),
            completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=reasoning),
        )
    return litellm.ModelResponse(
        model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        usage=usage,
    )


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    # Sync success events run on LiteLLM's logging thread pool: wait for them.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for LiteLLM's logging thread")
        time.sleep(0.02)


@pytest.fixture
def cost_logger(litellm_clean: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    yield cl
    cl.flush()


def records_for(cl: Any, n: int) -> list[Any]:
    wait_for(lambda: len(cl.records()) >= n)
    return cl.records()


def test_sync_completion_is_priced_attributed_and_matches_litellm(
    litellm_clean: Any, cost_logger: Any
) -> None:
    resp = litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        metadata=ATTR,
        mock_response=mock(litellm_clean, cached=1000, reasoning=100),
    )
    [rec] = records_for(cost_logger, 1)
    call_id = resp._hidden_params["litellm_call_id"]
    assert rec.request_id == call_id
    assert (rec.tenant, rec.feature, rec.route, rec.prompt_version, rec.task_id) == (
        "acme",
        "faq",
        "/ask",
        "v3",
        "task-42",
    )
    assert (rec.model, rec.provider) == ("gpt-4o-mini", "openai")
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens, rec.reasoning_tokens) == (
        1200,
        300,
        1000,
        100,
    )
    assert rec.success and not rec.tokens_estimated
    # Provider prefix-cache reads are a saving the core tracker records as such.
    assert rec.cache_status is CacheStatus.PROVIDER_PREFIX and rec.saved_usd > 0
    # Our price book and LiteLLM agree on this call, to the cent-fraction.
    litellm_cost = resp._hidden_params["response_cost"]
    assert rec.cost_usd == pytest.approx(litellm_cost, rel=1e-9)
    expected = PriceBook.default().cost(rec.usage, "gpt-4o-mini").total
    assert rec.cost_usd == pytest.approx(expected)
    assert rec.cost_breakdown.cache_read > 0
    [cmp] = list(cost_logger.comparisons)
    assert cmp.matched is True and cmp.request_id == call_id
    assert "cost_mismatch" not in rec.tags
    assert rec.latency_ms is not None and rec.latency_ms >= 0


@pytest.mark.parametrize(
    ("model", "usage"),
    [
        ("gpt-4o", {"cached": 2048, "prompt": 5000, "completion": 700}),
        ("o3-mini", {"prompt": 800, "completion": 2000, "reasoning": 1500}),
        ("claude-haiku-4-5", {"prompt": 3000, "completion": 400, "cached": 1000, "cache_write": 1500}),
        ("claude-sonnet-4-5", {"prompt": 12000, "completion": 900, "cached": 10000, "cache_write": 0}),
        ("gemini/gemini-2.5-flash", {"prompt": 4000, "completion": 500, "cached": 0, "reasoning": 200}),
    ],
)
def test_ledger_matches_litellm_response_cost_per_call(
    litellm_clean: Any, cost_logger: Any, model: str, usage: dict[str, int]
) -> None:
    resp = litellm_clean.completion(
        model=model, messages=MSG, api_key="sk-test", mock_response=mock(litellm_clean, model=model, **usage)
    )
    [rec] = records_for(cost_logger, 1)
    assert rec.cost_usd > 0
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert rec.cache_write_tokens == usage.get("cache_write", 0) or 0
    assert cost_logger.cost_checks["mismatched"] == 0


def test_streaming_usage_from_the_complete_streamed_response(litellm_clean: Any, cost_logger: Any) -> None:
    stream = litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        stream=True,
        stream_options={"include_usage": True},
        metadata=ATTR,
        mock_response=mock(litellm_clean, text="Fredville is the capital.", cached=1000, reasoning=50),
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    [rec] = records_for(cost_logger, 1)
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens, rec.reasoning_tokens) == (
        1200,
        300,
        1000,
        50,
    )
    assert rec.tenant == "acme"
    [cmp] = list(cost_logger.comparisons)
    assert cmp.matched is True


def test_streaming_against_an_http_server_records_provider_usage(
    litellm_clean: Any, cost_logger: Any, openai_stub: Any
) -> None:
    content = "x" * 400  # stub usage: 400 // 4 + 7 = 107 prompt tokens; max_tokens completion tokens
    stream = litellm_clean.completion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=[{"role": "user", "content": content}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        metadata={"tenant_id": "beta"},
    )
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.strip()
    [rec] = records_for(cost_logger, 1)
    assert (rec.input_tokens, rec.output_tokens) == (107, 12)
    assert rec.tenant == "beta"
    assert rec.cost_usd == pytest.approx(PriceBook.default().cost(rec.usage, "gpt-4o-mini").total)
    assert cost_logger.comparisons[-1].matched is True


async def test_acompletion_and_async_stream(litellm_clean: Any, cost_logger: Any) -> None:
    r1 = await litellm_clean.acompletion(
        model="gpt-4o-mini",
        messages=MSG,
        metadata={**ATTR, "task_id": "t-a"},
        mock_response=mock(litellm_clean, cached=600),
    )
    stream = await litellm_clean.acompletion(
        model="gpt-4o-mini",
        messages=MSG,
        stream=True,
        stream_options={"include_usage": True},
        metadata={"tenant_id": "acme", "task_id": "t-b"},
        mock_response=mock(litellm_clean, prompt=50, completion=20),
    )
    async for _ in stream:
        pass

    def mine() -> dict[str, Any]:
        # Only this test's calls (a late event of an earlier test may reach the logger too).
        return {r.task_id: r for r in cost_logger.records() if r.task_id in ("t-a", "t-b")}

    for _ in range(200):
        if len(mine()) >= 2:
            break
        await asyncio.sleep(0.02)
    recs = mine()
    assert set(recs) == {"t-a", "t-b"}
    assert recs["t-a"].request_id == r1._hidden_params["litellm_call_id"]
    assert recs["t-a"].cost_usd == pytest.approx(r1._hidden_params["response_cost"], rel=1e-9)
    assert (recs["t-b"].input_tokens, recs["t-b"].output_tokens) == (50, 20)
    assert all(
        c.matched for c in cost_logger.comparisons if c.request_id in {r.request_id for r in recs.values()}
    )


def test_failure_is_recorded_and_the_error_reaches_the_caller(litellm_clean: Any, cost_logger: Any) -> None:
    with pytest.raises(litellm_clean.RateLimitError):
        litellm_clean.completion(
            model="gpt-4o-mini", messages=MSG, metadata=ATTR, mock_response="litellm.RateLimitError"
        )
    [rec] = records_for(cost_logger, 1)
    assert not rec.success
    assert rec.error_type == "RateLimitError"
    assert rec.tenant == "acme" and rec.feature == "faq"
    assert rec.output_tokens == 0


async def test_async_failure_is_recorded(litellm_clean: Any, cost_logger: Any) -> None:
    with pytest.raises(litellm_clean.InternalServerError):
        await litellm_clean.acompletion(
            model="gpt-4o-mini", messages=MSG, metadata=ATTR, mock_response="litellm.InternalServerError"
        )
    for _ in range(200):
        if [r for r in cost_logger.records() if r.task_id == "task-42"]:
            break
        await asyncio.sleep(0.02)
    [rec] = [r for r in cost_logger.records() if r.task_id == "task-42"]
    assert not rec.success and rec.error_type == "InternalServerError"


def test_litellm_level_retries_are_numbered_attempts(litellm_clean: Any, cost_logger: Any) -> None:
    # LiteLLM re-dispatches the same call id for each retry: every attempt after the first
    # is an attempt > 1 of that call; nothing is left open once the call ends.
    with pytest.raises(litellm_clean.InternalServerError):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            metadata=ATTR,
            num_retries=2,
            mock_response="litellm.InternalServerError",
        )
    wait_for(lambda: len(cost_logger.records()) >= 1)
    time.sleep(0.3)
    recs = cost_logger.records()
    assert all(not r.success for r in recs)
    assert max(r.attempt for r in recs) >= 2
    ids = {r.request_id for r in recs}
    assert len(ids) == len(recs)  # one ledger row per reported attempt, none overwritten


def test_provider_sdk_retries_against_a_flaky_server(
    litellm_clean: Any, cost_logger: Any, openai_stub: Any
) -> None:
    openai_stub.control(fail_next=2)
    resp = litellm_clean.completion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=5,
        num_retries=3,
        metadata={"tenant_id": "acme"},
    )
    [rec] = records_for(cost_logger, 1)
    assert openai_stub.stats()["chat"] == 3  # two 500s, then the answer
    assert rec.success and rec.output_tokens == 5
    assert rec.request_id == resp._hidden_params["litellm_call_id"]


def test_cost_disagreement_is_tagged_and_logged(litellm_clean: Any, caplog: pytest.LogCaptureFixture) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    # A negotiated price: ours differs from LiteLLM's list price on purpose.
    book = PriceBook(overrides={"gpt-4o-mini": {"input_per_million": 0.10, "output_per_million": 0.40}})
    cl = CostHooksLogger(ledger="memory://", price_book=book)
    litellm_clean.callbacks = [cl]
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        resp = litellm_clean.completion(model="gpt-4o-mini", messages=MSG, mock_response=mock(litellm_clean))
        [rec] = records_for(cl, 1)
    theirs = resp._hidden_params["response_cost"]
    assert rec.cost_usd == pytest.approx(1200 * 0.10e-6 + 300 * 0.40e-6)
    assert rec.tags["cost_mismatch"] == "true"
    assert float(rec.tags["litellm_cost_usd"]) == pytest.approx(theirs)
    assert cl.cost_checks["mismatched"] == 1
    assert "differs from LiteLLM's response_cost" in caplog.text


def test_litellm_cache_hit_is_recorded_as_a_saving(litellm_clean: Any, cost_logger: Any) -> None:
    from litellm.caching.caching import Cache

    litellm_clean.cache = Cache(type="local")
    kw = dict(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "cache me please"}],
        mock_response=mock(litellm_clean, prompt=1000, completion=100),
        caching=True,
        metadata={"tenant_id": "acme"},
    )
    litellm_clean.completion(**kw)
    wait_for(lambda: len(cost_logger.records()) >= 1)
    litellm_clean.completion(**kw)
    recs = records_for(cost_logger, 2)
    miss, hit = sorted(recs, key=lambda r: r.timestamp)
    assert miss.cache_status is CacheStatus.MISS and miss.cost_usd > 0
    assert hit.cache_status is CacheStatus.EXACT
    assert hit.cost_usd == 0 and hit.saved_usd == pytest.approx(miss.cost_usd)


def test_spans_and_metrics_from_the_same_observer(litellm_clean: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.litellm import CostHooksLogger
    from llm_cost_hooks.telemetry import OTelObserver

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    cl = CostHooksLogger(ledger="memory://", observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)])
    litellm_clean.callbacks = [cl]
    resp = litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        metadata=ATTR,
        temperature=0.2,
        mock_response=mock(litellm_clean, cached=1000),
    )
    [rec] = records_for(cl, 1)
    wait_for(lambda: len(exporter.get_finished_spans()) >= 1)
    [span] = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == 1200
    assert attrs["gen_ai.response.id"] == resp.id
    assert any(v == "acme" for k, v in attrs.items() if "tenant" in k)
    cost_attrs = [v for k, v in attrs.items() if "cost" in k and isinstance(v, float)]
    assert pytest.approx(rec.cost_usd) in cost_attrs
    names = set()
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            names.update(m.name for m in sm.metrics)
    assert "llm_cost_hooks.cost" in names


def test_batch_and_file_calls_are_not_recorded_as_model_calls(
    litellm_clean: Any, cost_logger: Any, openai_stub: Any
) -> None:
    f = litellm_clean.create_file(
        file=(
            "in.jsonl",
            b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}}\n',
        ),
        purpose="batch",
        custom_llm_provider="openai",
        api_base=openai_stub.base,
        api_key="sk-test",
    )
    assert f.id.startswith("file-")
    time.sleep(0.3)
    assert cost_logger.records() == []
    assert cost_logger.tracker.open_runs == 0


def test_import_llm_cost_hooks_does_not_import_litellm() -> None:
    code = (
        "import sys, llm_cost_hooks, llm_cost_hooks.litellm, llm_cost_hooks.batch; "
        "assert 'litellm' not in sys.modules, 'litellm imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_flush_waits_for_litellms_logging_thread(litellm_clean: Any, cost_logger: Any) -> None:
    for i in range(20):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=mock(litellm_clean),
            metadata={"task_id": f"f-{i}"},
        )
    assert cost_logger.flush() is True
    assert len([r for r in cost_logger.records() if (r.task_id or "").startswith("f-")]) == 20
    assert cost_logger.tracker.open_runs == 0


def test_install_and_uninstall(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, install, uninstall

    cl = install(ledger="memory://")
    assert isinstance(cl, CostHooksLogger) and cl in litellm_clean.callbacks
    litellm_clean.completion(model="gpt-4o-mini", messages=MSG, mock_response="hi")
    uninstall(cl)
    assert len(cl.records()) == 1
    assert not any(isinstance(c, CostHooksLogger) for c in litellm_clean.callbacks)
    litellm_clean.completion(model="gpt-4o-mini", messages=MSG, mock_response="hi")
    time.sleep(0.3)
    assert len(cl.records()) == 1


def test_stream_without_include_usage_is_counted_and_flagged_estimated(
    litellm_clean: Any, cost_logger: Any, openai_stub: Any
) -> None:
    # Without stream_options={"include_usage": True} the provider sends no counts.
    stream = litellm_clean.completion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=[{"role": "user", "content": "x" * 400}],
        max_tokens=12,
        stream=True,
        metadata={"tenant_id": "beta"},
    )
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.strip()
    [rec] = records_for(cost_logger, 1)
    assert rec.tokens_estimated is True
    assert rec.input_tokens > 0 and rec.output_tokens > 0
    assert rec.cost_usd == pytest.approx(PriceBook.default().cost(rec.usage, "gpt-4o-mini").total)
