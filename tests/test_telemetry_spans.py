"""OpenTelemetry cost spans and metrics, checked with in-memory exporters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import AttributeLimiter, OTelObserver

QUESTION = "What is the capital of Freedonia-XYZZY?"
ANSWER = "Fredville-PLUGH is the capital."


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    monkeypatch.delenv("LLM_COST_HOOKS_CAPTURE_CONTENT", raising=False)


class OTel:
    """In-memory span exporter and metric reader, and handlers on ``ledger``: ``memory://``
    (no writer thread: spans end on the caller) or SQLite (spans end on the ledger's writer)."""

    def __init__(self, ledger: str = "memory://") -> None:
        self.ledger = ledger
        self.handlers: list[CostCallbackHandler] = []
        self.exporter = InMemorySpanExporter()
        self.tp = TracerProvider()
        self.tp.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.mp = MeterProvider(metric_readers=[self.reader])

    def observer(self, **kwargs: Any) -> OTelObserver:
        return OTelObserver(tracer_provider=self.tp, meter_provider=self.mp, **kwargs)

    def handler(self, observer: OTelObserver | None = None, **kwargs: Any) -> CostCallbackHandler:
        handler = CostCallbackHandler(ledger=self.ledger, observers=[observer or self.observer(**kwargs)])
        self.handlers.append(handler)
        return handler

    def spans(self) -> list[Any]:
        for handler in self.handlers:  # deferred span ends are done when the ledger is flushed
            assert handler.tracker.flush()
        return list(self.exporter.get_finished_spans())

    def by_name(self, name: str) -> list[Any]:
        return [s for s in self.spans() if s.name == name]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        for handler in self.handlers:
            assert handler.tracker.flush()
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        value = p.sum if hasattr(p, "bucket_counts") else p.value
                        out.setdefault(m.name, []).append((dict(p.attributes), value))
        return out


@pytest.fixture(params=["memory", "sqlite"])
def otel(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    o = OTel("memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'ledger.db'}")
    yield o
    for handler in o.handlers:
        handler.tracker.close()


def qa_chain(model: FakeChatModelWithUsage) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "{q}")])
    return prompt | model | StrOutputParser()


def all_strings(spans: list[Any]) -> str:
    """Every attribute and event value of every span, as one string."""
    parts: list[str] = []
    for s in spans:
        parts.extend(str(v) for v in s.attributes.values())
        parts.append(str(s.status.description))
        for e in s.events:
            parts.append(e.name)
            parts.extend(str(v) for v in e.attributes.values())
    return "\n".join(parts)


META = {
    "tenant_id": "acme",
    "feature": "qa",
    "route": "cheap",
    "prompt_version": "v3",
    "cost_tags": {"budget.state": "ok", "team": "search"},
}


