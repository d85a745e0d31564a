"""A burst on one Redis spend limit while Redis stops answering for a moment, on a loaded box.

One process, one `SpendGuard(store="redis://...")`, a tenant it has never seen, limit $0.01
a day, $0.00045 a call (22 calls fit): ASYNC asyncio tasks and THREADS threads reserve and
settle at once. PAUSE_AFTER_MS after the burst starts, `CLIENT PAUSE` stops Redis answering for
PAUSE_MS milliseconds (commands queue, connections are accepted). BUSY busy-loop
processes load the CPU for the run. Prints one JSON line: calls admitted, the shared total
after the replay (read from Redis by a second client), how often the store failed over.

    PYTHONPATH=. python bench/results/redis-failover-2026-12-07/repro.py \
        [--runs 5] [--pause-ms 1500] [--pause-after-ms 30] [--async 200] [--threads 50] \
        [--busy 3] [--prespent 0] [--connect-timeout 1.0] [--socket-timeout 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from _servers import RedisServer

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
)

logging.getLogger("llm_cost_hooks").setLevel(logging.ERROR)
LIMIT, COST = 0.01, 0.00045


def redis_cmd(port: int, *args: str) -> bytes:
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        return s.recv(1024)


def one_run(url: str, port: int, a: argparse.Namespace) -> dict[str, object]:
    tenant = "t-" + uuid.uuid4().hex[:8]
    store = FailoverSpendStore(
        RedisSpendStore(url, connect_timeout=a.connect_timeout, socket_timeout=a.socket_timeout),
        journal=tempfile.mkdtemp(),
    )
    guard = SpendGuard(
        [Limit.usd(LIMIT, per="day", scope="tenant", name="daily")],
        store=store,
        alerts=AlertManager(log=False, span_events=False),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant=tenant)
    if a.prespent:
        # Another process's spend on this tenant, which this one has not seen.
        other = SpendGuard(
            [Limit.usd(LIMIT, per="day", scope="tenant", name="daily")],
            store=url,
            alerts=AlertManager(log=False, span_events=False),
        )
        for _ in range(a.prespent):
            other.reserve(req).settle(COST)
    admitted = [0]
    lock = threading.Lock()
    slowest = [0.0]

    def note(started: float, ok: bool) -> None:
        with lock:
            admitted[0] += ok
            slowest[0] = max(slowest[0], time.monotonic() - started)

    def sync_call() -> None:
        t0 = time.monotonic()
        try:
            r = guard.reserve(req)
        except BudgetExceeded:
            return note(t0, False)
        note(t0, True)
        time.sleep(0.01)
        r.settle(COST)

    async def async_call() -> None:
        t0 = time.monotonic()
        try:
            r = await guard.areserve(req)
        except BudgetExceeded:
            return note(t0, False)
        note(t0, True)
        await asyncio.sleep(0.01)
        await r.asettle(COST)

    def pauser() -> None:
        time.sleep(a.pause_after_ms / 1000)
        redis_cmd(port, "CLIENT", "PAUSE", str(a.pause_ms), "ALL")

    async def burst() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(a.threads or 1) as pool:
            threads = [loop.run_in_executor(pool, sync_call) for _ in range(a.threads)]
            await asyncio.gather(*[async_call() for _ in range(a.asyncn)], *threads)

    p = threading.Thread(target=pauser)
    t0 = time.monotonic()
    p.start()
    asyncio.run(burst())
    p.join()
    took = time.monotonic() - t0
    # Let the store find Redis again and replay its journal, then read the shared total.
    deadline = time.monotonic() + 15
    while (store.degraded or store.journal.pending) and time.monotonic() < deadline:
        time.sleep(0.3)
        guard.usage("daily", tenant)
    reader = RedisSpendStore(url, prefix="llm_cost_hooks")
    key = guard._key("daily", tenant, None)[1]
    spent_units = reader.usage(key)[0]
    reader.close()
    spent = spent_units / 1e9
    return {
        "admitted": admitted[0],
        "spent_usd": round(spent, 6),
        "x_limit": round(spent / LIMIT, 2),
        "failovers": store.outages,
        "pending": store.journal.pending,
        "slowest_s": round(slowest[0], 2),
        "burst_s": round(took, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pause-ms", type=int, default=1500)
    ap.add_argument("--pause-after-ms", type=int, default=30)
    ap.add_argument("--async", dest="asyncn", type=int, default=200)
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--busy", type=int, default=3)
    ap.add_argument("--prespent", type=int, default=0, help="calls another process made first")
    ap.add_argument("--connect-timeout", type=float, default=1.0)
    ap.add_argument("--socket-timeout", type=float, default=2.0)
    a = ap.parse_args()
    server = RedisServer().start()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        print(json.dumps({"args": vars(a), "load": os.getloadavg()}), flush=True)
        for i in range(a.runs):
            row = one_run(server.url, server.port, a)
            row["run"] = i + 1
            row["load1"] = round(os.getloadavg()[0], 2)
            print(json.dumps(row), flush=True)
    finally:
        for b in busy:
            b.kill()
            b.wait()
        server.close()


if __name__ == "__main__":
    main()
