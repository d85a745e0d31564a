"""No LiteLLM async call loses its cost record when its event loop ends, and no call is
recorded twice.

LiteLLM delivers an async call's success event from a task of the call's event loop; the
end of ``asyncio.run`` cancels that task if it is still running. A slower callback listed
before ours holds the event up, so the loop's end cancels it every time here (a busy
machine does the same by chance)."""

from __future__ import annotations

import asyncio
import collections
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MSG = [{"role": "user", "content": "What is 2 + 2?"}]


def _slow_callback(litellm: Any) -> Any:
    from litellm.integrations.custom_logger import CustomLogger

    class SlowExporter(CustomLogger):  # another tool's logger, awaited before ours
        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            await asyncio.sleep(1.0)

    return SlowExporter()


def _one_per_call(records: list[Any]) -> collections.Counter[str]:
    counts = collections.Counter(r.request_id for r in records)
    assert all(n == 1 for n in counts.values()), counts
    return counts


def test_calls_whose_event_the_loop_end_cancelled_are_recorded_from_their_response(
    litellm_clean: Any,
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"})
    litellm_clean.callbacks = [_slow_callback(litellm_clean), logger]

    async def calls() -> list[Any]:
        return [
            await litellm_clean.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4"),
            await litellm_clean.acompletion(model="gpt-4o", messages=MSG, mock_response="4"),
        ]

    answers = asyncio.run(calls())
    assert logger.flush(timeout=60)
    records = logger.records()
    _one_per_call(records)
    assert sorted(r.request_id for r in records) == sorted(
        a._hidden_params["litellm_call_id"] for a in answers
    )
    assert sorted(r.model for r in records) == ["gpt-4o", "gpt-4o-mini"]
    usage = {a._hidden_params["litellm_call_id"]: a.usage for a in answers}
    # The first call's event was under way when the loop ended (the second's was still
    # queued, and LiteLLM's worker ran it at the loop's end).
    first = next(r for r in records if r.request_id == answers[0]._hidden_params["litellm_call_id"])
    assert first.tags["litellm.event_lost"] == "response"
    for record in records:
        # Built from the response LiteLLM returned: its usage, priced as LiteLLM priced it.
        assert record.success and not record.tokens_estimated
        assert record.output_tokens == usage[record.request_id].completion_tokens > 0
        assert record.cost_usd > 0 and record.tenant == "acme"
        assert "cost_mismatch" not in record.tags
    assert logger.flush(timeout=60)
    assert len(logger.records()) == 2


def test_a_streamed_call_whose_event_was_cancelled_is_recorded_with_counted_tokens(
    litellm_clean: Any,
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [_slow_callback(litellm_clean), logger]

    async def call() -> str:
        stream = await litellm_clean.acompletion(
            model="gpt-4o-mini", messages=MSG, mock_response="four, as always", stream=True
        )
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    assert asyncio.run(call()) == "four, as always"
    assert logger.flush(timeout=60)
    (record,) = logger.records()
    assert record.tags["litellm.event_lost"] == "stream"
    assert record.success and record.tokens_estimated and record.input_tokens > 0


def test_a_call_that_raises_is_recorded_once_as_failed(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [_slow_callback(litellm_clean), logger]

    async def call() -> None:
        await litellm_clean.acompletion(
            model="gpt-4o-mini", messages=MSG, mock_response=Exception("upstream down"), num_retries=0
        )

    with pytest.raises(Exception, match="upstream down"):
        asyncio.run(call())
    assert logger.flush(timeout=60)
    (record,) = logger.records()
    assert not record.success and "litellm.event_lost" not in record.tags


def test_a_call_cancelled_after_its_request_went_out_is_recorded_as_failed(litellm_clean: Any) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from llm_cost_hooks.litellm import CostHooksLogger

    arrived, answered = threading.Event(), threading.Event()

    class SlowProvider(BaseHTTPRequestHandler):  # answers after the caller gave up
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            answered.wait(30)
            body = {"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}  # fmt: skip
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowProvider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]

    async def call() -> None:
        task = asyncio.ensure_future(
            litellm_clean.acompletion(
                model="openai/gpt-4o-mini",
                messages=MSG,
                num_retries=0,
                api_key="test",
                api_base=f"http://127.0.0.1:{server.server_port}/v1",
            )
        )
        # The caller gives up once the request is out: LiteLLM may take seconds to send it
        # on a loaded machine.
        deadline = time.monotonic() + 60
        while not arrived.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(task, 0.01)

    try:
        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(call())
        assert arrived.is_set()
        assert logger.flush(timeout=60)
        (record,) = logger.records()
    finally:
        answered.set()
        server.shutdown()
    # Seen as the cancellation it is, while the loop still ran (not left to the loop's end).
    assert record.tags["litellm.cancelled"] == "request" and record.error_type == "CancelledError"
    assert not record.success and record.input_tokens > 0 and record.tokens_estimated


def test_no_call_is_recorded_twice(litellm_clean: Any) -> None:
    """Sync, async, streamed, routed, failed and cache-served calls: one record each, whether
    the events arrive in the loop (``aflush``), after it (``flush``) or are cut by its end."""
    from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger, LiteLLMSemanticCache
    from llm_cost_hooks.routing import Rule, RuleRouter

    router = litellm_clean.Router(
        model_list=[
            {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "4"}},
            {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "4"}},
        ],
        num_retries=0,
    )
    CostAwareRouting(
        router, RuleRouter([Rule(tier="small", feature=["faq"])], default="large"), tiers=["small", "large"]
    )

    async def calls(logger: Any, end_with_aflush: bool) -> int:
        n = 0
        await litellm_clean.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
        stream = await litellm_clean.acompletion(
            model="gpt-4o", messages=MSG, mock_response="4 it is", stream=True
        )
        async for _ in stream:
            pass
        await router.acompletion(model="auto", messages=MSG, metadata={"feature": "faq"})
        await router.acompletion(model="auto", messages=MSG, metadata={"feature": "other"})
        n += 4
        try:
            await litellm_clean.acompletion(
                model="gpt-4o-mini", messages=MSG, mock_response=Exception("boom"), num_retries=0
            )
        except Exception:
            n += 1
        await asyncio.gather(
            *(
                litellm_clean.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
                for _ in range(3)
            )
        )
        n += 3
        if end_with_aflush:
            assert await logger.aflush()
        return n

    for end_with_aflush in (True, False):
        for slow in (False, True):
            logger = CostHooksLogger(ledger="memory://")
            litellm_clean.callbacks = [_slow_callback(litellm_clean), logger] if slow else [logger]
            litellm_clean.cache = None
            expected = litellm_clean.completion(model="gpt-4o-mini", messages=MSG, mock_response="4") and 1
            expected += asyncio.run(calls(logger, end_with_aflush and not slow))
            # A short flush cuts the delivery of events the slow callback still holds;
            # then every record is written before counting (a loaded machine is slow).
            logger.flush(timeout=1.0 if slow else 10.0)
            assert logger.flush(timeout=60)
            counts = _one_per_call(logger.records())
            assert sum(counts.values()) == expected, (end_with_aflush, slow, counts)
            assert logger.flush(timeout=60)
            assert len(logger.records()) == expected

    # A cache hit through our LiteLLM cache: one record for the paid call, one for each hit,
    # also when the loop ends as the async hit's event starts.
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Refund policy?"}]}
    for end_with_aflush in (True, False):
        logger = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"})
        litellm_clean.callbacks = [logger]
        litellm_clean.cache = LiteLLMSemanticCache(path=":memory:", semantic=False)

        async def call(answer: str, logger: Any, aflush: bool) -> None:
            await litellm_clean.acompletion(**ask, mock_response=answer)
            if aflush:
                assert await logger.aflush()

        asyncio.run(call("Within 30 days.", logger, True))
        asyncio.run(call("paid again", logger, end_with_aflush))
        litellm_clean.completion(**ask, mock_response="paid again")
        assert logger.flush()
        # A sync hit's event comes from LiteLLM's logging thread, with no pre-call event that
        # flush() could wait for: let it land.
        deadline = time.monotonic() + 60
        while len(logger.records()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert logger.flush()
        records = logger.records()
        _one_per_call(records)
        assert sorted(r.cache_status.value for r in records) == ["exact", "exact", "miss"], end_with_aflush
        hits = [r for r in records if r.cache_status.value == "exact"]
        assert all(r.cost_usd == 0 and r.saved_usd > 0 and r.tenant == "acme" for r in hits)


_SCRIPT = """
import asyncio, sys
import litellm
from llm_cost_hooks.litellm import CostHooksLogger

litellm.callbacks = [CostHooksLogger(ledger=sys.argv[1])]
ask = dict(model="gpt-4o-mini", mock_response="an answer", metadata={"tenant_id": "acme"})

async def main():
    for i in range(5):
        await litellm.acompletion(messages=[{"role": "user", "content": f"question {i}"}], **ask)
    await asyncio.gather(*(
        litellm.acompletion(messages=[{"role": "user", "content": f"other {i}"}], **ask) for i in range(5)
    ))

asyncio.run(main())
"""


def test_ten_calls_of_a_loop_that_ends_at_once_are_all_in_the_ledger(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id FROM cost_records").fetchall()
    assert len(rows) == 10 and len(set(rows)) == 10, done.stderr[-2000:]
    assert not list(tmp_path.glob("*dead-letter*")), done.stderr[-2000:]