def test_plain_call_attribute_set(otel: OTel) -> None:
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=[ANSWER],
        temperature=0.2,
        max_tokens=64,
        cached_fraction=0.5,
        reasoning_tokens=7,
    )
    handler = otel.handler()
    out = qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [handler], "metadata": META})
    assert out == ANSWER
    [record] = handler.records()
    [llm] = otel.by_name("chat gpt-4o-mini")
    a = dict(llm.attributes)
    assert llm.kind is SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.system"] == "openai"  # legacy default vintage
    assert "gen_ai.provider.name" not in a
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.response.id"] == "chatcmpl-fake-1"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    # One source of truth: the span's numbers are the record's.
    assert a["gen_ai.usage.input_tokens"] == record.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens > 7
    assert a["gen_ai.usage.cache_read.input_tokens"] == record.cache_read_tokens > 0
    assert a["gen_ai.usage.reasoning.output_tokens"] == 7
    assert a["gen_ai.usage.cost.amount"] == pytest.approx(record.cost_usd)
    assert a["gen_ai.usage.cost"] == pytest.approx(record.cost_usd)
    assert record.cost_usd > 0
    assert a["gen_ai.usage.cost.currency"] == "USD"
    assert a["gen_ai.usage.cost.source"] == "llm_cost_hooks.price_book"
    assert a["llm_cost_hooks.price_map.version"].startswith(("litellm-", "override:"))
    assert a["llm_cost_hooks.cost.cache_read_usd"] == pytest.approx(record.cost_breakdown.cache_read)
    assert a["llm_cost_hooks.tenant"] == "acme"
    assert a["llm_cost_hooks.feature"] == "qa"
    assert a["llm_cost_hooks.route"] == "cheap"
    assert a["llm_cost_hooks.prompt_version"] == "v3"
    # cached_fraction: the provider served part of the prompt from its prefix cache
    assert a["llm_cost_hooks.cache.status"] == record.cache_status.value
    # the provider's prefix cache saved money: the record's figure, on the span
    assert record.saved_usd > 0
    assert a["llm_cost_hooks.cost.saved_usd"] == pytest.approx(record.saved_usd)
    # absent means false
    assert "llm_cost_hooks.tokens_estimated" not in a and "llm_cost_hooks.price_estimated" not in a
    assert a["llm_cost_hooks.task_id"] == record.task_id
    assert a["llm_cost_hooks.budget.state"] == "ok"
    assert a["llm_cost_hooks.tag.team"] == "search"
    assert "error.type" not in a
    assert llm.status.status_code is StatusCode.UNSET

    m = otel.metrics()
    # a provider prefix-cache read is still a model call: it is timed and its tokens counted
    assert len(m["gen_ai.client.operation.duration"]) == 1
    [(saved_attrs, saved)] = m["llm_cost_hooks.cost.saved"]
    assert saved == pytest.approx(record.saved_usd)
    assert saved_attrs["llm_cost_hooks.cache.status"] == "provider_prefix"
    assert saved_attrs["llm_cost_hooks.tenant"] == "acme" and saved_attrs["llm_cost_hooks.route"] == "cheap"

    [root] = otel.by_name("chain RunnableSequence")
    r = dict(root.attributes)
    assert root.kind is SpanKind.INTERNAL and root.parent is None
    assert r["llm_cost_hooks.task.cost_usd"] == pytest.approx(record.cost_usd)
    assert r["llm_cost_hooks.task.calls"] == 1
    assert r["llm_cost_hooks.task.success"] is True
    assert r["llm_cost_hooks.task.input_tokens"] == record.input_tokens


def test_text_completion_operation(otel: OTel) -> None:
    tracker = CostTracker(ledger="memory://", observers=[otel.observer()])
    tracker.start_llm("r1", None, model="gpt-3.5-turbo-instruct", provider="openai", messages="Say hi")
    tracker.end_llm("r1", TokenUsage(input_tokens=3, output_tokens=2))
    [span] = otel.spans()
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert span.attributes["gen_ai.operation.name"] == "text_completion"


def test_streamed_call(otel: OTel) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = otel.handler()
    chunks = list(qa_chain(model).stream({"q": QUESTION}, config={"callbacks": [handler]}))
    assert "".join(chunks) == ANSWER
    [record] = handler.records()
    [llm] = otel.by_name("chat gpt-4o-mini")
    a = llm.attributes
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.usage.input_tokens"] == record.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens > 0
    assert a["gen_ai.usage.cost.amount"] == pytest.approx(record.cost_usd) and record.cost_usd > 0
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert "llm_cost_hooks.tokens_estimated" not in a
    [root] = otel.by_name("chain RunnableSequence")
    assert llm.parent.span_id == root.context.span_id


def test_estimate_flags(otel: OTel) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER], report_usage=False)
    handler = otel.handler()
    qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [handler]})
    [record] = handler.records()
    a = otel.by_name("chat gpt-4o-mini")[0].attributes
    assert record.tokens_estimated is True
    assert a["llm_cost_hooks.tokens_estimated"] is True
    assert a["gen_ai.usage.input_tokens"] == record.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens > 0
    tracker = CostTracker(ledger="memory://", observers=[otel.observer()])
    tracker.start_llm("r1", None, model="no-such-model-xyz", messages=[])
    tracker.end_llm("r1", TokenUsage(input_tokens=10, output_tokens=1))
    assert otel.by_name("chat no-such-model-xyz")[0].attributes["llm_cost_hooks.price_estimated"] is True


