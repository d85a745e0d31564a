"""Shared budgets through Redis outages: 4 processes spend while the real Redis server is
paused (SIGSTOP) and then killed and restarted empty. Afterwards the total Redis reports
must equal the spend made (within one request's worst case), and over-spend during the
outage must stay within the documented bound and be alerted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _servers import RedisServer, ServerStartError

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

WORKER = str(Path(__file__).resolve().parent / "_budgets_worker.py")
PROCESSES = 4
WAIT = 120.0  # seconds any one phase may take on a loaded machine before the test gives up
DEDUP_SLOT = 0.25  # as in the worker


class _Workers:
    """The worker processes and the state each one reports after every batch."""

    def __init__(self, procs: list[subprocess.Popen], sync: Path, logs: list[Path]) -> None:
        self.procs = procs
        self.sync = sync
        self.logs = logs

    def log(self, i: int) -> str:
        """The tail of worker ``i``'s log (a file, not a pipe: a pipe nobody reads while
        the test waits fills up and stops the worker at its next log line)."""
        return self.logs[i].read_text(errors="replace")[-3000:]

    def states(self) -> list[dict]:
        out = []
        for path in sorted(self.sync.glob("state-*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                pass  # being replaced right now: read it at the next poll
        return out

    def snapshot(self, field: str) -> dict[int, Any]:
        return {st["pid"]: st[field] for st in self.states()}

    def wait(self, what: str, each: Callable[[dict], bool]) -> list[dict]:
        """Wait until every worker's state satisfies ``each`` (state, not sleeps: the
        phases take as long as a loaded machine needs)."""
        deadline = time.monotonic() + WAIT
        while True:
            states = self.states()
            if len(states) == PROCESSES and all(each(st) for st in states):
                return states
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise AssertionError(
                    f"a worker exited while waiting for {what}: {self.log(self.procs.index(dead[0]))}"
                )
            if time.monotonic() >= deadline:
                logs = "\n".join(f"--- worker {i}:\n{self.log(i)}" for i in range(len(self.procs)))
                raise AssertionError(f"timed out waiting for {what}: {states}\n{logs}")
            time.sleep(0.05)


def _outage_run(redis_server: Any, url: str, budget: float, journal: Path, exhaust: bool) -> list[dict]:
    """4 workers spend while Redis is paused, then killed and restarted empty. Each phase
    ends once every worker has lived through it (``exhaust``: until every worker's local
    budget refused a call during the pause, so the outage over-spend is the most the
    documented bound allows). Before the pause each worker makes a fixed number of calls
    (the worker's ``UP_CALLS``), so the budget left when the outage starts does not depend
    on how fast the machine is."""
    sync = journal.parent / "sync"
    sync.mkdir()
    logs = [journal.parent / f"worker-{i}.log" for i in range(PROCESSES)]
    procs = []
    for log in logs:
        with log.open("w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, WORKER, "outage", url, str(budget), str(journal), str(sync)],
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
    workers = _Workers(procs, sync, logs)
    try:
        deadline = time.monotonic() + WAIT
        while len(list(sync.glob("ready-*"))) < PROCESSES:  # all imported: start together
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), (
                "workers did not start"
            )
            time.sleep(0.05)
        start_at = time.time() + 0.5
        (sync / "go.tmp").write_text(repr(start_at))
        (sync / "go.tmp").rename(sync / "go")
        # Up: every worker has spent on Redis and deduplicated a few keys through it.
        workers.wait(
            "calls on Redis",
            lambda st: st["ok"] >= 8 and st["dedup_calls"] >= 12 and st["dedup_closed"],
        )
        pid = redis_server.pid
        opens = workers.snapshot("dedup_opens")
        faults: dict[str, Any] = {"paused_at": time.time()}
        os.kill(pid, signal.SIGSTOP)  # paused: connections hang, replies come late
        (sync / "paused").touch()  # the workers' calls go on, into the pause
        import redis

        try:
            redis.Redis.from_url(url, socket_timeout=0.3).ping()
            faults["pause"] = "ping answered while paused"
        except redis.exceptions.TimeoutError:
            faults["pause"] = "paused"
        # Each phase lasts until every worker's spend store and single-flight breaker saw it.
        if exhaust:
            workers.wait("a local refusal in every worker", lambda st: st["refused_degraded"] >= 1)
        else:
            workers.wait("calls during the pause", lambda st: st["degraded_batches"] >= 2)
        workers.wait("single-flight during the pause", lambda st: st["dedup_opens"] > opens[st["pid"]])
        os.kill(pid, signal.SIGCONT)
        batches = workers.snapshot("batches")
        workers.wait(
            "recovery from the pause",
            # The single-flight breaker closed again too: ``dedup_opens`` only counts a
            # closed breaker opening, so a kill while it is still open would never show.
            lambda st: (
                not st["degraded"]
                and st["pending"] == 0
                and st["batches"] > batches[st["pid"]] + 2
                and st["dedup_closed"]
            ),
        )
        outages, opens = workers.snapshot("outages"), workers.snapshot("dedup_opens")
        os.kill(pid, signal.SIGKILL)  # killed: everything Redis held is gone
        redis_server.stop()
        workers.wait(
            "the kill",
            lambda st: (
                st["outages"] > outages[st["pid"]] and st["degraded"] and st["dedup_opens"] > opens[st["pid"]]
            ),
        )
        redis_server.start()  # back, empty, same port
        workers.wait(
            "recovery from the kill",
            lambda st: not st["degraded"] and st["pending"] == 0 and st["dedup_closed"],
        )
        faults["up_at"] = time.time()
        calls = workers.snapshot("dedup_calls")
        workers.wait("dedup calls after recovery", lambda st: st["dedup_calls"] >= calls[st["pid"]] + 12)
        (sync / "stop").touch()
        results = []
        for i, p in enumerate(procs):
            out, _ = p.communicate(timeout=WAIT)
            assert p.returncode == 0, f"worker failed:\n{workers.log(i)}"
            results.append(
                {
                    **json.loads(out.strip().splitlines()[-1]),
                    "log": workers.log(i)[-1500:],
                    "faults": faults,
                    "pid": pid,
                }
            )
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if not redis_server.running:
            redis_server.start()


def _check_dedup(results: list[dict]) -> None:
    """Cross-process single-flight through the same outage: at most one call per key paid
    through Redis, ever (a result published late still reaches the waiters, a caller never
    leads a key already answered). Other paid calls only where the documented fallbacks
    apply: a process saw Redis not answer and went on alone (local single-flight), or a
    waiter's leader could not deliver within ``wait_timeout``; never while Redis is up,
    except a process's own fallback after a Redis call that timed out. No waiter past its
    timeout; each process's breaker opened and closed again."""
    faults = results[0]["faults"]
    paid: dict[int, int] = {}
    extra: dict[int, int] = {}
    for r in results:
        for slot in r["paid_slots"]:
            paid[slot] = paid.get(slot, 0) + 1
        for slot in r["fallback_slots"] + r["timeout_slots"]:
            extra[slot] = extra.get(slot, 0) + 1
    slots = {c[0] for r in results for c in r["dedup_calls"]}
    assert max(paid.values()) == 1, {s: n for s, n in paid.items() if n > 1}
    assert all(paid.get(s, 0) + extra.get(s, 0) <= PROCESSES for s in slots)
    # Margins: a call asked for in its slot may reach Redis up to a second later under load.
    up = [
        s
        for s in slots
        if (s + 1) * DEDUP_SLOT <= faults["paused_at"] - 1.0 or s * DEDUP_SLOT >= faults["up_at"] + 1.0
    ]
    assert len(up) >= 8, (sorted(slots), faults)
    timed_out = {s for r in results for s in r["timeout_slots"]}
    assert not timed_out & set(up), sorted(timed_out & set(up))
    assert all(paid.get(s) == 1 for s in up if s not in extra), {s: paid.get(s) for s in up}
    # Every request got an answer, none waited past its timeout (plus its own upstream
    # call, two bounded Redis round trips and a second of scheduling on a loaded machine).
    assert sum(len(r["dedup_calls"]) for r in results) >= len(slots)
    longest = max(c[2] for r in results for c in r["dedup_calls"])
    assert longest <= results[0]["wait_timeout"] + 2 * results[0]["redis_bound"] + 1.0, longest
    assert all(r["dedup_opens"] >= 1 and r["dedup_closed"] for r in results), [
        (r["dedup_opens"], r["dedup_closed"]) for r in results
    ]


@pytest.fixture
def redis_to_break() -> Any:
    """A Redis Stack server of this test's own: it is paused, killed and restarted."""
    server = RedisServer()
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(f"cannot start the Redis Stack server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


def _summary(results: list[dict]) -> list[dict]:
    keep = ("ok", "refused", "spent", "outages", "replayed", "restarts", "seeded", "alerts", "ran", "faults")
    return [{k: r[k] for k in keep} for r in results]


def _redis_usage(url: str, budget: float) -> tuple[float, float]:
    guard = SpendGuard(
        [Limit.usd(budget, per="day", scope="tenant", name="tenant_daily")],
        store=url,
        alerts=AlertManager(log=False, span_events=False),
    )
    return guard.usage("tenant_daily", "acme")


def test_spend_made_through_pause_and_kill_is_the_spend_redis_reports(redis_to_break, tmp_path):
    budget = 1000.0  # never binds: this test is about counting
    results = _outage_run(redis_to_break, redis_to_break.url, budget, tmp_path / "journal", exhaust=False)
    made = sum(r["spent"] for r in results)
    worst = max(r["worst"] for r in results)
    assert results[0]["faults"]["pause"] == "paused"  # the pause was real: Redis did not answer
    # Every process lived through the outage (the log says what each one saw).
    assert all(r["outages"] >= 1 for r in results), [(r["log"], r["ran"], r["faults"]) for r in results]
    assert sum(r["replayed"] for r in results) > 0  # and journalled spend that was replayed
    assert all(r["pending"] == 0 and r["set_aside"] == 0 for r in results)
    assert sum(r["calls"] for r in results) == sum(r["ok"] for r in results) > 100
    spent, reserved = _redis_usage(redis_to_break.url, budget)
    assert abs(spent - made) <= worst, (
        f"Redis reports {spent}, the processes spent {made} (worst call {worst})"
    )
    assert reserved == pytest.approx(0, abs=worst)  # at most one lost hold, freed by its lease
    assert not list((tmp_path / "journal").glob("*.jsonl")) or all(
        p.stat().st_size == 0 for p in (tmp_path / "journal").glob("*.jsonl")
    )
    _check_dedup(results)


def test_overspend_through_an_outage_is_bounded_and_alerted(redis_to_break, tmp_path):
    budget = 0.004  # binds within the run
    results = _outage_run(redis_to_break, redis_to_break.url, budget, tmp_path / "journal", exhaust=True)
    made = sum(r["spent"] for r in results)
    worst = max(r["worst"] for r in results)
    assert sum(r["refused"] for r in results) > 0, _summary(results)  # the budget was the constraint
    # The documented bound: during an outage each process may spend what was left of the
    # budget when it last saw the shared total (its seed), plus what it had in flight
    # (a batch of 4 calls).
    headroom = sum(max(budget * 1e9 - min(r["seeded"]), 0) / 1e9 if r["seeded"] else budget for r in results)
    assert made <= budget + headroom + PROCESSES * 4 * worst, (made, headroom, _summary(results))
    spent, _ = _redis_usage(redis_to_break.url, budget)
    assert abs(spent - made) <= worst
    assert all(r["alerts_delivered"] for r in results)
    kinds = [tuple(a) for r in results for a in r["alerts"]]
    # Four processes each spent what was left when the pause began: the shared total went
    # past the limit, and someone was told of every threshold and of the over-spend.
    assert made > budget + worst, _summary(results)
    assert {("threshold", 0.8, None), ("threshold", 1.0, None)} <= set(kinds), kinds
    assert any(k[0] == "overspend" for k in kinds), kinds
    _check_dedup(results)


async def _leader_and_waiter(url: str, leader_fn: Any, wait_timeout: float) -> tuple[list, list, float, Any]:
    """Two single-flights (two processes' views) on one key: A leads, B waits on Redis.
    Returns B's breaker too."""
    import asyncio

    from llm_cost_hooks.dedup import RedisSingleFlight

    calls: list[str] = []
    leading = asyncio.Event()
    key = f"order-{time.time_ns()}"
    a = RedisSingleFlight(
        url, socket_timeout=0.3, connect_timeout=0.3, wait_timeout=wait_timeout, retry_after=0.2
    )
    b = RedisSingleFlight(
        url, socket_timeout=0.3, connect_timeout=0.3, wait_timeout=wait_timeout, retry_after=0.2
    )

    async def paid(who: str) -> str:
        calls.append(who)
        if who == "a":
            leading.set()
            await leader_fn()
        return f"answer from {who}"

    first = asyncio.ensure_future(a.ado(key, lambda: paid("a")))
    await asyncio.wait_for(leading.wait(), 30)  # A holds the lock and is calling
    started = time.monotonic()
    second = await b.ado(key, lambda: paid("b"))
    waited = time.monotonic() - started
    return calls, [(await first).value, second.value, second.source], waited, b.breaker


async def test_dedup_waiter_rides_out_a_paused_redis_without_a_second_paid_call(redis_to_break) -> None:
    import asyncio

    async def leader() -> None:
        await asyncio.sleep(0.5)
        os.kill(redis_to_break.pid, signal.SIGSTOP)  # paused while B is waiting
        await asyncio.sleep(1.5)
        os.kill(redis_to_break.pid, signal.SIGCONT)
        await asyncio.sleep(0.3)

    calls, values, waited, breaker = await _leader_and_waiter(redis_to_break.url, leader, wait_timeout=20)
    assert calls == ["a"]  # one paid call
    assert values == ["answer from a", "answer from a", "inflight"]
    assert waited < 20
    # B's breaker opened while Redis did not answer and closed when it did.
    assert breaker.opens == 1 and breaker.is_closed


async def test_dedup_waiter_through_a_killed_redis_gets_the_answer_or_its_own_within_its_timeout(
    redis_to_break,
) -> None:
    import asyncio

    async def leader() -> None:
        await asyncio.sleep(0.5)
        os.kill(redis_to_break.pid, signal.SIGKILL)  # gone while B is waiting, back empty
        await asyncio.sleep(0.3)
        await asyncio.to_thread(redis_to_break.stop)
        await asyncio.to_thread(redis_to_break.start)

    calls, values, waited, breaker = await _leader_and_waiter(redis_to_break.url, leader, wait_timeout=30)
    # The leader publishes its answer once Redis is back; the waiter, having seen the
    # outage, waits for it instead of taking the now-missing lock and paying again.
    assert calls == ["a"] and values[1] == "answer from a"
    assert waited < 30
    assert breaker.opens == 1 and breaker.is_closed

    async def dead_leader() -> None:
        await asyncio.sleep(0.3)
        os.kill(redis_to_break.pid, signal.SIGKILL)
        await asyncio.to_thread(redis_to_break.stop)
        await asyncio.sleep(6)  # Redis stays down past the waiter's timeout

    calls, values, waited, breaker = await _leader_and_waiter(redis_to_break.url, dead_leader, wait_timeout=2)
    assert calls == ["a", "b"] and values[1] == "answer from b"  # never stuck: its own call
    assert waited < 2 + 1.5
    assert breaker.opens == 1 and not breaker.is_closed  # Redis is still down
    redis_to_break.start()
