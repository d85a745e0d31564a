"""Spend guardrails in one process: limits, policies, alerts, anomaly, webhook."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import (
    AlertManager,
    AnomalyRule,
    Downgrade,
    DowngradeRequired,
    Limit,
    Reservation,
    SpendGuard,
    SpendRequest,
    WebhookSink,
)
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel

REQ = SpendRequest(
    model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme", feature="chat"
)
# Its worst case ($0.00075) covers the $0.0006 these tests settle: no over-spend.
REQ_LONG = REQ.model_copy(update={"max_output_tokens": 1000})


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def quiet(events: list | None = None, **kw) -> AlertManager:
    return AlertManager([events.append] if events is not None else [], log=False, span_events=False, **kw)


def test_worst_case_estimate_uses_counted_input_and_output_cap() -> None:
    guard = SpendGuard([], alerts=quiet())
    input_usd, out_rate, worst, cap = guard.estimate(REQ)
    assert cap == 500
    assert input_usd == pytest.approx(1000 * 0.15e-6) and out_rate == pytest.approx(0.6e-6)
    assert worst == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)


def test_per_request_limits_raise_shrink_and_downgrade() -> None:
    with pytest.raises(BudgetExceeded, match="input_tokens_per_request"):
        SpendGuard([Limit.input_tokens(800)], alerts=quiet()).reserve(REQ)
    shrink = SpendGuard([Limit.output_tokens(200, on_breach="shrink_output")], alerts=quiet())
    assert shrink.reserve(REQ).max_output_tokens == 200
    usd = SpendGuard([Limit.usd_per_request(0.0002, on_breach="shrink_output")], alerts=quiet())
    r = usd.reserve(REQ)
    assert r.worst_usd <= 0.0002 and 16 <= r.max_output_tokens < 500
    assert r.tags()["budget.output.shrunk_by"] == "usd_per_request"
    down = SpendGuard(
        [Limit.usd_per_request(0.0004, on_breach="downgrade", downgrade_to="gpt-4.1-nano")], alerts=quiet()
    )
    decision = down.try_reserve(REQ)
    assert isinstance(decision, Downgrade) and decision.to_model == "gpt-4.1-nano"
    with pytest.raises(DowngradeRequired, match="downgrade 'gpt-4o-mini' to gpt-4.1-nano"):
        down.reserve(REQ)
    assert isinstance(down.try_reserve(REQ.model_copy(update={"model": "gpt-4.1-nano"})), Reservation)
    # Already on the target tier: nothing cheaper to go to, so it raises (no loop).
    with pytest.raises(BudgetExceeded):
        down.try_reserve(REQ.model_copy(update={"model": "gpt-4.1-nano", "max_output_tokens": 4000}))


def test_period_limit_message_says_which_limit_how_much_left_and_reset() -> None:
    clock = Clock(datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc).timestamp())
    guard = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", name="acme_daily")], clock=clock, alerts=quiet()
    )
    with guard.reserve(REQ) as r:  # worst 0.00045
        r.settle(0.0007)
    with pytest.raises(BudgetExceeded) as info:
        guard.reserve(REQ)
    message = str(info.value)
    assert "'acme_daily'" in message and "0.0003 of 0.001 USD is left" in message
    assert "resets at 2026-03-11T00:00:00+00:00" in message
    assert info.value.resets_at == datetime(2026, 3, 11, tzinfo=timezone.utc)
    # Another tenant has its own budget; the next day starts empty.
    guard.reserve(REQ.model_copy(update={"tenant": "globex"})).release()
    clock.t += 86_400
    guard.reserve(REQ).release()


def test_release_on_error_and_context_manager() -> None:
    guard = SpendGuard([Limit.usd(0.01, per="month", scope="feature")], alerts=quiet())
    with pytest.raises(RuntimeError):
        with guard.reserve(REQ):
            assert guard.usage("usd_per_month_per_feature", "chat")[1] > 0
            raise RuntimeError("upstream failed")
    assert guard.usage("usd_per_month_per_feature", "chat") == (0, 0)


def test_threaded_reservations_never_overspend_in_process() -> None:
    guard = SpendGuard([Limit.usd(0.01, per="day", scope="global")], alerts=quiet())
    paid: list[float] = []

    def worker() -> None:
        for _ in range(50):
            try:
                r = guard.reserve(REQ)
            except BudgetExceeded:
                continue
            r.settle(r.worst_usd * 0.9)
            paid.append(r.worst_usd * 0.9)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(paid) <= 0.01 + 1e-12
    assert guard.spent("usd_per_day_per_global") == pytest.approx(sum(paid))


def test_threshold_alerts_once_per_period_and_again_next_period() -> None:
    events: list = []
    clock = Clock(datetime(2026, 3, 10, 9, tzinfo=timezone.utc).timestamp())
    metrics: list = []
    alerts = quiet(events, metric_hooks=[lambda name, value, attrs: metrics.append((name, value))])
    guard = SpendGuard([Limit.usd(0.01, per="day", scope="tenant")], clock=clock, alerts=alerts)
    for _ in range(30):
        try:
            guard.reserve(REQ_LONG).settle(0.0006)
        except BudgetExceeded:
            pass
    # Real spend stops at 96 %: the refused call raises its own event, never the 100 % one.
    assert [(e.kind, e.threshold) for e in events] == [
        ("threshold", 0.5),
        ("threshold", 0.8),
        ("refused", None),
    ]
    assert "reached 80%" in events[1].message and events[1].scope_value == "acme"
    assert any(name == "llm_cost_hooks.budget.alerts" for name, _ in metrics)
    assert any(name == "llm_cost_hooks.budget.utilization" and v >= 0.5 for name, v in metrics)
    clock.t += 86_400
    for _ in range(10):
        guard.reserve(REQ_LONG).settle(0.0006)
    assert [e.threshold for e in events] == [0.5, 0.8, None, 0.5]


def test_anomaly_alert_when_last_hour_above_twice_trailing_mean() -> None:
    events: list = []
    hour0 = datetime(2026, 3, 10, 0, tzinfo=timezone.utc).timestamp()
    clock = Clock(hour0)
    rule = AnomalyRule(
        scope="tenant", factor=2.0, trailing_hours=6, min_history_hours=3, check_interval_seconds=0
    )
    guard = SpendGuard([], clock=clock, alerts=quiet(events, anomaly=rule))
    for h in range(6):  # a steady $0.002 per hour
        clock.t = hour0 + h * 3600 + 60
        for _ in range(2):
            guard.reserve(REQ).settle(0.001)
    assert events == []
    clock.t = hour0 + 6 * 3600 + 60
    for _ in range(5):
        guard.reserve(REQ).settle(0.001)  # 0.005 > 2 x 0.002
    anomalies = [e for e in events if e.kind == "anomaly"]
    assert len(anomalies) == 1  # once per hour, however many calls follow
    assert anomalies[0].spent == pytest.approx(0.005) and anomalies[0].baseline == pytest.approx(0.002)
    assert anomalies[0].scope_value == "acme"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []  # what the webhook got, across handler instances
    fail_first = 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        if len(type(self).received) <= type(self).fail_first:
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_webhook_sink_retries_until_delivered() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = WebhookSink(f"http://127.0.0.1:{server.server_port}/alerts", retries=3, backoff=0.01)
        guard = SpendGuard(
            [Limit.usd(0.001, per="day", scope="tenant", alert_at=(0.5,))],
            alerts=AlertManager([sink], log=False, span_events=False),
        )
        guard.reserve(REQ_LONG).settle(0.0006)
        assert sink.flush(10)
        sink.close()
    finally:
        server.shutdown()
    assert len(_Hook.received) == 2  # a 503, then the retry
    assert sink.delivered == 1 and sink.failed == 0
    assert _Hook.received[-1]["threshold"] == 0.5 and "reached 50%" in _Hook.received[-1]["message"]


def test_alerts_go_to_the_python_log(caplog) -> None:
    guard = SpendGuard([Limit.usd(0.001, per="day", scope="tenant", alert_at=(0.5,))])
    with caplog.at_level("WARNING", logger="llm_cost_hooks.budget"):
        guard.reserve(REQ_LONG).settle(0.0006)
    assert any("reached 50%" in r.getMessage() for r in caplog.records)


def test_span_event_sink_adds_event_to_current_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", alert_at=(0.5,))], alerts=AlertManager(log=False)
    )
    with provider.get_tracer("t").start_as_current_span("call"):
        guard.reserve(REQ_LONG).settle(0.0006)
    (span,) = exporter.get_finished_spans()
    assert [e.name for e in span.events] == ["llm_cost_hooks.budget.alert"]
    assert span.events[0].attributes["budget.threshold"] == "0.5"


def test_guarded_model_in_a_chain_settles_real_cost_and_tags_record() -> None:
    fake = FakeChatModelWithUsage(responses=["Paris is the capital."], max_tokens=200)
    guard = SpendGuard([Limit.usd(0.05, per="day", scope="tenant", name="daily")], alerts=quiet())
    handler = CostCallbackHandler(ledger="memory://")
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | GuardedChatModel(inner=fake, guard=guard)
        | StrOutputParser()
    )
    assert (
        chain.invoke(
            {"q": "Capital of France?"}, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
        )
        == "Paris is the capital."
    )
    (record,) = handler.records()
    assert guard.spent("daily", "acme") == pytest.approx(record.cost_usd)
    assert guard.usage("daily", "acme")[1] == 0
    assert float(record.tags["budget.reserved_usd"]) >= record.cost_usd
    assert record.model == "gpt-4o-mini" and record.tenant == "acme"


async def test_guarded_model_downgrades_to_cheaper_tier() -> None:
    strong = FakeChatModelWithUsage(model_name="gpt-4o", responses=["strong"], max_tokens=500)
    cheap = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["cheap"], max_tokens=500)
    guard = SpendGuard(
        [Limit.usd_per_request(0.001, on_breach="downgrade", downgrade_to="gpt-4o-mini")], alerts=quiet()
    )
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(inner=strong, guard=guard, downgrades={"gpt-4o-mini": cheap})
    answer = await model.ainvoke("hello " * 300, config={"callbacks": [handler]})
    assert answer.content == "cheap" and strong.call_count == 0 and cheap.call_count == 1
    (record,) = handler.records()
    assert record.model == "gpt-4o-mini" and record.tags["budget.downgraded_from"] == "gpt-4o"
    # Without a cheaper tier the policy surfaces to the caller (e.g. a router).
    with pytest.raises(DowngradeRequired):
        await GuardedChatModel(inner=strong, guard=guard).ainvoke("hello " * 300)


async def test_guarded_model_refuses_before_calling_when_budget_is_gone() -> None:
    fake = FakeChatModelWithUsage(responses=["x" * 50], max_tokens=300)
    guard = SpendGuard([Limit.usd(0.0005, per="day", scope="tenant")], alerts=quiet())
    model = GuardedChatModel(inner=fake, guard=guard)
    results = await asyncio.gather(
        *(model.ainvoke(f"q{i}", config={"metadata": {"tenant_id": "a"}}) for i in range(20)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert refused and fake.call_count == 20 - len(refused)
    assert guard.spent("usd_per_day_per_tenant", "a") <= 0.0005