def test_direct_model_call_is_its_own_task(otel: OTel) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = otel.handler()
    model.invoke(QUESTION, config={"callbacks": [handler]})
    [record] = handler.records()
    [span] = otel.spans()
    a = span.attributes
    assert span.parent is None
    assert a["llm_cost_hooks.task.cost_usd"] == pytest.approx(record.cost_usd)
    assert a["llm_cost_hooks.task.calls"] == 1 and a["llm_cost_hooks.task.success"] is True
    assert a["gen_ai.usage.input_tokens"] == record.input_tokens


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"rainy, 14C in {city}"


def build_agent(model: FakeChatModelWithUsage) -> Any:
    bound = model.bind_tools([get_weather])

    def weather_agent(inputs: dict[str, str]) -> str:
        messages: list[Any] = [HumanMessage(inputs["question"])]
        for _ in range(4):
            ai = bound.invoke(messages)
            messages.append(ai)
            if not ai.tool_calls:
                return str(ai.content)
            for call in ai.tool_calls:
                messages.append(get_weather.invoke(call))
        raise RuntimeError("agent did not finish")

    prepare = RunnableLambda(lambda q: {"question": q}, name="prepare")
    return (prepare | RunnableLambda(weather_agent, name="weather_agent")).with_config(
        run_name="support_pipeline"
    )


def test_tool_calling_agent_three_levels(otel: OTel) -> None:
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=[
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
            "It is rainy in Paris.",
        ],
    )
    handler = otel.handler()
    out = build_agent(model).invoke(
        "Weather in Paris?", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    )
    assert out == "It is rainy in Paris."
    records = handler.records()
    assert len(records) == 2

    [pipeline] = otel.by_name("chain support_pipeline")
    [agent] = otel.by_name("invoke_agent weather_agent")
    [tool_span] = otel.by_name("execute_tool get_weather")
    llms = otel.by_name("chat gpt-4o-mini")
    assert len(llms) == 2
    # level 1 -> level 2 -> level 3, one trace
    assert pipeline.parent is None
    assert agent.parent.span_id == pipeline.context.span_id
    assert tool_span.parent.span_id == agent.context.span_id
    assert all(s.parent.span_id == agent.context.span_id for s in llms)
    assert len({s.context.trace_id for s in otel.spans()}) == 1
    assert agent.kind is SpanKind.INTERNAL and tool_span.kind is SpanKind.INTERNAL
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "weather_agent"
    assert tool_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_span.attributes["gen_ai.tool.name"] == "get_weather"
    first, second = sorted(llms, key=lambda s: s.start_time)
    assert tuple(first.attributes["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert tuple(second.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    # the tool ran between the two model calls
    assert first.end_time <= tool_span.start_time and tool_span.end_time <= second.start_time
    total = sum(r.cost_usd for r in records)
    assert pipeline.attributes["llm_cost_hooks.task.cost_usd"] == pytest.approx(total)
    assert pipeline.attributes["llm_cost_hooks.task.calls"] == 2
    assert all(s.attributes["llm_cost_hooks.tenant"] == "acme" for s in otel.spans())


def test_error_call(otel: OTel) -> None:
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", errors=[RuntimeError(f"provider rejected: {QUESTION}")]
    )
    handler = otel.handler()
    with pytest.raises(RuntimeError):
        qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [handler]})
    [record] = handler.records()
    assert record.success is False
    [llm] = otel.by_name("chat gpt-4o-mini")
    assert llm.status.status_code is StatusCode.ERROR
    assert llm.attributes["error.type"] == "RuntimeError"
    assert llm.attributes["gen_ai.usage.input_tokens"] == record.input_tokens > 0
    assert llm.attributes["gen_ai.usage.output_tokens"] == 0
    assert [e.attributes["exception.type"] for e in llm.events] == ["RuntimeError"]
    [root] = otel.by_name("chain RunnableSequence")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["llm_cost_hooks.task.success"] is False
    assert root.attributes["llm_cost_hooks.task.failed_calls"] == 1
    # The exception message quotes the prompt: not recorded without the content opt-in.
    assert "Freedonia" not in all_strings(otel.spans())
    assert otel.metrics()["gen_ai.client.operation.duration"][0][0]["error.type"] == "RuntimeError"


