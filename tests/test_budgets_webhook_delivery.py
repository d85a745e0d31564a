"""Webhook alerts a receiver can deduplicate, and lost alerts that say which one was lost."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from llm_cost_hooks.budget import (
    AlertManager,
    InProcessSpendStore,
    Limit,
    SpendGuard,
    SpendRequest,
    WebhookSink,
)

REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=1000, tenant="acme")


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []
    status: ClassVar[int] = 204
    delay: ClassVar[threading.Event | None] = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((dict(self.headers), body))
        if type(self).delay is not None:
            type(self).delay.wait(5)  # slower than the sink's timeout: the sink tries again
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    _Receiver.received, _Receiver.status, _Receiver.delay = [], 204, None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    if _Receiver.delay is not None:
        _Receiver.delay.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(receiver: ThreadingHTTPServer) -> Iterator[Callable[..., WebhookSink]]:
    """Makes WebhookSinks that are closed (their threads waited for) when the test ends,
    before the receiver: none outlives its test."""
    made: list[WebhookSink] = []

    def make(url: str, **kwargs: Any) -> WebhookSink:
        made.append(WebhookSink(url, **kwargs))
        return made[-1]

    yield make
    if _Receiver.delay is not None:
        _Receiver.delay.set()
    for sink in made:
        sink.close()
        assert not sink._thread.is_alive(), "a webhook sink's thread did not stop"


def _received(n: int) -> None:
    # A POST the sink gave up on (its timeout) is still read by the receiver, on a thread of
    # its own: on a loaded machine that can come after a later POST was answered.
    deadline = time.monotonic() + 30
    while len(_Receiver.received) < n:
        assert time.monotonic() < deadline, f"{len(_Receiver.received)} POSTs received, not {n}"
        time.sleep(0.01)


def _guard(sink: WebhookSink, store: Any = None) -> SpendGuard:
    return SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", alert_at=(0.5,))],
        store=store or InProcessSpendStore(),
        alerts=AlertManager([sink], log=False, span_events=False),
    )


def test_the_same_alert_carries_one_idempotency_key_across_processes_and_retries(receiver, webhook) -> None:
    _Receiver.delay = threading.Event()
    url = f"http://127.0.0.1:{receiver.server_port}/alerts"
    slow = webhook(url, retries=1, backoff=0.01, timeout=0.3)
    # Two guards that do not share a store flag, as two workers during a Redis outage.
    _guard(slow).reserve(REQ).settle(0.0006)
    assert slow.flush(10)
    _Receiver.delay.set()
    other_worker = webhook(url, retries=0, timeout=30)
    _guard(other_worker).reserve(REQ).settle(0.0006)
    assert other_worker.flush(60) and other_worker.delivered == 1
    _received(3)
    keys = [headers["Idempotency-Key"] for headers, _ in _Receiver.received]
    assert len(keys) == 3  # the slow POST, its retry, and the other worker's alert
    assert len(set(keys)) == 1
    assert {body["alert_id"] for _, body in _Receiver.received} == set(keys)
    # Another period, limit or fraction is another alert.
    other = webhook(url, retries=0, timeout=30)
    SpendGuard(
        [Limit.usd(0.001, per="month", scope="tenant", alert_at=(0.5,))],
        alerts=AlertManager([other], log=False, span_events=False),
    ).reserve(REQ).settle(0.0006)
    assert other.flush(60) and other.delivered == 1
    assert len(_Receiver.received) == 4
    assert _Receiver.received[-1][0]["Idempotency-Key"] not in keys


def test_an_alert_given_up_is_logged_as_an_error_naming_it_without_the_url_path(
    receiver, webhook, caplog
) -> None:
    _Receiver.status = 500
    sink = webhook(
        f"http://127.0.0.1:{receiver.server_port}/services/T0/B0/s3cr3t-token",
        retries=1,
        backoff=0.01,
        timeout=30,  # answered with a 500 every time: a loaded machine must not time it out
    )
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.budget"):
        _guard(sink).reserve(REQ).settle(0.0006)
        assert sink.flush(60)
    assert sink.failed == 1 and len(_Receiver.received) == 2
    here = f"127.0.0.1:{receiver.server_port}/"  # this sink's lines, not another's still running
    lost = [r for r in caplog.records if "not delivered" in r.getMessage() and here in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.ERROR
    text = lost[0].getMessage()
    assert "reached 50%" in text and "HTTP 500" in text
    assert "s3cr3t" not in caplog.text


def test_an_alert_dropped_on_a_full_queue_is_an_error_naming_it(receiver, webhook, caplog) -> None:
    _Receiver.delay = threading.Event()  # the receiver holds the first POST: the queue fills
    sink = webhook(f"http://127.0.0.1:{receiver.server_port}/hook/s3cr3t", retries=0, max_queue=1)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.budget"):
        for limit in ("a", "b", "c", "d"):
            SpendGuard(
                [Limit.usd(0.001, per="day", scope="tenant", alert_at=(0.5,), name=limit)],
                alerts=AlertManager([sink], log=False, span_events=False),
            ).reserve(REQ).settle(0.0006)
    here = f"127.0.0.1:{receiver.server_port}/"  # this sink's lines, not another's still running
    dropped = [r for r in caplog.records if "dropped" in r.getMessage() and here in r.getMessage()]
    assert dropped and all(r.levelno == logging.ERROR for r in dropped)
    assert all("reached 50%" in r.getMessage() for r in dropped)
    assert "s3cr3t" not in caplog.text
    _Receiver.delay.set()
    assert sink.flush(60)
