"""A worker process for the cross-process budget and dedup tests (run as a script).

    python tests/_budgets_worker.py guard  <redis_url> <reserve|naive> <calls> <budget_usd> <start_at>
    python tests/_budgets_worker.py dedup  <redis_url> <calls> <idempotency_key> <start_at>
    python tests/_budgets_worker.py outage <redis_url> <budget_usd> <journal_dir> <sync_dir>

Prints one JSON line with what this process saw. ``start_at`` (a time.time() value) lines
the processes up so their calls really overlap. The outage worker reports its state after
each batch in ``sync_dir/state-<pid>.json`` (the test waits on it) and stops once
``sync_dir/stop`` exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# The checkout under test, not whatever copy is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks._records import TokenUsage
from llm_cost_hooks.budget import AlertManager, Limit, RedisSpendStore, SpendGuard, SpendRequest
from llm_cost_hooks.dedup import RedisSingleFlight
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel
from llm_cost_hooks.tokens import count_message_tokens

ANSWER = "The Acorn Guest House is a cheap 4-star guesthouse in the north with free parking and wifi."
TENANT = "acme"
MAX_TOKENS = 300


def _slow(delay: float):
    def respond(messages):
        time.sleep(delay)  # an upstream call that takes a while
        return ANSWER

    return respond


def _wait(start_at: float) -> None:
    time.sleep(max(start_at - time.time(), 0))


async def _guarded_call(model, guard, text: str, costs: list[float]) -> bool:
    """One call for the tenant through ``model``; its real cost goes to ``costs``. False if refused."""
    try:
        msg = await model.ainvoke(text, config={"metadata": {"tenant_id": TENANT}})
    except BudgetExceeded:
        return False
    um = msg.usage_metadata
    costs.append(
        guard.cost_of(
            TokenUsage(input_tokens=um["input_tokens"], output_tokens=um["output_tokens"]),
            model.inner.model_name,
        )
    )
    return True


async def guard_worker(url: str, mode: str, calls: int, budget: float, start_at: float) -> dict:
    limit = Limit.usd(budget, per="day", scope="tenant", name="tenant_daily")
    fake = FakeChatModelWithUsage(respond=_slow(0.02), max_tokens=MAX_TOKENS)
    # A generous socket timeout: on a loaded CI box a 2 s stall would be a fail-open
    # "outage", which is not what this test is about (test_redis_down_* covers outages).
    store = RedisSpendStore(url, socket_timeout=15.0, connect_timeout=5.0)
    guard = SpendGuard([limit], store=store, alerts=AlertManager(log=False, span_events=False))
    model = GuardedChatModel(inner=fake, guard=guard)
    prompt = "Find me a cheap hotel in the north of Cambridge with free parking."
    costs: list[float] = []
    refused = 0

    def worst_for(text: str) -> float:
        tokens = count_message_tokens([{"role": "user", "content": text}], fake.model_name)
        request = SpendRequest(model=fake.model_name, input_tokens=tokens, max_output_tokens=MAX_TOKENS)
        return guard.estimate(request)[2]

    async def reserved_call(i: int) -> None:
        nonlocal refused
        if not await _guarded_call(model, guard, f"{prompt} #{i}", costs):
            refused += 1  # counted after the await: concurrent calls never lose an update

    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url)
    key = "naive:spent:" + TENANT

    async def naive_call(i: int) -> None:
        # Check-then-spend without a reservation: the race the guard exists to prevent.
        nonlocal refused
        spent = float(await client.get(key) or 0)
        if spent + worst_for(f"{prompt} #{i}") > budget:
            refused += 1
            return
        msg = await fake.ainvoke(f"{prompt} #{i}")
        um = msg.usage_metadata
        cost = guard.cost_of(
            TokenUsage(input_tokens=um["input_tokens"], output_tokens=um["output_tokens"]), fake.model_name
        )
        costs.append(cost)
        await client.incrbyfloat(key, cost)

    _wait(start_at)
    call = reserved_call if mode == "reserve" else naive_call
    await asyncio.gather(*(call(i) for i in range(calls)))
    await client.aclose()
    worst = max(worst_for(f"{prompt} #{i}") for i in range(calls))
    return {
        "ok": len(costs),
        "refused": refused,
        "spent": sum(costs),
        "calls": fake.call_count,
        "worst": worst,
        "outages": guard.store.outages,
    }


async def dedup_worker(url: str, calls: int, key: str, start_at: float) -> dict:
    fake = FakeChatModelWithUsage(respond=_slow(0.5))
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(inner=fake, dedup=RedisSingleFlight(url, result_ttl=60))
    _wait(start_at)
    config = {"callbacks": [handler], "metadata": {"idempotency_key": key}}
    answers = await asyncio.gather(
        *(model.ainvoke("Book the Acorn Guest House.", config=config) for _ in range(calls))
    )
    records = handler.records()
    return {
        "calls": fake.call_count,
        "answers": sorted({a.content for a in answers}),
        "statuses": dict(Counter(r.cache_status.value for r in records)),
        "cost": sum(r.cost_usd for r in records),
        "saved": sum(r.saved_usd for r in records),
    }


DEDUP_SLOT = 0.25  # seconds: every process asks for the same dedup key within a slot
DEDUP_UPSTREAM = 0.05
UP_CALLS = 8  # guarded calls on Redis before the outage; then calls wait for ``sync_dir/paused``


def _write_state(sync_dir: str, state: dict) -> None:
    path = os.path.join(sync_dir, f"state-{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)  # the test never reads half a file


async def outage_worker(url: str, budget: float, journal: str, sync_dir: str) -> dict:
    """Guarded calls in batches of 4, and one cross-process single-flight call per
    ``DEDUP_SLOT`` (key = the slot), until the test writes ``sync_dir/stop`` while it pauses
    and kills Redis; then waits until everything journalled meanwhile is replayed and every
    alert is delivered. Says it is ready by a file in ``sync_dir`` and starts at the time
    the test writes to ``sync_dir/go``. After ``UP_CALLS`` guarded calls it makes no more
    until the test writes ``sync_dir/paused`` (Redis is paused): however slowly the test
    gets there, the budget is as open when the outage starts."""
    from llm_cost_hooks.budget import FailoverSpendStore

    limit = Limit.usd(budget, per="day", scope="tenant", name="tenant_daily", alert_at=(0.8, 1.0))
    fake = FakeChatModelWithUsage(respond=_slow(0.02), max_tokens=MAX_TOKENS)
    store = FailoverSpendStore(
        RedisSpendStore(url, socket_timeout=0.3, connect_timeout=0.3), retry_after=0.2, journal=journal
    )
    events: list = []
    guard = SpendGuard(
        [limit], store=store, alerts=AlertManager([events.append], log=False, span_events=False)
    )
    model = GuardedChatModel(inner=fake, guard=guard)
    # Timeouts well above a loaded machine's stalls (a 2-core box at load 25 stalls every
    # process for seconds now and then): an outage here must be a real one, and a waiter
    # that gives up on its leader must have had a leader that really did not answer.
    flights = RedisSingleFlight(
        url, socket_timeout=1.0, connect_timeout=1.0, retry_after=0.2, wait_timeout=6.0, lock_ttl=10.0
    )
    costs: list[float] = []
    refused = 0
    refused_degraded = 0
    degraded_batches = 0
    seeded: list[int] = []
    original_seed = store.fallback.seed

    def seed(key: str, units: int, ttl: int) -> None:
        seeded.append(units)
        original_seed(key, units, ttl)

    store.fallback.seed = seed

    async def one(i: int) -> None:
        nonlocal refused, refused_degraded
        if not await _guarded_call(model, guard, f"Find me a cheap hotel in the north, #{i}", costs):
            refused += 1
            refused_degraded += store.degraded

    paid_slots: list[int] = []  # paid through Redis single-flight
    fallback_slots: list[int] = []  # paid while Redis did not answer (local single-flight only)
    timeout_slots: list[int] = []  # paid by a waiter whose leader's answer never came in time
    dedup_calls: list[list] = []  # [slot, source, seconds]
    dedup_errors: list[str] = []  # a single-flight call that raised (the test fails on any)
    dedup_pending: set = set()

    async def dedup_call(slot: int) -> None:
        async def upstream() -> dict:
            # An open breaker here means this call fell back to local single-flight.
            if time.monotonic() - t0 >= flights.wait_timeout:
                timeout_slots.append(slot)
            else:
                (paid_slots if flights.breaker.is_closed else fallback_slots).append(slot)
            await asyncio.sleep(DEDUP_UPSTREAM)
            return {"slot": slot, "by": os.getpid()}

        t0 = time.monotonic()
        flight = await flights.ado(f"slot-{os.getppid()}-{slot}", upstream)
        assert flight.value["slot"] == slot
        dedup_calls.append([slot, flight.source, time.monotonic() - t0])

    def dedup_done(task: asyncio.Future) -> None:
        dedup_pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            dedup_errors.append(repr(task.exception())[:300])

    async def dedup_loop(stop: asyncio.Event) -> None:
        tasks = []
        last = None
        while not stop.is_set():
            slot = int(time.time() / DEDUP_SLOT)
            if slot != last:
                last = slot
                task = asyncio.ensure_future(dedup_call(slot))
                dedup_pending.add(task)
                task.add_done_callback(dedup_done)
                tasks.append(task)
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    # Warm up (tokenizer load, first LangChain call, the guard's scripts and lease thread, on
    # a budget of its own) so every call in the window is real work.
    count_message_tokens([{"role": "user", "content": "warm up"}], fake.model_name)
    await model.ainvoke("warm up", config={"metadata": {"tenant_id": "warm-up"}})
    warm_calls = fake.call_count

    async def warm() -> int:
        return 0

    # Imports and the first connection are done before the start: a slow first call on a
    # loaded machine is not an outage.
    while (await flights.ado(f"warm-{os.getpid()}-{time.time_ns()}", warm)).source != "leader" or (
        not flights.breaker.is_closed
    ):
        await asyncio.sleep(0.2)
    warm_opens = flights.breaker.opens
    open(os.path.join(sync_dir, f"ready-{os.getpid()}"), "w").close()
    go = os.path.join(sync_dir, "go")
    while not os.path.exists(go):
        time.sleep(0.02)
    time.sleep(0.05)
    with open(go) as f:
        start_at = float(f.read())
    _wait(start_at)
    began = time.time()
    stop_dedup = asyncio.Event()
    dedup = asyncio.ensure_future(dedup_loop(stop_dedup))
    i = 0
    stop = os.path.join(sync_dir, "stop")
    paused = os.path.join(sync_dir, "paused")

    def state() -> None:
        _write_state(
            sync_dir,
            {
                "pid": os.getpid(),
                "batches": i // 4,
                "ok": len(costs),
                "refused": refused,
                "refused_degraded": refused_degraded,
                "degraded_batches": degraded_batches,
                "outages": store.outages,
                "degraded": store.degraded,
                "pending": store.journal.pending,
                "dedup_calls": len(dedup_calls),
                "dedup_pending": len(dedup_pending),
                "dedup_errors": dedup_errors[-3:],
                "dedup_closed": flights.breaker.is_closed,
                "dedup_opens": flights.breaker.opens - warm_opens,
            },
        )

    while not os.path.exists(stop) and time.time() < start_at + 600:
        if len(costs) >= UP_CALLS and not os.path.exists(paused):
            state()  # single-flight calls go on meanwhile
            await asyncio.sleep(0.02)
            continue
        degraded_batches += store.degraded
        await asyncio.gather(*(one(i + j) for j in range(4)))
        i += 4
        state()
    stop_dedup.set()
    await dedup
    deadline = time.monotonic() + 60
    while (store.journal.pending or store.degraded) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        guard.usage(limit, TENANT)  # any shared-store call replays the journal first
    delivered = guard.alerts.flush(30.0)  # every alert raised has reached its sinks
    tokens = count_message_tokens(
        [{"role": "user", "content": "Find me a cheap hotel in the north, #100"}], fake.model_name
    )
    worst = guard.estimate(
        SpendRequest(model=fake.model_name, input_tokens=tokens, max_output_tokens=MAX_TOKENS)
    )[2]
    return {
        "ok": len(costs),
        "refused": refused,
        "spent": sum(costs),
        "worst": worst,
        "outages": store.outages,
        "replayed": store.replayed,
        "pending": store.journal.pending,
        "set_aside": store.journal.set_aside,
        "restarts": store.primary.restarts,
        "seeded": seeded,
        "calls": fake.call_count - warm_calls,
        "ran": [began, time.time()],
        "alerts": [[e.kind, e.threshold, e.reason] for e in events],
        "alerts_delivered": delivered,
        "overspend": {k: v for k, v in guard.overspend.items()},
        "paid_slots": paid_slots,
        "fallback_slots": fallback_slots,
        "timeout_slots": timeout_slots,
        "dedup_calls": dedup_calls,
        "dedup_opens": flights.breaker.opens - warm_opens,
        "dedup_closed": flights.breaker.is_closed,
        "wait_timeout": flights.wait_timeout,
        "redis_bound": 2.0,  # connect + socket timeout of the single-flight
    }


def main(argv: list[str]) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # the test shows it on failure
    kind, url = argv[0], argv[1]
    if kind == "guard":
        out = asyncio.run(guard_worker(url, argv[2], int(argv[3]), float(argv[4]), float(argv[5])))
    elif kind == "outage":
        out = asyncio.run(outage_worker(url, float(argv[2]), argv[3], argv[4]))
    elif kind == "dedup":
        out = asyncio.run(dedup_worker(url, int(argv[2]), argv[3], float(argv[4])))
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