def test_cache_hit_records_savings(otel: OTel) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=[ANSWER], cache=InMemoryCache())
    handler = otel.handler()
    chain = qa_chain(model)
    for _ in range(2):
        assert chain.invoke({"q": QUESTION}, config={"callbacks": [handler]}) == ANSWER
    assert model.call_count == 1
    first, second = handler.records()
    miss, hit = sorted(otel.by_name("chat gpt-4o"), key=lambda s: s.start_time)
    assert miss.attributes["llm_cost_hooks.cache.status"] == "miss"
    assert hit.attributes["llm_cost_hooks.cache.status"] == "exact"
    assert hit.attributes["gen_ai.usage.cost.amount"] == 0.0
    assert (
        hit.attributes["llm_cost_hooks.cost.saved_usd"] == pytest.approx(first.cost_usd)
        and first.cost_usd > 0
    )
    assert second.saved_usd == pytest.approx(first.cost_usd)
    m = otel.metrics()
    [(saved_attrs, saved)] = m["llm_cost_hooks.cost.saved"]
    assert saved == pytest.approx(first.cost_usd)
    assert saved_attrs["llm_cost_hooks.cache.status"] == "exact"
    assert sum(v for _, v in m["llm_cost_hooks.cost"]) == pytest.approx(first.cost_usd)
    # A cache hit is not a model call: one duration sample, not two.
    assert sum(1 for _ in m["gen_ai.client.operation.duration"]) == 1


def test_content_is_off_by_default(otel: OTel) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = otel.handler()
    qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [handler]})
    text = all_strings(otel.spans())
    assert "Freedonia" not in text and "Fredville" not in text
    assert all("gen_ai.input.messages" not in s.attributes for s in otel.spans())


@pytest.mark.parametrize("how", ["argument", "env", "settings"])
def test_content_opt_in(otel: OTel, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "argument":
        observer = otel.observer(capture_content=True)
    elif how == "env":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        observer = otel.observer()
    else:
        from llm_cost_hooks import get_settings

        monkeypatch.setattr(get_settings(), "capture_content", True)
        observer = otel.observer()
    assert observer.capture_content is True
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [otel.handler(observer)]})
    [llm] = otel.by_name("chat gpt-4o-mini")
    inputs = json.loads(llm.attributes["gen_ai.input.messages"])
    outputs = json.loads(llm.attributes["gen_ai.output.messages"])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    assert outputs == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
    ]


def test_env_no_content_beats_settings(otel: OTel, monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_cost_hooks import get_settings

    monkeypatch.setattr(get_settings(), "capture_content", True)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    assert otel.observer().capture_content is False


def _cache_write_call(observer: OTelObserver) -> None:
    tracker = CostTracker(ledger="memory://", observers=[observer])
    tracker.start_llm("r1", None, model="claude-sonnet-4-5", provider="anthropic", messages=[])
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=10, cache_write_tokens=800))


def test_semconv_legacy_names(otel: OTel) -> None:
    _cache_write_call(otel.observer())
    a = otel.spans()[0].attributes
    assert a["gen_ai.system"] == "anthropic"
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 800
    assert "gen_ai.provider.name" not in a and "gen_ai.usage.cache_write.input_tokens" not in a
    m = otel.metrics()
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration", "llm_cost_hooks.cost"} <= set(m)
    assert {attrs["gen_ai.token.type"] for attrs, _ in m["gen_ai.client.token.usage"]} == {"input", "output"}
    assert not any(name.startswith("gen_ai.client.inference") for name in m)


