"""A LiteLLM async call cancelled by its caller (``asyncio.wait_for``, ``asyncio.timeout``,
``task.cancel()``) gets no end event from LiteLLM; with ``CostHooksLogger`` in
``litellm.callbacks`` its budget hold is still settled and the call recorded as cancelled
while the event loop runs, once."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _servers import serve_http

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

_ANSWER = "Your parcel left the depot this morning."


class _SlowModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers after 30 s (the request is sent and
    the provider is working on it when the caller gives up); a stream sends its first two
    chunks at once, then stalls."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    arrived = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        warm_up = body["messages"][-1]["content"] == "warm-up"  # answered at once
        _SlowModel.arrived.set()
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in ("Your parcel ", "left the depot "):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            time.sleep(30.0)
            return
        time.sleep(0.0 if warm_up else 30.0)
        answer = {"id": "r1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": _ANSWER}}],
                  "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}}  # fmt: skip
        data = json.dumps(answer).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up
            pass


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    with serve_http(_SlowModel) as url:
        yield f"{url}/v1"


@pytest.fixture
def slow_model(slow_server: str, litellm_clean: Any) -> str:
    # One call first: LiteLLM's first call to a server loads much and builds its HTTP
    # client; the request must be out (the provider billing it) before the caller gives up
    # for the record to be a paid one.
    from llm_cost_hooks.litellm import CostHooksLogger

    litellm_clean.callbacks = [warm := CostHooksLogger(ledger="memory://")]
    messages = [{"role": "user", "content": "warm-up"}]
    asyncio.run(litellm_clean.acompletion(**{**_BASE, "messages": messages}, api_base=slow_server))
    warm.flush()  # its event delivered now, not to the test's logger
    litellm_clean.callbacks = []
    _SlowModel.arrived.clear()
    return slow_server


async def _request_sent() -> None:
    assert await asyncio.to_thread(_SlowModel.arrived.wait, 60)


# The callers below give up once the call is where the test needs it (the model has the
# request, or the stream delivered its two chunks), not after a fixed time: on a loaded
# machine a fixed 2 s could run out before the request was even sent.
async def _until(ready: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not ready():
        assert time.monotonic() < deadline, f"not ready after {within}s"
        await asyncio.sleep(0.01)


async def _wait_for_until(aw: Awaitable[Any], ready: Callable[[], bool]) -> None:
    """``asyncio.wait_for(aw, ...)`` whose timeout runs out once ``ready()``."""
    task = asyncio.ensure_future(aw)
    await _until(ready)
    await asyncio.wait_for(task, 0.01)


def _cut_when(cut: Any, ready: Callable[[], bool]) -> asyncio.Task[None]:
    """Make the ``asyncio.timeout`` ``cut`` run out once ``ready()``."""
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        await _until(ready)
        cut.reschedule(loop.time())

    return loop.create_task(watch())


_BASE: dict[str, Any] = {
    "model": "openai/gpt-4o-mini",
    "api_key": "sk-test",
    "max_tokens": 300,
    "messages": [{"role": "user", "content": "Where is my parcel? It was due on Monday."}],
    "metadata": {"tenant_id": "acme"},
}


def _setup(litellm: Any) -> tuple[Any, SpendGuard]:
    from llm_cost_hooks.litellm import CostHooksLogger

    guard = SpendGuard(
        [Limit.usd(1, per="day", scope="tenant", name="daily")],
        alerts=AlertManager(log=False, span_events=False),
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cost_logger]
    return cost_logger, guard


async def _settled() -> None:
    # The record is written from a callback the loop runs next.
    for _ in range(3):
        await asyncio.sleep(0)


def _assert_cancelled_record(cost_logger: Any, guard: SpendGuard) -> Any:
    cost_logger.tracker.flush(5)
    (record,) = cost_logger.records()
    assert record.success is False and record.error_type == "CancelledError"
    assert record.tags["litellm.cancelled"] == "request"
    assert record.input_tokens > 0 and record.output_tokens == 0 and record.tokens_estimated
    assert record.cost_usd > 0  # the prompt, which the provider received
    spent, held = guard.usage("daily", "acme")
    assert held == 0.0 and spent == pytest.approx(record.cost_usd)
    return record


def test_a_call_cut_by_wait_for_settles_its_hold_and_is_recorded_in_the_loop(
    litellm_clean: Any, slow_model: str
) -> None:
    cost_logger, guard = _setup(litellm_clean)
    seen: list[Any] = []

    async def run() -> None:
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await _wait_for_until(
                litellm_clean.acompletion(**_BASE, api_base=slow_model), _SlowModel.arrived.is_set
            )
        assert _SlowModel.arrived.is_set()
        await _settled()
        seen.append(guard.usage("daily", "acme"))
        seen.append(len(cost_logger.records()))

    asyncio.run(run())
    assert seen[0][1] == 0.0 and seen[0][0] > 0  # while the loop still ran
    assert seen[1] == 1
    _assert_cancelled_record(cost_logger, guard)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is Python 3.11+")
def test_a_call_cut_by_asyncio_timeout_settles_while_the_task_goes_on(
    litellm_clean: Any, slow_model: str
) -> None:
    cost_logger, guard = _setup(litellm_clean)
    seen: list[Any] = []

    async def run() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(None) as cut:  # type: ignore[attr-defined]
                sent = _cut_when(cut, _SlowModel.arrived.is_set)
                await litellm_clean.acompletion(**_BASE, api_base=slow_model)
        await sent
        await _settled()
        seen.append(guard.usage("daily", "acme"))
        # The same task goes on and calls again: the next call is recorded as usual.
        await litellm_clean.acompletion(**_BASE, mock_response=_ANSWER)
        await cost_logger.aflush()

    asyncio.run(run())
    assert seen[0][1] == 0.0 and seen[0][0] > 0
    cost_logger.flush()
    records = cost_logger.records()
    assert sorted(r.success for r in records) == [False, True]
    assert not cost_logger._watches


def test_a_cancelled_task_settles_its_calls_hold(litellm_clean: Any, slow_model: str) -> None:
    cost_logger, guard = _setup(litellm_clean)
    seen: list[Any] = []

    async def run() -> None:
        task = asyncio.create_task(litellm_clean.acompletion(**_BASE, api_base=slow_model))
        await _request_sent()
        assert guard.usage("daily", "acme")[1] > 0  # held while it runs
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _settled()
        seen.append(guard.usage("daily", "acme"))

    asyncio.run(run())
    assert seen[0][1] == 0.0 and seen[0][0] > 0
    _assert_cancelled_record(cost_logger, guard)


def test_a_handler_task_cancelled_around_the_call_settles_it(litellm_clean: Any, slow_model: str) -> None:
    # A server cancels the handler's task when the client disconnects; the call is awaited
    # some frames down.
    cost_logger, guard = _setup(litellm_clean)

    async def handler() -> str:
        answer = await litellm_clean.acompletion(**_BASE, api_base=slow_model)
        return str(answer.choices[0].message.content)

    async def run() -> None:
        task = asyncio.create_task(handler())
        await _request_sent()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _settled()

    asyncio.run(run())
    _assert_cancelled_record(cost_logger, guard)


def test_a_late_event_for_a_cancelled_call_is_not_recorded_again(litellm_clean: Any, slow_model: str) -> None:
    cost_logger, guard = _setup(litellm_clean)

    async def run() -> None:
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await _wait_for_until(
                litellm_clean.acompletion(**_BASE, api_base=slow_model), _SlowModel.arrived.is_set
            )
        await _settled()
        (record,) = cost_logger.records()
        response = await litellm_clean.acompletion(**{**_BASE, "metadata": {}}, mock_response=_ANSWER)
        await cost_logger.aflush()
        # The same call id's success event arriving after all: the first record stands.
        await cost_logger.async_log_success_event(
            {"litellm_call_id": record.request_id, "model": "gpt-4o-mini", "call_type": "acompletion"},
            response,
            None,
            None,
        )

    asyncio.run(run())
    cost_logger.flush()
    acme = [r for r in cost_logger.records() if r.tenant == "acme"]
    assert len(acme) == 1 and acme[0].error_type == "CancelledError"
    assert guard.usage("daily", "acme")[1] == 0.0


def test_calls_that_end_normally_leave_nothing_watched(litellm_clean: Any) -> None:
    # A long-lived task making many calls: each call's watch ends with it (no callbacks
    # pile up on the task), and none is taken for a cancellation.
    cost_logger, guard = _setup(litellm_clean)

    async def run() -> int:
        for _ in range(5):
            await litellm_clean.acompletion(**_BASE, mock_response=_ANSWER)
        await cost_logger.aflush()
        task = asyncio.current_task()
        assert task is not None
        return len(getattr(task, "_callbacks", None) or ())

    assert asyncio.run(run()) <= 1  # asyncio.run's own
    cost_logger.flush()
    assert [r.success for r in cost_logger.records()] == [True] * 5
    assert not cost_logger._watches and guard.usage("daily", "acme")[1] == 0.0


# -- streams -------------------------------------------------------------------------------
def _assert_cancelled_stream(cost_logger: Any, guard: SpendGuard, error: str = "CancelledError") -> None:
    cost_logger.tracker.flush(5)
    (record,) = cost_logger.records()
    assert record.success is False and record.error_type == error
    assert record.tags["litellm.cancelled"] == "stream" and record.tags["stream.outcome"] == "cancelled"
    # The two chunks delivered ("Your parcel left the depot "), counted: flagged estimated.
    assert 3 <= record.output_tokens <= 8 and record.input_tokens > 0 and record.tokens_estimated
    spent, held = guard.usage("daily", "acme")
    assert held == 0.0 and spent == pytest.approx(record.cost_usd) and spent > 0


async def _read(stream: Any, got: list[str]) -> None:
    async for chunk in stream:
        got.append(chunk.choices[0].delta.content or "")


def test_a_stream_whose_task_is_cancelled_part_way_records_what_it_delivered(
    litellm_clean: Any, slow_model: str
) -> None:
    cost_logger, guard = _setup(litellm_clean)
    got: list[str] = []
    seen: list[Any] = []

    async def consume() -> None:
        await _read(await litellm_clean.acompletion(**_BASE, api_base=slow_model, stream=True), got)

    async def run() -> None:
        task = asyncio.create_task(consume())
        while len(got) < 2:  # the third chunk never comes
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _settled()
        seen.append(guard.usage("daily", "acme"))

    asyncio.run(run())
    assert "".join(got) == "Your parcel left the depot " and seen[0][1] == 0.0
    _assert_cancelled_stream(cost_logger, guard)


def test_a_stream_read_under_wait_for_records_what_it_delivered(litellm_clean: Any, slow_model: str) -> None:
    cost_logger, guard = _setup(litellm_clean)
    got: list[str] = []

    async def consume() -> None:
        await _read(await litellm_clean.acompletion(**_BASE, api_base=slow_model, stream=True), got)

    async def run() -> None:
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await _wait_for_until(consume(), lambda: len(got) == 2)
        await _settled()
        assert guard.usage("daily", "acme")[1] == 0.0

    asyncio.run(run())
    assert len(got) == 2
    _assert_cancelled_stream(cost_logger, guard)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is Python 3.11+")
def test_a_stream_cut_by_asyncio_timeout_records_what_it_delivered(
    litellm_clean: Any, slow_model: str
) -> None:
    # The task goes on after the timeout: the stream is settled once it is let go (here
    # when the TimeoutError, whose traceback holds the reading frame, is dropped).
    cost_logger, guard = _setup(litellm_clean)
    got: list[str] = []
    seen: list[Any] = []

    async def run() -> None:
        try:
            async with asyncio.timeout(None) as cut:  # type: ignore[attr-defined]
                delivered = _cut_when(cut, lambda: len(got) == 2)
                await _read(await litellm_clean.acompletion(**_BASE, api_base=slow_model, stream=True), got)
        except TimeoutError:
            pass
        await delivered
        await _settled()
        seen.append(guard.usage("daily", "acme"))

    asyncio.run(run())
    assert len(got) == 2 and seen[0][1] == 0.0
    _assert_cancelled_stream(cost_logger, guard, "GeneratorExit")


def test_a_stream_let_go_unfinished_records_what_it_delivered(litellm_clean: Any, slow_model: str) -> None:
    cost_logger, guard = _setup(litellm_clean)
    seen: list[Any] = []

    async def run() -> None:
        stream = await litellm_clean.acompletion(**_BASE, api_base=slow_model, stream=True)
        async for _ in stream:
            break  # one chunk read, the reader stops
        await stream.aclose()
        del stream
        await _settled()
        seen.append(guard.usage("daily", "acme"))

    asyncio.run(run())
    assert seen[0][1] == 0.0
    cost_logger.tracker.flush(5)
    (record,) = cost_logger.records()
    assert record.error_type == "GeneratorExit" and record.tags["stream.outcome"] == "cancelled"
    assert 1 <= record.output_tokens <= 4 and record.tokens_estimated


def test_a_stream_read_to_its_end_is_recorded_from_its_event(litellm_clean: Any) -> None:
    cost_logger, guard = _setup(litellm_clean)

    async def run() -> None:
        stream = await litellm_clean.acompletion(**_BASE, mock_response=_ANSWER, stream=True)
        async for _ in stream:
            pass
        del stream
        await cost_logger.aflush()

    asyncio.run(run())
    cost_logger.flush()
    (record,) = cost_logger.records()
    assert record.success and "litellm.cancelled" not in record.tags
    assert guard.usage("daily", "acme")[1] == 0.0


def test_a_call_left_running_when_asyncio_run_ends_is_recorded_as_cancelled(
    litellm_clean: Any, slow_model: str
) -> None:
    # asyncio.run cancels the tasks left when its coroutine returns: the call in flight is
    # recorded then, not set aside for the loop-end recovery (litellm.event_lost).
    cost_logger, guard = _setup(litellm_clean)

    left: list[Any] = []

    async def run() -> None:
        left.append(asyncio.ensure_future(litellm_clean.acompletion(**_BASE, api_base=slow_model)))
        await _request_sent()

    asyncio.run(run())
    assert left[0].cancelled()
    _assert_cancelled_record(cost_logger, guard)
