"""One threshold alert per machine while Redis is away, and none again after it is back.

Four worker processes share one Redis budget and one state directory (one machine), each
with its own ``SpendGuard`` and a ``WebhookSink`` to a local receiver. Redis is paused
(SIGSTOP) between 25 % and 50 % of the limit; each worker then crosses 50 % and 80 % on its
local total. The receiver must get each threshold once. After Redis answers again the
journals are replayed, and a fifth worker that spent nothing during the outage pushes the
shared total further: no threshold alert is sent again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests._servers import RedisServer, ServerStartError, serve_http

WORKER = str(Path(__file__).resolve().parent / "_alert_once_worker.py")
OUTAGE_WORKERS = 4


@pytest.fixture
def redis_to_pause() -> Any:
    server = RedisServer()
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(f"cannot start the Redis Stack server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        if server.pid is not None:
            try:
                os.kill(server.pid, signal.SIGCONT)
            except OSError:
                pass
        server.close()


def _receiver() -> tuple[type[BaseHTTPRequestHandler], list[dict]]:
    got: list[dict] = []
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                got.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Hook, got


def _wait_files(
    sync: Path, names: list[str], what: str, procs: list[subprocess.Popen], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while not all((sync / n).exists() for n in names):
        dead = [p.args for p in procs if p.poll() not in (None, 0)]
        assert not dead, f"a worker died waiting for {what}: {dead}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _go(sync: Path, phase: str, indexes: range | list[int], procs: list[subprocess.Popen]) -> None:
    (sync / phase).touch()
    _wait_files(sync, [f"{phase}-{i}" for i in indexes], phase, procs)


def test_a_threshold_crossed_by_every_worker_during_an_outage_is_sent_once(redis_to_pause, tmp_path):
    sync = tmp_path / "sync"
    sync.mkdir()
    env = {**os.environ, "LLM_COST_HOOKS_STATE_DIR": str(tmp_path / "state")}
    env.pop("LLM_COST_HOOKS_SPEND_JOURNAL", None)
    handler, got = _receiver()
    with serve_http(handler) as hook:
        procs = []
        for i in range(OUTAGE_WORKERS + 1):
            phases = "up,seen,outage,back" if i < OUTAGE_WORKERS else "up,seen,late"
            cmd = [
                sys.executable,
                WORKER,
                redis_to_pause.url,
                hook + "/alerts",
                "2.0",
                str(sync),
                str(i),
                phases,
            ]
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
        try:
            everyone = range(OUTAGE_WORKERS + 1)
            _wait_files(sync, [f"ready-{i}" for i in everyone], "the workers to start", procs)
            _go(sync, "up", everyone, procs)  # 0.5 of 2.0 USD: 25 %
            _go(sync, "seen", everyone, procs)  # each worker saw 0.505 USD
            os.kill(redis_to_pause.pid, signal.SIGSTOP)
            try:
                # Each outage worker counts 0.505 + 1.2 USD locally: past 50 % and 80 %.
                _go(sync, "outage", range(OUTAGE_WORKERS), procs)
            finally:
                os.kill(redis_to_pause.pid, signal.SIGCONT)
            _go(sync, "back", range(OUTAGE_WORKERS), procs)  # journals replayed: 5.3 USD shared
            _go(sync, "late", [OUTAGE_WORKERS], procs)
            results = []
            for p in procs:
                out, err = p.communicate(timeout=60)
                assert p.returncode == 0, err[-3000:]
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert all(r["outages"] >= 1 for r in results[:OUTAGE_WORKERS]), results
    assert all(r["delivered"] and r["webhook_failed"] == 0 for r in results), results
    thresholds = Counter(a["threshold"] for a in got if a["kind"] == "threshold")
    assert thresholds == {0.5: 1, 0.8: 1}, (thresholds, results)
    # The worker that spent nothing during the outage sent nothing after it either.
    assert not [a for a in results[OUTAGE_WORKERS]["raised"] if a[0] == "threshold"], results


def _dead_redis_guard(journal: Path, events: list) -> Any:
    from llm_cost_hooks.budget import (
        AlertManager,
        FailoverSpendStore,
        Limit,
        RedisSpendStore,
        SpendGuard,
    )

    # Nothing listens on port 1: the store is "down" from the first call.
    store = FailoverSpendStore(
        RedisSpendStore("redis://127.0.0.1:1", connect_timeout=0.2), outage_after=0.0, journal=journal
    )
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily", alert_at=(0.5,))
    return SpendGuard(
        [limit], store=store, alerts=AlertManager([events.append], log=False, span_events=False)
    )


def _spend(guard: Any, usd: float) -> None:
    from llm_cost_hooks.budget import SpendRequest

    request = SpendRequest(model="gpt-4o", input_tokens=20_000, max_output_tokens=6_000, tenant="acme")
    with guard.reserve(request) as reservation:
        reservation.settle(usd)


def test_two_workers_sharing_a_journal_send_an_outage_alert_once(tmp_path):
    first: list = []
    second: list = []
    a = _dead_redis_guard(tmp_path, first)
    b = _dead_redis_guard(tmp_path, second)
    for guard in (a, b):
        for _ in range(6):
            _spend(guard, 0.1)
    a.alerts.close()
    b.alerts.close()
    assert [e.threshold for e in first + second if e.kind == "threshold"] == [0.5]
    assert (tmp_path / "alert-claims.sqlite3").exists()


def test_a_claim_whose_sender_died_is_taken_again_after_the_send_timeout(tmp_path):
    from llm_cost_hooks.budget._claims import AlertClaims

    now = [1000.0]
    path = tmp_path / "alert-claims.sqlite3"
    dead = AlertClaims(path, "ns", send_timeout=30.0, clock=lambda: now[0])
    alive = AlertClaims(path, "ns", send_timeout=30.0, clock=lambda: now[0])
    assert dead.claim("alert:x:0.5", 86_400) == "mine"  # and then its process dies: never sent
    assert alive.claim("alert:x:0.5", 86_400) == "claimed"
    now[0] += 31.0
    assert alive.peek("alert:x:0.5") is None
    assert alive.claim("alert:x:0.5", 86_400) == "mine"
    alive.sent("alert:x:0.5")
    now[0] += 3600.0  # a sent claim is never taken again while it lasts
    assert dead.claim("alert:x:0.5", 86_400) == "sent"


def test_a_worker_asks_again_while_another_holds_the_claim_unsent(tmp_path):
    events: list = []
    guard = _dead_redis_guard(tmp_path, events)
    store = guard.store
    for _ in range(4):
        _spend(guard, 0.1)
    # Another worker of this machine claimed 50 % and has not sent it yet (or died).
    flag_prefix = "alert:b:daily:tenant:"
    claims = store.claims
    real_claim = claims.claim
    taken: list[str] = []

    def claimed_elsewhere(flag: str, ttl: float) -> str:
        if flag.startswith(flag_prefix) and not taken:
            taken.append(flag)
            return "claimed"
        return real_claim(flag, ttl)

    claims.claim = claimed_elsewhere
    _spend(guard, 0.1)  # 50 %: claimed elsewhere, not sent here
    guard.alerts.flush()
    assert taken and not [e for e in events if e.kind == "threshold"]
    _spend(guard, 0.01)  # asked again at the next settle (here the claim is free)
    guard.alerts.close()
    assert [e.threshold for e in events if e.kind == "threshold"] == [0.5]


def test_an_alert_claimed_and_never_delivered_is_sent_by_another_worker(tmp_path):
    import threading

    from llm_cost_hooks.budget import AlertManager

    release = threading.Event()
    stuck: list = []
    a = _dead_redis_guard(tmp_path, [])
    # A's only sink never returns (its process is as good as dead before delivering).
    a.alerts = AlertManager(
        [lambda e: (stuck.append(e), release.wait(30))], log=False, span_events=False, sink_timeout=0.05
    )
    events: list = []
    b = _dead_redis_guard(tmp_path, events)
    try:
        for _ in range(6):
            _spend(a, 0.1)
        assert [e.threshold for e in stuck] == [0.5]  # A claimed 50 % and is sending it
        for _ in range(6):
            _spend(b, 0.1)
        b.alerts.flush()
        assert not [e for e in events if e.kind == "threshold"]  # B waits for A's claim
        b.store.claims.clock = lambda: time.time() + 31  # past the send timeout, still unsent
        _spend(b, 0.01)
        b.alerts.close()
        assert [e.threshold for e in events if e.kind == "threshold"] == [0.5]
    finally:
        release.set()
        a.alerts.close()


def test_after_the_outage_a_worker_that_never_alerted_does_not_resend_what_its_machine_sent(tmp_path):
    from llm_cost_hooks.budget import (
        AlertManager,
        FailoverSpendStore,
        InProcessSpendStore,
        Limit,
        SpendGuard,
        SpendJournal,
    )

    sent: list = []
    a = _dead_redis_guard(tmp_path, sent)
    for _ in range(6):
        _spend(a, 0.1)
    a.alerts.close()
    assert [e.threshold for e in sent if e.kind == "threshold"] == [0.5]
    # B shares A's machine and budget; its shared store answers (Redis is back) before A has
    # replayed its journal, so the shared flag of 50 % is not there yet.
    shared = InProcessSpendStore()
    store = FailoverSpendStore(shared, journal=SpendJournal(tmp_path, namespace=a.store.journal.namespace))
    events: list = []
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily", alert_at=(0.5,))
    b = SpendGuard([limit], store=store, alerts=AlertManager([events.append], log=False, span_events=False))
    for _ in range(6):
        _spend(b, 0.1)
    b.alerts.close()
    assert not [e for e in events if e.kind == "threshold"]
    flag = next(iter(a.store._local_flags))
    assert shared.once(flag, 60) is False  # B wrote the flag where the other machines see it