def test_semconv_latest_opt_in(otel: OTel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")
    _cache_write_call(otel.observer())
    a = otel.spans()[0].attributes
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.usage.cache_write.input_tokens"] == 800
    assert "gen_ai.system" not in a and "gen_ai.usage.cache_creation.input_tokens" not in a
    m = otel.metrics()
    assert "gen_ai.client.token.usage" not in m and "gen_ai.client.operation.duration" not in m
    assert m["gen_ai.client.inference.usage.input_tokens"][0][1] == 1000
    assert m["gen_ai.client.inference.usage.cache_write.input_tokens"][0][1] == 800
    assert m["gen_ai.client.inference.usage.input_tokens"][0][0]["gen_ai.token.modality"] == "unknown"
    assert m["gen_ai.client.inference.operation.input_tokens"][0][1] == 1000
    assert "gen_ai.client.inference.duration" in m


def test_metric_attributes_are_bounded(otel: OTel) -> None:
    observer = otel.observer(limiter=AttributeLimiter(max_values=2))
    tracker = CostTracker(ledger="memory://", observers=[observer])
    for i, tenant in enumerate(["a", "b", "c", "d", "a"]):
        tracker.start_llm(
            f"r{i}", None, model="gpt-4o-mini", provider="openai", messages=[], metadata={"tenant_id": tenant}
        )
        tracker.end_llm(f"r{i}", TokenUsage(input_tokens=1000, output_tokens=100))
    cost = otel.metrics()["llm_cost_hooks.cost"]
    by_tenant = {attrs["llm_cost_hooks.tenant"]: value for attrs, value in cost}
    assert set(by_tenant) == {"a", "b", "_other"}
    assert by_tenant["_other"] == pytest.approx(by_tenant["b"] * 2)
    assert by_tenant["a"] == pytest.approx(by_tenant["b"] * 2)
    # spans keep the real value
    assert {s.attributes["llm_cost_hooks.tenant"] for s in otel.spans()} == {"a", "b", "c", "d"}


def test_caller_span_is_parent_sync(otel: OTel) -> None:
    tracer = otel.tp.get_tracer("app")
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    with tracer.start_as_current_span("handle request") as outer:
        qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [otel.handler()]})
    [root] = otel.by_name("chain RunnableSequence")
    assert root.parent.span_id == outer.get_span_context().span_id
    assert root.context.trace_id == outer.get_span_context().trace_id


async def test_concurrent_tasks_keep_their_own_parents(otel: OTel) -> None:
    tracer = otel.tp.get_tracer("app")
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = otel.handler()
    chain = qa_chain(model)

    async def request(i: int) -> int:
        with tracer.start_as_current_span(f"request {i}") as outer:
            await asyncio.sleep(0)
            await chain.ainvoke(
                {"q": QUESTION}, config={"callbacks": [handler], "metadata": {"feature": f"f{i}"}}
            )
            return outer.get_span_context().span_id

    outer_ids = await asyncio.gather(*(request(i) for i in range(6)))
    roots = otel.by_name("chain RunnableSequence")
    assert len(roots) == 6
    for root in roots:
        i = int(root.attributes["llm_cost_hooks.feature"][1:])
        assert root.parent.span_id == outer_ids[i]
    # nothing leaked into the test's own context
    assert not trace.get_current_span().get_span_context().is_valid


def test_fastapi_request_span_is_parent(otel: OTel) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = otel.handler()
    chain = qa_chain(model)
    app = FastAPI()

    @app.get("/ask")
    async def ask(q: str) -> dict[str, str]:
        return {"answer": await chain.ainvoke({"q": q}, config={"callbacks": [handler]})}

    FastAPIInstrumentor.instrument_app(app, tracer_provider=otel.tp, meter_provider=otel.mp)
    try:
        with TestClient(app) as client:
            response = client.get("/ask", params={"q": QUESTION})
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    assert response.json() == {"answer": ANSWER}
    [server] = [s for s in otel.spans() if s.kind is SpanKind.SERVER]
    assert server.name == "GET /ask"
    [root] = otel.by_name("chain RunnableSequence")
    [llm] = otel.by_name("chat gpt-4o-mini")
    assert root.parent.span_id == server.context.span_id
    assert llm.parent.span_id == root.context.span_id
    assert llm.context.trace_id == server.context.trace_id
    assert llm.attributes["gen_ai.usage.cost.amount"] > 0


def test_broken_tracer_never_breaks_the_chain(otel: OTel) -> None:
    class BrokenTracer:
        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("tracer is broken")

    observer = otel.observer()
    observer.tracer = BrokenTracer()  # type: ignore[assignment]
    handler = otel.handler(observer)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    assert qa_chain(model).invoke({"q": QUESTION}, config={"callbacks": [handler]}) == ANSWER
    assert len(handler.records()) == 1
    assert observer.stats.observer_errors >= 4  # three chain starts + the model span


