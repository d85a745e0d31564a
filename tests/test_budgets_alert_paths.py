"""Every way a shared budget total can grow ends in a check of the total it produced: a
threshold or the limit crossed is alerted, whichever process, outage or restart made the
crossing. Each test injects its fault at one exact point (no timing)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    InProcessSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
)

LIMIT = Limit.usd(0.001, per="day", scope="tenant", name="daily", alert_at=(0.5, 0.8, 1.0))
REQ = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
BIG = REQ.model_copy(update={"max_output_tokens": 1600})  # holds 0.000975 of the 0.001


def _guard(url: str, events: list, journal: Any = None, prefix: str = "paths") -> SpendGuard:
    """One process's view of the shared budget (its own store, client id and alert flags)."""
    store = FailoverSpendStore(RedisSpendStore(url, prefix=prefix), retry_after=0.0, journal=journal)
    return SpendGuard(
        [LIMIT], store=store, alerts=AlertManager([events.append], log=False, span_events=False)
    )


def _kinds(events: list) -> set[tuple[str, float | None, str | None]]:
    return {(e.kind, e.threshold, e.reason) for e in events}


def _flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushall()  # Redis restarted without persistence


@contextlib.contextmanager
def _unreachable(store: RedisSpendStore) -> Iterator[None]:
    """Every call of ``store`` fails as a dead server's would, until the block ends."""

    def call(fn: Any) -> Any:
        raise store._unavailable(ConnectionError("injected"))

    async def acall(fn: Any) -> Any:
        raise store._unavailable(ConnectionError("injected"))

    store._call, store._acall = call, acall  # type: ignore[method-assign]
    try:
        yield
    finally:
        del store._call, store._acall


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_put_back_in_a_reserve_that_takes_the_total_past_the_limit_is_alerted(
    redis_clean_url: str, mode: str
) -> None:
    a_events: list = []
    b_events: list = []
    a, b = _guard(redis_clean_url, a_events), _guard(redis_clean_url, b_events)
    a.reserve(BIG).settle(0.0006)
    _flush(redis_clean_url)
    b.reserve(BIG).settle(0.0005)  # the new server's total: B's half only
    assert _kinds(b_events) == {("threshold", 0.5, None)}
    # A's next call is a reserve: it puts its 0.0006 back first, and that crossing is news.
    with pytest.raises(BudgetExceeded):
        if mode == "sync":
            a.reserve(REQ)
        else:
            asyncio.run(a.areserve(REQ))
    assert a.spent(LIMIT, "acme") == pytest.approx(0.0011)
    assert {("threshold", 0.8, None), ("threshold", 1.0, None), ("overspend", None, "over_limit")} <= _kinds(
        a_events
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_put_back_that_fails_is_tried_again_at_the_next_call(redis_clean_url: str, mode: str) -> None:
    import redis

    store = RedisSpendStore(redis_clean_url, prefix="retry")
    assert store.reserve("a", ["k"], [1000], [30], [600], 60).ok
    store.settle("a", ["k"], [30], [600])
    _flush(redis_clean_url)
    real = store._script if mode == "sync" else store._ascript
    failed: list[str] = []

    def flaky(name: str, source: str) -> Any:
        script = real(name, source)
        if name != "restore" or failed:
            return script
        failed.append(name)

        def lost(**kw: Any) -> Any:  # the connection drops as the put-back is sent
            raise redis.ConnectionError("injected")

        async def alost(**kw: Any) -> Any:
            raise redis.ConnectionError("injected")

        return lost if mode == "sync" else alost

    if mode == "sync":
        store._script = flaky  # type: ignore[method-assign]
        spent = store.settle("b", ["k"], [20], [600])
    else:
        store._ascript = flaky  # type: ignore[method-assign]
        spent = asyncio.run(store.asettle("b", ["k"], [20], [600]))
    assert failed and spent == [20]  # the settlement is counted; the put-back waits
    assert store.usage("k") == (50, 0)  # and is made at the next call


def test_a_usage_read_after_a_restart_puts_back_first(redis_clean_url: str) -> None:
    store = RedisSpendStore(redis_clean_url, prefix="read")
    assert store.reserve("a", ["k"], [1000], [30], [600], 60).ok
    store.settle("a", ["k"], [30], [600])
    _flush(redis_clean_url)
    assert store.usage("k") == (30, 0)
    assert store.usage("k") == (30, 0)  # once


def test_replayed_spend_is_checked_before_it_leaves_the_journal(redis_clean_url: str, tmp_path: Path) -> None:
    events: list = []
    other = _guard(redis_clean_url, events)
    other.reserve(BIG).settle(0.0008)
    dying_events: list = []
    dying = _guard(redis_clean_url, dying_events, journal=tmp_path)
    store = dying.store
    with _unreachable(store.primary):
        dying.reserve(BIG).settle(0.0005)  # fail-open: local, journalled
    assert store.journal.pending == 1

    def killed(keys: Any, spent: Any) -> None:
        raise SystemExit("killed between the replay and its alerts")

    store.on_replay = killed
    with pytest.raises(SystemExit):
        dying.usage(LIMIT, "acme")  # Redis is back: the replay reaches it, then the process dies
    store.journal._file.close()  # its lock goes with the process
    assert _kinds(dying_events) == {("threshold", 0.5, None)}  # its local total, during the outage
    heir_events: list = []
    heir = _guard(redis_clean_url, heir_events, journal=tmp_path)
    assert heir.spent(LIMIT, "acme") == pytest.approx(0.0013)  # adopted; counted once
    assert {("threshold", 1.0, None), ("overspend", None, "replayed")} <= _kinds(heir_events)


def test_a_refused_reservation_tells_the_total_a_later_outage_starts_from(redis_clean_url: str) -> None:
    a_events: list = []
    a, b = _guard(redis_clean_url, a_events), _guard(redis_clean_url, [])
    a.reserve(REQ).settle(0.00002)
    b.reserve(BIG).settle(0.0009)
    with pytest.raises(BudgetExceeded):
        a.reserve(BIG)  # A learns the total is 0.00092
    with _unreachable(a.store.primary), pytest.raises(BudgetExceeded):
        a.reserve(BIG)  # fail-open from 0.00092, not from the 0.00002 A had settled


def test_after_a_restart_a_later_outage_starts_from_the_total_after_the_put_back(
    redis_clean_url: str,
) -> None:
    a = _guard(redis_clean_url, [])
    a.reserve(BIG).settle(0.00093)
    _flush(redis_clean_url)
    a.store.primary.settle("late", [a._plan(REQ).keys[0]], [10_000], [600])  # sees the restart
    with _unreachable(a.store.primary), pytest.raises(BudgetExceeded):
        a.reserve(REQ)  # fail-open from 0.00094, not from the 0.00001 the settle itself reported


def test_a_total_past_the_limit_is_alerted_after_an_earlier_call_settled_above_its_hold(
    redis_clean_url: str,
) -> None:
    events: list = []
    a = _guard(redis_clean_url, events)
    a.reserve(REQ).settle(0.0001)  # above its 0.000075 hold: a per-call overspend
    assert ("overspend", None, "above_reservation") in _kinds(events)
    with _unreachable(a.store.primary):
        # fail-open from the 0.0001 seen: 0.000855 held, settled at 0.00095
        a.reserve(REQ.model_copy(update={"max_output_tokens": 1400})).settle(0.00095)
    a.usage(LIMIT, "acme")  # Redis is back: the replay takes the total to 0.00105
    # The limit passed is news of its own (seen first on the local total, or on the replay).
    assert _kinds(events) & {("overspend", None, "over_limit"), ("overspend", None, "replayed")}


class _NoFlags(InProcessSpendStore):
    def once(self, flag: str, ttl: int) -> bool:
        raise RuntimeError("flag store down")


def test_an_alert_whose_bookkeeping_fails_is_still_raised() -> None:
    events: list = []
    guard = SpendGuard(
        [LIMIT], store=_NoFlags(), alerts=AlertManager([events.append], log=False, span_events=False)
    )
    guard.reserve(BIG).settle(0.0006)
    assert _kinds(events) == {("threshold", 0.5, None)}


_EXITING = """
import sys
from llm_cost_hooks.budget import AlertEvent, WebhookSink
sink = WebhookSink(sys.argv[1], retries=1, backoff=2.0)
sink.send(AlertEvent(kind="threshold", limit_name="daily", scope="tenant", scope_value="acme",
                     period="day", period_id="d", spent=1.0, limit=1.0, threshold=1.0))
"""


def test_a_webhook_alert_queued_when_the_process_exits_is_delivered() -> None:
    got: list[int] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append(len(got))
            # The first attempt fails: the retry comes after the process has ended its work.
            self.send_response(503 if len(got) == 1 else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        root = str(Path(__file__).resolve().parent.parent)
        done = subprocess.run(
            [sys.executable, "-c", _EXITING, url], cwd=root, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert got == [0, 1]  # retried and delivered before the exit
    finally:
        server.shutdown()
