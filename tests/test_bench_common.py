"""The benchmarks' interleaved CPU harness: who is charged for background work, and the
ratio and intervals the CPU rows print."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from bench._common import Arm, CallCost, interleaved_cost, ratio_interval, threads_started_by

BURN = 300e-6  # CPU seconds a background job burns per call


def _burner() -> tuple[queue.Queue[object], threading.Thread]:
    jobs: queue.Queue[object] = queue.Queue()

    def work() -> None:
        while True:
            job = jobs.get()
            if job is None:
                jobs.task_done()
                return
            t0 = time.thread_time()
            while time.thread_time() - t0 < BURN:
                pass
            jobs.task_done()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return jobs, thread


def test_threads_started_by_returns_the_new_threads_only() -> None:
    (jobs, thread), started = threads_started_by(_burner)
    try:
        assert started == [thread]
    finally:
        jobs.put(None)
        thread.join()


def test_background_cpu_is_charged_to_the_side_that_owns_the_thread() -> None:
    (jobs, worker), owned = threads_started_by(_burner)
    # A thread of no side burns CPU too: it must not be charged to either side.
    (other_jobs, other), _ = threads_started_by(_burner)
    try:

        def idle() -> None:
            other_jobs.put(1)

        run = interleaved_cost(
            {
                "idle": Arm(idle, drain=other_jobs.join),
                "queues": Arm(lambda: jobs.put(1), owned, jobs.join),
            },
            block=5,
            blocks_per_round=4,
            rounds=6,
            warmup=2,
        )
    finally:
        for q, t in ((jobs, worker), (other_jobs, other)):
            q.put(None)
            t.join()
    cost = run.cost
    assert run.calls == 6 * 20 and len(cost["queues"].process) == 6
    process_over, lo, hi = cost["queues"].excess(cost["idle"], "process")
    # Every call burned BURN seconds of the owned thread's CPU: all of it is counted, once.
    assert BURN * 0.95 <= process_over < BURN * 1.9
    assert lo <= process_over <= hi
    # ... none of it on the caller's clock, and the other thread's burn on neither side.
    assert cost["queues"].excess(cost["idle"], "thread")[0] < BURN / 3
    assert cost["idle"].mean("process") < BURN / 3
    assert run.unowned_cpu * 2 >= BURN * 0.95  # the other thread's burn, per call of two sides


def _cost(values: list[float]) -> CallCost:
    return CallCost(wall=list(values), thread=list(values), process=list(values))


def test_ratio_interval_is_a_ratio_of_totals_with_a_repeatable_interval() -> None:
    base = _cost([100.0, 140.0, 90.0, 200.0, 120.0])
    anchor = _cost([b + d for b, d in zip(base.process, [30.0, 10.0, 50.0, 25.0, 35.0])])
    num = _cost([b + d for b, d in zip(base.process, [45.0, 30.0, 60.0, 40.0, 50.0])])
    value, lo, hi = ratio_interval(num, anchor, base)
    # (sum of num - base) / (sum of anchor - base), not a median of per-round ratios.
    assert value == pytest.approx(225.0 / 150.0)
    assert lo <= value <= hi and hi - lo > 0.05
    assert ratio_interval(num, anchor, base) == (value, lo, hi)

    exact = _cost([b + 2 * d for b, d in zip(base.process, [30.0, 10.0, 50.0, 25.0, 35.0])])
    assert ratio_interval(exact, anchor, base) == pytest.approx((2.0, 2.0, 2.0))


def test_excess_is_the_mean_paired_difference() -> None:
    a = _cost([10.0, 12.0, 50.0, 11.0])
    b = _cost([9.0, 9.0, 9.0, 9.0])
    mean, lo, hi = a.excess(b, "process")
    # The round where the collector ran counts: CPU is paid on average.
    assert mean == pytest.approx((1 + 3 + 41 + 2) / 4)
    assert lo <= mean <= hi