def test_bind_reads_price_book_of_tracker(otel: OTel) -> None:
    from llm_cost_hooks import PriceBook

    book = PriceBook(overrides={"my-llm": {"input_per_million": 1.0, "output_per_million": 2.0}})
    tracker = CostTracker(ledger="memory://", price_book=book)
    observer = otel.observer().bind(tracker)
    assert observer in tracker.observers
    tracker.start_llm("r1", None, model="my-llm", messages=[])
    tracker.end_llm("r1", TokenUsage(input_tokens=1_000_000, output_tokens=0))
    a = otel.spans()[0].attributes
    assert a["llm_cost_hooks.price_map.version"] == book.version and "+overrides-" in book.version
    assert a["gen_ai.usage.cost.amount"] == pytest.approx(1.0)


def test_model_run_with_child_model_runs(otel: OTel) -> None:
    # A router: a model run that delegates to child model runs (CostTracker.end_llm_delegated).
    tracker = CostTracker(ledger="memory://", observers=[otel.observer()])
    tracker.start_llm("router", None, model="auto-router", messages=[])
    tracker.start_llm("child", "router", model="gpt-4o-mini", provider="openai", messages=[])
    child_record = tracker.end_llm("child", TokenUsage(input_tokens=100, output_tokens=10))
    tracker.end_llm_delegated("router")
    [router] = otel.by_name("chat auto-router")
    [child] = otel.by_name("chat gpt-4o-mini")
    assert child.parent.span_id == router.context.span_id
    assert child.attributes["gen_ai.usage.cost.amount"] == pytest.approx(child_record.cost_usd)
    # no double counting: the router's span has no cost of its own, only the task total
    assert "gen_ai.usage.cost.amount" not in router.attributes
    assert router.attributes["llm_cost_hooks.task.cost_usd"] == pytest.approx(child_record.cost_usd)
    assert router.start_time <= child.start_time and child.end_time <= router.end_time


class _SeeAttributesSampler:
    """ALWAYS_ON, remembering the attributes each span was sampled with."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        self.inner = ALWAYS_ON
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self,
        context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> Any:
        self.seen.append(dict(attributes or {}))
        return self.inner.should_sample(context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "see-attributes"


def _one_model_span(tp: TracerProvider, fast: bool) -> tuple[dict[str, Any], OTelObserver]:
    """One chain call through ``tp``: the model span's attributes, and the observer."""
    exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    from llm_cost_hooks.telemetry import _sdk

    observer = OTelObserver(tracer_provider=tp, metrics=False)
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=[ANSWER], cached_fraction=0.5, stop=["\n"]
    )
    shims_were = _sdk.SHIMS_ON
    _sdk.SHIMS_ON = fast  # off: the SDK's public API only
    try:
        qa_chain(model).invoke(
            {"q": QUESTION},
            config={
                "callbacks": [CostCallbackHandler(ledger="memory://", observers=[observer])],
                "metadata": META,
            },
        )
    finally:
        _sdk.SHIMS_ON = shims_were
    [llm] = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o-mini"]
    return dict(llm.attributes), observer


