"""LiteLLM streams that end oddly still leave the right record.

* A streamed ``acompletion`` whose reading task is cancelled while another holder keeps the
  stream: it is recorded as cancelled at once; read on to its end, the provider's answer (and
  its usage) arrives after the cancellation, and a second record tagged
  ``litellm.cancelled`` = ``late_success`` carries the rest, so the call's records add up to
  the provider's usage and price, counted once.
* A stream whose first read is cut (a timeout the caller survives, a signal's timeout raised into a
  sync read) and that is then read on: LiteLLM ends it as if complete, with nothing from the
  provider and no usage. It is recorded as a stream left before its first chunk (prompt
  counted, ``tokens_estimated``), not as a success, and not lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _servers import serve_http

from llm_cost_hooks import PriceBook, TokenUsage

_PIECES = ("Your parcel ", "left the depot ", "this morning.")
_USAGE = {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return f"data: {json.dumps(chunk)}\n\n".encode()


class _HeldModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible streaming endpoint. A prompt ending in "first" sends its first
    chunk at once and the rest once ``release`` is set; one ending in "none" sends nothing
    until then. The rest ends with the provider's usage (``include_usage``): 1 prompt token
    when the prompt asks for a "small" count."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        prompt = body["messages"][-1]["content"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        try:
            rest = list(_PIECES)
            if prompt.endswith("first"):
                self.wfile.write(_chunk({"role": "assistant", "content": rest.pop(0)}))
                self.wfile.flush()
            _HeldModel.release.wait(60)
            for piece in rest:
                self.wfile.write(_chunk({"content": piece}))
            self.wfile.write(_chunk({}, "stop"))
            counts = {**_USAGE, "prompt_tokens": 1, "total_tokens": 9} if "small" in prompt else _USAGE
            usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                     "choices": [], "usage": counts}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
        except OSError:  # the client has gone
            pass


@pytest.fixture(scope="module")
def held_server() -> Iterator[str]:
    with serve_http(_HeldModel) as url:
        try:
            yield f"{url}/v1"
        finally:
            _HeldModel.release.set()  # no handler left waiting when the server shuts down


@pytest.fixture
def held(held_server: str) -> Iterator[str]:
    _HeldModel.release.clear()
    try:
        yield held_server
    finally:
        _HeldModel.release.set()  # no handler left waiting


def _kwargs(base: str, task: str, prompt: str) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "api_key": "sk-test",
        "api_base": base,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": f"Where is my parcel? {prompt}"}],
        "metadata": {"tenant_id": "acme", "task_id": task},
    }


def _logger(litellm: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    return cost_logger


async def _cancel_after_first_chunk(litellm: Any, kwargs: dict[str, Any], holder: list[Any]) -> str:
    """A task that reads the stream's first chunk, then is cancelled during its own work;
    ``holder`` keeps the stream. Returns the text delivered before the cancellation."""
    got: list[str] = []

    async def read() -> None:
        stream = await litellm.acompletion(**kwargs)
        holder.append(stream)
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
            await asyncio.sleep(60)  # the reader's own work, cut by the cancellation

    task = asyncio.create_task(read())
    while not got:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return "".join(got)


def test_a_cancelled_stream_read_on_elsewhere_adds_up_to_the_providers_usage(
    litellm_clean: Any, held: str
) -> None:
    cost_logger = _logger(litellm_clean)
    task = "late-success"

    async def run() -> None:
        holder: list[Any] = []
        await _cancel_after_first_chunk(litellm_clean, _kwargs(held, task, "first"), holder)
        await asyncio.sleep(0.2)
        [cut] = [r for r in cost_logger.records() if r.task_id == task]  # recorded at once
        assert cut.error_type == "CancelledError" and cut.tokens_estimated
        _HeldModel.release.set()
        async for _chunk in holder.pop():
            pass
        assert await cost_logger.aflush(timeout=30)

    asyncio.run(run())
    assert cost_logger.flush(timeout=30)
    cut, late = sorted((r for r in cost_logger.records() if r.task_id == task), key=lambda r: r.success)
    assert cut.tags["litellm.cancelled"] == "stream" and not cut.success
    assert late.success and late.tags["litellm.cancelled"] == "late_success"
    assert late.tags["litellm.late_of"] == cut.request_id and late.request_id != cut.request_id
    assert (late.tenant, late.model) == ("acme", "gpt-4o-mini")
    # The provider's usage (20 in, 8 out) and price, once: the ledger's totals.
    assert (cut.input_tokens + late.input_tokens, cut.output_tokens + late.output_tokens) == (20, 8)
    price = PriceBook.default().cost(TokenUsage(input_tokens=20, output_tokens=8), "gpt-4o-mini").total
    assert cut.cost_usd + late.cost_usd == pytest.approx(price)
    [totals] = cost_logger.report()  # the ledger's totals (this logger saw only this call)
    assert (totals["input_tokens"], totals["output_tokens"]) == (20, 8)
    assert totals["cost_usd"] == pytest.approx(price, abs=1e-6)
    assert not cost_logger._cut  # nothing kept once the late answer is recorded


def test_a_cancelled_stream_held_and_dropped_unread_is_recorded_as_cancelled(
    litellm_clean: Any, held: str
) -> None:
    cost_logger = _logger(litellm_clean)
    task = "late-dropped"

    async def run() -> str:
        holder: list[Any] = []
        delivered = await _cancel_after_first_chunk(litellm_clean, _kwargs(held, task, "first"), holder)
        assert cost_logger._cut  # it could still be read on
        holder.clear()  # dropped without reading on
        await asyncio.sleep(0.2)
        assert not cost_logger._cut  # nothing kept for a stream gone
        assert await cost_logger.aflush(timeout=30)
        return delivered

    delivered = asyncio.run(run())
    assert cost_logger.flush(timeout=30)
    [rec] = [r for r in cost_logger.records() if r.task_id == task]
    assert not rec.success and rec.error_type == "CancelledError" and rec.tokens_estimated
    assert rec.tags["litellm.cancelled"] == "stream" and rec.tags["stream.outcome"] == "cancelled"
    assert rec.input_tokens > 0
    assert (
        rec.output_tokens == cost_logger.tracker.token_counter.count_text(delivered, "gpt-4o-mini").tokens > 0
    )


def test_an_async_stream_whose_first_read_timed_out_is_recorded_as_left(
    litellm_clean: Any, held: str
) -> None:
    cost_logger = _logger(litellm_clean)
    task = "first-read-cut"
    kwargs = _kwargs(held, task, "none")

    async def run() -> None:
        stream = await litellm_clean.acompletion(**kwargs)
        with pytest.raises(asyncio.TimeoutError):  # the caller goes on with the stream
            await asyncio.wait_for(stream.__anext__(), 0.3)
        # Read on: LiteLLM's iterator was cut, and it ends the stream as if complete.
        assert [c async for c in stream if c.choices and c.choices[0].delta.content] == []
        del stream
        await asyncio.sleep(0.2)
        assert await cost_logger.aflush(timeout=30)

    asyncio.run(run())
    assert cost_logger.flush(timeout=30)
    [rec] = [r for r in cost_logger.records() if r.task_id == task]
    assert not rec.success and rec.error_type == "GeneratorExit"
    assert rec.tags["litellm.cancelled"] == "stream" and rec.tags["stream.outcome"] == "cancelled"
    prompt = kwargs["messages"]
    assert rec.input_tokens == cost_logger.tracker.count_prompt_tokens(prompt, "gpt-4o-mini")[0] > 0
    assert rec.output_tokens == 0 and rec.tokens_estimated


def test_a_sync_stream_whose_first_read_was_interrupted_is_recorded(held: str, tmp_path: Any) -> None:
    # A signal's timeout (a BaseException, as timeout libraries raise) cuts the first read;
    # the caller reads on, and LiteLLM ends the stream with nothing from the provider. Run
    # apart: the stream is then freed only at exit (LiteLLM's queued event holds it).
    db = tmp_path / "costs.db"
    kwargs = _kwargs(held, "sync-first-read-cut", "none")
    del kwargs["stream_options"]
    script = (
        "import signal, litellm\n"
        "from llm_cost_hooks.litellm import CostHooksLogger\n"
        "class TimedOut(BaseException): pass\n"
        "def alarm(*_): raise TimedOut()\n"
        "signal.signal(signal.SIGALRM, alarm)\n"
        f"litellm.callbacks = [CostHooksLogger(ledger={f'sqlite:///{db}'!r})]\n"
        f"stream = litellm.completion(**{kwargs!r})\n"
        "signal.setitimer(signal.ITIMER_REAL, 1.0)\n"
        "try:\n"
        "    next(stream)\n"
        "except TimedOut:\n"
        "    pass\n"
        "assert [c for c in stream if c.choices and c.choices[0].delta.content] == []\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT success, error_type, input_tokens, output_tokens, tokens_estimated, tags FROM cost_records"
        ).fetchall()
    assert len(rows) == 1
    success, error_type, input_tokens, output_tokens, estimated, tags = rows[0]
    assert (success, error_type, output_tokens, estimated) == (0, "GeneratorExit", 0, 1)
    assert input_tokens > 0 and json.loads(tags)["litellm.cancelled"] == "stream"


def test_a_late_answer_below_the_cancelled_estimate_tags_the_overcount(litellm_clean: Any, held: str) -> None:
    # The provider reports fewer prompt tokens (1) than the cancelled record counted: no
    # record can take tokens back, so the rest carries 0 input and the excess is tagged.
    cost_logger = _logger(litellm_clean)
    task = "late-overcount"

    async def run() -> None:
        holder: list[Any] = []
        await _cancel_after_first_chunk(litellm_clean, _kwargs(held, task, "small first"), holder)
        _HeldModel.release.set()
        async for _chunk in holder.pop():
            pass
        assert await cost_logger.aflush(timeout=30)

    asyncio.run(run())
    assert cost_logger.flush(timeout=30)
    cut, late = sorted((r for r in cost_logger.records() if r.task_id == task), key=lambda r: r.success)
    assert cut.input_tokens > 1 and late.input_tokens == 0
    assert cut.output_tokens + late.output_tokens == 8
    assert late.tags["litellm.late_overcount"] == str(cut.input_tokens - 1)


# -- a late answer is charged to the spend guard ------------------------------
def _late_call(litellm: Any, held: str, task: str, cost_logger: Any, **extra: Any) -> Any:
    """One streamed call cancelled after its first chunk and then read to its end elsewhere;
    returns the budget reservation settled on its cancelled record (None without a guard)."""
    settled: list[Any] = []

    async def run() -> None:
        holder: list[Any] = []
        await _cancel_after_first_chunk(litellm, {**_kwargs(held, task, "first"), **extra}, holder)
        await asyncio.sleep(0.2)
        settled.extend(entry[-1] for entry in cost_logger._cut.values())
        _HeldModel.release.set()
        async for _chunk in holder.pop():
            pass
        assert await cost_logger.aflush(timeout=30)

    asyncio.run(run())
    assert cost_logger.flush(timeout=30)
    return settled[0] if settled else None


def _provider_price() -> float:
    return PriceBook.default().cost(TokenUsage(input_tokens=20, output_tokens=8), "gpt-4o-mini").total


@pytest.mark.parametrize("store", ["process", "redis"])
def test_the_spend_guard_is_charged_a_late_answer_and_counts_its_overspend(
    litellm_clean: Any, held: str, store: str, request: Any
) -> None:
    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
    from llm_cost_hooks.litellm import CostHooksLogger

    url = request.getfixturevalue("redis_clean_url") if store == "redis" else None
    guard = SpendGuard(
        [Limit.usd(1, per="day", scope="tenant", name="daily")],
        store=url,
        alerts=AlertManager(log=False, span_events=False),
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard)
    litellm_clean.callbacks = [cost_logger]
    # A hold for the prompt and 2 output tokens: the billed answer (8) goes past it.
    reservation = _late_call(litellm_clean, held, "late-guard-" + store, cost_logger, max_tokens=2)
    cut, late = sorted(cost_logger.records(), key=lambda r: r.success)
    price = _provider_price()
    assert cut.cost_usd + late.cost_usd == pytest.approx(price)
    spent, held_usd = guard.usage("daily", "acme")
    assert held_usd == 0.0 and spent == pytest.approx(price, abs=1e-9)  # what the provider billed
    assert reservation is not None and reservation.actual_usd == pytest.approx(price)
    events, units = guard.overspend["daily"]
    # Past the hold by what the call came to in all, counted once.
    assert units == pytest.approx(round(price * 1e9) - round(reservation.worst_usd * 1e9), abs=2)