def test_unchecked_attribute_path_equals_public_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import SpanLimits

    def one_call(fast: bool, limits: SpanLimits | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        sampler = _SeeAttributesSampler()
        tp = TracerProvider(sampler=sampler, span_limits=limits)  # type: ignore[arg-type]
        return _one_model_span(tp, fast)[0], sampler.seen

    fast, fast_sampled = one_call(True)
    public, public_sampled = one_call(False)
    volatile = {"llm_cost_hooks.task_id", "gen_ai.response.id"}
    assert {k: v for k, v in fast.items() if k not in volatile} == {
        k: v for k, v in public.items() if k not in volatile
    }
    assert isinstance(fast["gen_ai.response.finish_reasons"], tuple)  # stored as the SDK stores sequences
    assert fast["gen_ai.usage.cost.amount"] > 0 and len(fast) > 20
    # The sampler saw the call's identity (not its numbers) on both paths.
    [sampled] = [a for a in fast_sampled if a.get("gen_ai.operation.name") == "chat"]
    assert sampled["gen_ai.request.model"] == "gpt-4o-mini" and sampled["llm_cost_hooks.tenant"] == "acme"
    strip = lambda seen: [{k: v for k, v in a.items() if k != "llm_cost_hooks.task_id"} for a in seen]  # noqa: E731
    assert "gen_ai.usage.cost.amount" not in sampled and strip(fast_sampled) == strip(public_sampled)
    # With a value length limit the SDK must truncate: the public path is taken.
    limited, _ = one_call(True, SpanLimits(max_span_attribute_length=8))
    assert (
        limited["gen_ai.request.model"] == "gpt-4o-m"
        and len(limited["llm_cost_hooks.price_map.version"]) == 8
    )


class _ThreadOfEnd(SpanProcessor):
    """A span processor noting the thread each span ended on."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}

    def on_end(self, span: Any) -> None:
        import threading

        self.threads[span.name] = threading.current_thread().name


def test_deferred_span_ends_run_on_the_ledger_writer_with_real_times(tmp_path: Any) -> None:
    otel = OTel(f"sqlite:///{tmp_path / 'ledger.db'}")
    where = _ThreadOfEnd()
    otel.tp.add_span_processor(where)
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=[
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
            "It is rainy in Paris.",
        ],
    )
    handler = otel.handler()
    assert handler.tracker._defers_observers()
    build_agent(model).invoke("Weather in Paris?", config={"callbacks": [handler]})
    spans = otel.spans()  # flushes the ledger first
    records = handler.records()
    assert len(records) == 2 and len(spans) == 6  # pipeline, prepare, agent, tool, 2 model calls
    # Every span ended on the ledger's writer thread, not the caller's.
    assert set(where.threads.values()) == {"llm-cost-hooks-SQLiteLedger"}
    # ... with the run's own end time: a model span lasts what its record says, not until
    # the writer got to it (the writer wakes every 50 ms).
    by_start = sorted(otel.by_name("chat gpt-4o-mini"), key=lambda sp: sp.start_time)
    for span, record in zip(by_start, sorted(records, key=lambda r: r.timestamp)):
        assert abs((span.end_time - span.start_time) / 1e6 - record.latency_ms) < 2.0
    [pipeline] = otel.by_name("chain support_pipeline")
    [tool_span] = otel.by_name("execute_tool get_weather")
    assert by_start[0].end_time <= tool_span.start_time and tool_span.end_time <= by_start[1].start_time
    assert by_start[1].end_time <= pipeline.end_time
    # The task's totals were rolled up on the writer before the root span ended.
    assert pipeline.attributes["llm_cost_hooks.task.cost_usd"] == pytest.approx(
        sum(r.cost_usd for r in records)
    )
    assert pipeline.attributes["llm_cost_hooks.task.calls"] == 2
    handler.tracker.close()


def test_non_deferrable_observer_keeps_span_ends_on_the_caller(tmp_path: Any) -> None:
    otel = OTel(f"sqlite:///{tmp_path / 'ledger.db'}")
    where = _ThreadOfEnd()
    otel.tp.add_span_processor(where)
    handler = otel.handler(deferred=False)
    assert not handler.tracker._defers_observers()
    qa_chain(FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])).invoke(
        {"q": QUESTION}, config={"callbacks": [handler]}
    )
    # Ended synchronously: visible before any flush.
    assert {s.name for s in otel.exporter.get_finished_spans()} >= {
        "chat gpt-4o-mini",
        "chain RunnableSequence",
    }
    assert set(where.threads.values()) == {"MainThread"}
    handler.tracker.close()


class _ReadsAttributesOnStart(_ThreadOfEnd):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.seen.append(dict(span.attributes or {}))


def test_bare_start_only_when_nothing_reads_start_attributes() -> None:
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    def one_call(tp: TracerProvider, fast: bool = True) -> dict[str, Any]:
        attrs, one_call.observer = _one_model_span(tp, fast)  # type: ignore[attr-defined]
        return attrs

    bare = one_call(TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0))))
    assert one_call.observer._start_blind()  # type: ignore[attr-defined]
    public = one_call(TracerProvider(), fast=False)
    volatile = {"llm_cost_hooks.task_id", "gen_ai.response.id"}
    assert {k: v for k, v in bare.items() if k not in volatile} == {
        k: v for k, v in public.items() if k not in volatile
    }
    assert bare["gen_ai.usage.cost.amount"] > 0 and bare["llm_cost_hooks.tenant"] == "acme"
    # A processor that reads attributes on start: the model span starts with its identity.
    tp = TracerProvider()
    reader = _ReadsAttributesOnStart()
    tp.add_span_processor(reader)
    one_call(tp)
    assert not one_call.observer._start_blind()  # type: ignore[attr-defined]
    [seen] = [a for a in reader.seen if a.get("gen_ai.operation.name") == "chat"]
    assert seen["gen_ai.request.model"] == "gpt-4o-mini" and "gen_ai.usage.cost.amount" not in seen
    # A custom sampler (it may sample on attributes): not blind either.
    assert not OTelObserver(
        tracer_provider=TracerProvider(sampler=_SeeAttributesSampler()),  # type: ignore[arg-type]
        metrics=False,
    )._start_blind()


_EXIT_SCRIPT = """
import os, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver

class Print(SpanExporter):
    def export(self, spans):
        for s in spans:
            os.write(1, ("EXPORTED " + s.name + "\\n").encode())
        return SpanExportResult.SUCCESS

# The handler (and its ledger's exit hook) first, the provider after: without the
# observer's own exit hook the provider would shut down before the ledger ends the span.
handler = CostCallbackHandler(ledger="sqlite:///" + sys.argv[1])
tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(Print(), schedule_delay_millis=60000))
handler.tracker.add_observer(OTelObserver(tracer_provider=tp, metrics=False))
FakeChatModelWithUsage(responses=["hi"]).invoke("x", config={"callbacks": [handler]})
print("exiting", flush=True)
"""


def test_deferred_spans_are_exported_at_interpreter_exit(tmp_path: Any) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, str(tmp_path / "ledger.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.split() == ["exiting", "EXPORTED", "chat", "gpt-4o-mini"]


def test_queued_metric_calls_hold_plain_values_only(otel: OTel) -> None:
    # Until a reader collects, a call waits as plain values in a list per attribute key: no
    # record (and its dicts), nor any other object per call, kept alive for the garbage
    # collector to walk.
    observer = otel.observer()
    handler = otel.handler(observer)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER], cached_fraction=0.5)
    model.invoke(QUESTION, config={"callbacks": [handler], "metadata": META})
    assert handler.tracker.flush()
    assert observer._metrics is not None
    [(key, queued)] = observer._metrics._queued.items()
    assert all(v is None or type(v) in (str, int, float, bool) for v in (*key, *queued))
    [record] = handler.records()
    m = otel.metrics()
    [(attrs, cost)] = m["llm_cost_hooks.cost"]
    assert cost == pytest.approx(record.cost_usd) and attrs["llm_cost_hooks.tenant"] == "acme"
    [(_, saved)] = m["llm_cost_hooks.cost.saved"]
    assert saved == pytest.approx(record.saved_usd) and record.saved_usd > 0
    assert not observer._metrics._queued


def test_two_observers_on_one_tracker_each_export_every_span(tmp_path: Any) -> None:
    """Two OTelObservers on one handler (say, two backends) keep their own per-run state."""
    first, second = OTel(), OTel()
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=[
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
            "It is rainy in Paris.",
        ],
    )
    handler = CostCallbackHandler(
        ledger=f"sqlite:///{tmp_path / 'ledger.db'}", observers=[first.observer(), second.observer()]
    )
    try:
        build_agent(model).invoke("Weather in Paris?", config={"callbacks": [handler]})
        assert handler.tracker.flush()
        exported = [list(otel.exporter.get_finished_spans()) for otel in (first, second)]
        assert sorted(s.name for s in exported[0]) == sorted(s.name for s in exported[1])
        for spans in exported:
            names = [s.name for s in spans]
            assert names.count("chat gpt-4o-mini") == 2 and "execute_tool get_weather" in names
            ids = {s.context.span_id for s in spans}
            assert all(s.parent is None or s.parent.span_id in ids for s in spans)
            assert len({s.context.trace_id for s in spans}) == 1
    finally:
        handler.tracker.close()
