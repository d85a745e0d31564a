"""Attack the cache's storage like a failing deployment, on the installed package.

Run from an empty directory with the wheel installed (see README.md):

    python attack.py --redis-bin DIR/bin/redis-server --redis-lib DIR/lib [--libssl DIR]

Each check prints one line, ``PASS`` or ``FAIL``, and what it saw; the exit code is the
number of failures. Real LangChain calls (``set_llm_cache``) on fake chat models with
realistic usage, and real LiteLLM calls (``mock_response``) through ``LiteLLMSemanticCache``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_cost_hooks.litellm import LiteLLMSemanticCache  # first: litellm then reads its bundled price map

# isort: split
import litellm
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

FAILS: list[str] = []
RESULTS: list[dict[str, Any]] = []


class Warnings(logging.Handler):
    """Counts the cache's warnings (what an operator would see in the logs)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


WARN = Warnings()
logging.getLogger("llm_cost_hooks").addHandler(WARN)
logging.getLogger("llm_cost_hooks").setLevel(logging.WARNING)


def check(name: str, ok: bool, seen: Any = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {seen}", flush=True)
    RESULTS.append({"check": name, "ok": bool(ok), "seen": str(seen)[:400]})
    if not ok:
        FAILS.append(name)


def records_of(handler: CostCallbackHandler) -> list[tuple[str, float, float]]:
    return [(r.cache_status.value, r.cost_usd, r.saved_usd) for r in handler.records()]


# --------------------------------------------------------------------------- round trips


class Weather(BaseModel):
    city: str
    celsius: float


def roundtrip_langchain(make_cache: Any, label: str) -> None:
    """What comes back from a hit is what the model answered, and the hit is recorded as one."""
    cache = make_cache()
    set_llm_cache(cache)
    try:
        tool_msg = AIMessage(
            content="",
            tool_calls=[{"name": "get_weather", "args": {"city": "Zürich", "unit": "C"}, "id": "call_1"}],
        )
        long_text = ("Ein sehr langer Absatz über Überweisungen, Gebühren und Fristen. " * 4000).strip()
        cases: dict[str, Any] = {
            "plain": "Your card arrives in 3-5 working days.",
            "non-ascii": "Überweisung ✓ — 東京 ¥1,000 · emoji 🚀 · RTL שלום",
            "very long (~260k chars)": long_text,
            "empty string": "",
            "tool_calls": tool_msg,
        }
        for what, reply in cases.items():
            handler = CostCallbackHandler(ledger="memory://")
            model = FakeChatModelWithUsage(model_name="gpt-4o", responses=[reply, "SECOND CALL"])
            q = f"[{label}] question for {what}"
            first = model.invoke(q, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
            again = model.invoke(q, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
            same = (
                again.content == first.content
                and again.tool_calls == first.tool_calls
                # LangChain itself adds total_cost=0 to a cached message's usage
                and {k: v for k, v in (again.usage_metadata or {}).items() if k != "total_cost"}
                == first.usage_metadata
                and again.id == first.id
                and {k: v for k, v in again.response_metadata.items() if k != "llm_cost_hooks_cache"}
                == first.response_metadata
            )
            recs = records_of(handler)
            hit_ok = (
                model.call_count == 1
                and len(recs) == 2
                and recs[1][0] == "exact"
                and recs[1][1] == 0
                and recs[1][2] == recs[0][1] > 0
            )
            check(
                f"{label} langchain round trip: {what}", same and hit_ok, f"calls={model.call_count} {recs}"
            )

        # structured output (tool calling under the hood)
        handler = CostCallbackHandler(ledger="memory://")
        model = FakeChatModelWithUsage(
            model_name="gpt-4o",
            responses=[
                AIMessage(
                    content="",
                    tool_calls=[{"name": "Weather", "args": {"city": "Oslo", "celsius": -3.5}, "id": "c9"}],
                )
            ],
        )
        structured = model.with_structured_output(Weather)
        cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
        a = structured.invoke(f"[{label}] weather in Oslo?", config=cfg)
        b = structured.invoke(f"[{label}] weather in Oslo?", config=cfg)
        check(
            f"{label} langchain round trip: with_structured_output",
            a == b == Weather(city="Oslo", celsius=-3.5) and model.call_count == 1,
            f"{b!r} calls={model.call_count} {records_of(handler)}",
        )

        # several generations in one result
        model = FakeChatModelWithUsage(
            model_name="gpt-4o", responses=["first answer", "second answer", "x", "y"]
        )
        from langchain_core.messages import HumanMessage

        r1 = model.generate([[HumanMessage(f"[{label}] multi A")], [HumanMessage(f"[{label}] multi B")]])
        r2 = model.generate([[HumanMessage(f"[{label}] multi A")], [HumanMessage(f"[{label}] multi B")]])
        texts1 = [[g.text for g in gs] for gs in r1.generations]
        texts2 = [[g.text for g in gs] for gs in r2.generations]
        check(
            f"{label} langchain round trip: generate() of two prompts",
            texts1 == texts2 and model.call_count == 2,
            f"{texts2} calls={model.call_count}",
        )

        # streamed call after a hit: LangChain consults the cache only when it does not stream
        # natively (documented); a native stream calls the model and must still be whole
        model = FakeChatModelWithUsage(model_name="gpt-4o", responses=["streamed answer", "SECOND CALL"])
        q = f"[{label}] stream me"
        first = model.invoke(q, config={"metadata": {"tenant_id": "acme"}})
        chunks = list(model.stream(q, config={"metadata": {"tenant_id": "acme"}}))
        text = "".join(str(c.content) for c in chunks)
        check(
            f"{label} langchain stream() of a natively streaming model after an invoke() (LangChain skips caches)",
            text == "SECOND CALL",
            f"streamed={text!r} calls={model.call_count}",
        )
        model = FakeChatModelWithUsage(
            model_name="gpt-4o", responses=["streamed answer", "SECOND CALL"], disable_streaming=True
        )
        handler = CostCallbackHandler(ledger="memory://")
        cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
        first = model.invoke(q + " (no native stream)", config=cfg)
        chunks = list(model.stream(q + " (no native stream)", config=cfg))
        text = "".join(str(c.content) for c in chunks)
        recs = records_of(handler)
        check(
            f"{label} langchain stream() of a model with disable_streaming=True is a hit",
            text == "streamed answer" and model.call_count == 1 and recs[-1][0] == "exact",
            f"streamed={text!r} calls={model.call_count} {recs}",
        )
        model2 = FakeChatModelWithUsage(
            model_name="gpt-4o", responses=["astreamed answer", "SECOND CALL"], disable_streaming=True
        )
        q2 = f"[{label}] astream me"
        model2.invoke(q2, config={"metadata": {"tenant_id": "acme"}})

        async def collect() -> str:
            out = []
            async for c in model2.astream(q2, config={"metadata": {"tenant_id": "acme"}}):
                out.append(str(c.content))
            return "".join(out)

        atext = asyncio.run(collect())
        check(
            f"{label} langchain astream() (disable_streaming=True) after an invoke() is a hit",
            atext == "astreamed answer" and model2.call_count == 1,
            f"astreamed={atext!r} calls={model2.call_count}",
        )
    finally:
        set_llm_cache(None)


def roundtrip_litellm(make_cache: Any, label: str) -> None:
    cache = make_cache()
    litellm.cache = cache
    try:
        cases = {
            "plain": "Refunds take 5 days.",
            "non-ascii": "Überweisung ✓ — 東京 ¥1,000 🚀",
            "very long": "Lorem ipsum dolor sit amet. " * 8000,
            # (mock_response="" is not a mock in LiteLLM: it calls the provider)
        }
        for what, reply in cases.items():
            ask = dict(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"[{label}] litellm {what}"}],
                metadata={"tenant_id": "acme"},
            )
            a = litellm.completion(**ask, mock_response=reply)
            b = litellm.completion(**ask, mock_response="SECOND CALL")
            hit = (b._hidden_params or {}).get("cache_hit")
            check(
                f"{label} litellm round trip: {what}",
                b.choices[0].message.content == a.choices[0].message.content
                and b.usage.prompt_tokens == a.usage.prompt_tokens
                and b.usage.completion_tokens == a.usage.completion_tokens
                and hit is True,
                f"second={str(b.choices[0].message.content)[:40]!r} cache_hit={hit} usage={b.usage.total_tokens}",
            )
        ask = dict(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"[{label}] weather in Oslo?"}],
            metadata={"tenant_id": "acme"},
        )
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ]
        tc = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ]
        a = litellm.completion(**ask, tools=tools, mock_tool_calls=tc)
        b = litellm.completion(**ask, tools=tools, mock_response="SECOND CALL")
        got = b.choices[0].message.tool_calls
        check(
            f"{label} litellm round trip: tool_calls",
            bool(got)
            and got[0].function.name == "get_weather"
            and json.loads(got[0].function.arguments) == {"city": "Oslo"},
            f"{got}",
        )
        stream = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"[{label}] litellm plain"}],
            metadata={"tenant_id": "acme"},
            mock_response="SECOND CALL",
            stream=True,
        )
        text = "".join((c.choices[0].delta.content or "") for c in stream)
        check(f"{label} litellm stream=True on a hit", text == cases["plain"], repr(text[:60]))
    finally:
        litellm.cache = None


def litellm_hit_recorded(make_cache: Any, label: str) -> None:
    """A LiteLLM hit is recorded by the cost logger as a hit with its saving, not a paid call."""
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [logger]
    litellm.cache = make_cache()
    try:
        ask = dict(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"[{label}] recorded?"}],
            metadata={"tenant_id": "acme"},
        )
        litellm.completion(**ask, mock_response="Refunds take 5 days.")
        litellm.completion(**ask, mock_response="SECOND CALL")
        deadline = time.time() + 5
        while len(logger.records()) < 2 and time.time() < deadline:
            time.sleep(0.05)
        recs = [(r.cache_status.value, r.cost_usd, r.saved_usd) for r in logger.records()]
        check(
            f"{label} litellm hit recorded by CostHooksLogger as a hit with its saving",
            len(recs) == 2 and recs[1][0] == "exact" and recs[1][1] == 0 and recs[1][2] == recs[0][1] > 0,
            recs,
        )
    finally:
        litellm.cache = None
        litellm.callbacks = []


# --------------------------------------------------------------------------- embedded on disk

CHILD = r"""
import sys, time, os
from langchain_core.globals import set_llm_cache
from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache
path, who, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cache = SemanticCache(path=path, semantic=False)
set_llm_cache(cache)
model = FakeChatModelWithUsage(responses=[f"{who} answer {i}" for i in range(10 * n)])
if mode == "write":
    for i in range(n):
        model.invoke(f"shared question {i}")   # both processes ask these
        model.invoke(f"{who} own question {i}")
    print("errors", cache.stats.errors, flush=True)
elif mode == "read":
    shared = sum(model.invoke(f"shared question {i}").response_metadata.get("llm_cost_hooks_cache") is not None for i in range(n))
    own = {w: sum(model.invoke(f"{w} own question {i}").response_metadata.get("llm_cost_hooks_cache") is not None for i in range(n)) for w in ("A", "B")}
    print("hits", shared, own["A"], own["B"], "calls", model.call_count, "errors", cache.stats.errors, flush=True)
elif mode == "forever":
    i = 0
    while True:
        model.invoke(f"{who} killed question {i}")
        i += 1
        if i == 50: print("ready", flush=True)
"""


def run_child(path: Path, who: str, n: int, mode: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), who, str(n), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def embedded_disk(tmp: Path) -> None:
    # two processes writing one file at once, then both (and a third) read
    path = tmp / "shared.db"
    n = 200
    procs = [run_child(path, w, n, "write") for w in ("A", "B")]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    check(
        "two processes write one cache file concurrently",
        codes == [0, 0] and all("errors 0" in o for o, _ in outs),
        f"exit={codes} {[o.strip() for o, _ in outs]} {[e.strip()[-200:] for _, e in outs if e.strip()]}",
    )
    with sqlite3.connect(path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    # Each process sees the other's entries only on its next open, so both answered the
    # shared questions: 2 rows each until an open keeps the later one.
    check(
        "after concurrent writes: file intact",
        integrity == "ok" and rows <= 4 * n,
        f"integrity={integrity} rows={rows} (distinct questions: {3 * n})",
    )
    reads = [run_child(path, w, n, "read") for w in ("A", "B")]
    routs = [p.communicate(timeout=300) for p in reads]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    check(
        "both processes restarted: every question is a hit, one row per question",
        all(o.startswith(f"hits {n} {n} {n} calls 0 errors 0") for o, _ in routs) and rows == 3 * n,
        f"{[o.strip() for o, _ in routs]} rows={rows}",
    )

    # the same, with the semantic tier: two caches on one file both answer one question
    path = tmp / "shared-semantic.db"
    a, b = SemanticCache(path=str(path)), SemanticCache(path=str(path))
    for cache, reply in ((a, "answer from A"), (b, "answer from B")):
        set_llm_cache(cache)
        FakeChatModelWithUsage(responses=[reply]).invoke("How do I reset my password?")
        cache.backend.close()
    c = SemanticCache(path=str(path))
    set_llm_cache(c)
    model = FakeChatModelWithUsage(responses=["model"] * 5)
    got = [model.invoke(q).content for q in ("How do I reset my password?", "How can I reset my password?")]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    check(
        "two caches on one file answered one question, then a restart: semantic lookups work",
        got[0] == "answer from B" and c.stats.errors == 0 and rows == 2,
        f"answers={got} errors={c.stats.errors} rows={rows} (the kept answer + the paraphrase's)",
    )
    c.backend.close()
    set_llm_cache(None)

    # fork after use
    path = tmp / "fork.db"
    cache = SemanticCache(path=str(path), semantic=False)
    set_llm_cache(cache)
    model = FakeChatModelWithUsage(responses=[f"parent {i}" for i in range(1000)])
    model.invoke("asked before the fork")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child = FakeChatModelWithUsage(responses=[f"child {i}" for i in range(1000)])
            hit = child.invoke("asked before the fork").content == "parent 0"
            for i in range(200):
                child.invoke(f"child question {i}")
            again = child.invoke("child question 7").content == "child 7"
            code = 0 if hit and again and cache.stats.errors == 0 else 3
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    for i in range(200):
        model.invoke(f"parent question {i}")
    _, status = os.waitpid(pid, 0)
    parent_ok = model.invoke("parent question 5").content == "parent 6" and cache.stats.errors == 0
    cache.backend.close()
    set_llm_cache(None)
    with sqlite3.connect(path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    check(
        "fork() after use: child and parent keep working, file intact",
        os.waitstatus_to_exitcode(status) == 0 and parent_ok and integrity == "ok" and rows == 401,
        f"child exit={os.waitstatus_to_exitcode(status)} parent_ok={parent_ok} integrity={integrity} rows={rows}",
    )

    # the file deleted, truncated, made read-only mid-run
    for damage in ("deleted", "truncated", "read-only"):
        path = tmp / f"{damage}.db"
        cache = SemanticCache(path=str(path), semantic=False)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=[f"answer {i}" for i in range(1000)])
        for i in range(20):
            model.invoke(f"question {i}")
        if damage == "deleted":
            for s in ("", "-wal", "-shm"):
                Path(f"{path}{s}").unlink(missing_ok=True)
        elif damage == "truncated":
            with open(path, "r+b") as f:
                f.truncate(1024)
        else:
            os.chmod(path, 0o444)
            os.chmod(tmp, 0o555)
        raised = None
        try:
            answers = [model.invoke(f"question {i}").content for i in range(30)]
        except Exception as exc:  # the user's chain broke
            raised = exc
            answers = []
        finally:
            os.chmod(tmp, 0o755)
        ok = raised is None and answers[:20] == [f"answer {i}" for i in range(20)]
        cache.backend.close()
        set_llm_cache(None)
        try:
            reopened = SemanticCache(path=str(path), semantic=False)
            reopen = f"reopened with {reopened.backend.count()} entries"
            reopened.backend.close()
        except Exception as exc:
            reopen = f"reopen raised {type(exc).__name__}: {exc}"
            ok = False
        check(
            f"cache file {damage} mid-run: calls keep working, hits from memory, reopens",
            ok,
            f"raised={raised!r} hits_kept={answers[:20] == [f'answer {i}' for i in range(20)]} "
            f"errors={cache.stats.errors} {reopen}",
        )

    # a cache path in a directory that does not exist yet
    path = tmp / "not" / "there" / "yet" / "c.db"
    cache = SemanticCache(path=str(path), semantic=False)
    check("cache path in a missing directory: created", path.exists(), str(path))
    cache.backend.close()

    # SIGKILL mid-write, restart
    path = tmp / "killed.db"
    p = run_child(path, "K", 0, "forever")
    assert p.stdout is not None
    p.stdout.readline()  # 50 writes done
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), "K", "50", "read"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    with sqlite3.connect(path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    check(
        "SIGKILL mid-write, then restart: opens, entries written before the kill are there",
        out.returncode == 0 and integrity == "ok" and rows >= 50,
        f"restart exit={out.returncode} integrity={integrity} rows={rows} {out.stderr.strip()[-200:]}",
    )

    # persistence across restarts (as documented: entries persist; ":memory:" keeps nothing)
    path = tmp / "persist.db"
    code = (
        "import sys\nfrom langchain_core.globals import set_llm_cache\n"
        "from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache\n"
        "c = SemanticCache(path=sys.argv[1]); set_llm_cache(c)\n"
        "m = FakeChatModelWithUsage(responses=['stored answer', 'SECOND'])\n"
        "print(m.invoke('When will my card arrive?').content, '|', m.invoke('when will my  CARD arrive?').content)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    check(
        "persistence across restarts (semantic cache, default embedder)",
        [r.stdout.strip() for r in runs]
        == ["stored answer | stored answer", "stored answer | stored answer"],
        [r.stdout.strip() or r.stderr.strip()[-200:] for r in runs],
    )

    # size bound (max_entries, LRU) holds in memory and on disk
    path = tmp / "bounded.db"
    cache = SemanticCache(path=str(path), semantic=False, max_entries=100)
    set_llm_cache(cache)
    model = FakeChatModelWithUsage(responses=[f"answer {i}" for i in range(1000)])
    for i in range(150):
        model.invoke(f"bounded question {i}")
    newest = model.invoke("bounded question 149").response_metadata.get("llm_cost_hooks_cache") is not None
    cache.backend.close()
    set_llm_cache(None)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    check(
        "embedded max_entries=100 after 150 writes: 100 kept (memory and file), the newest served",
        cache.backend.count() == 100 and rows == 100 and newest,
        f"count={cache.backend.count()} rows={rows} newest_hit={newest}",
    )

    # a damaged file at start-up: set aside, the cache starts empty (no crash of the app)
    path = tmp / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    try:
        cache = SemanticCache(path=str(path), semantic=False)
        aside = [p.name for p in tmp.iterdir() if p.name.startswith("garbage.db.corrupt-")]
        check(
            "a damaged cache file at start-up: moved aside, cache starts empty",
            cache.backend.count() == 0 and aside,
            aside,
        )
        cache.backend.close()
    except Exception as exc:
        check(
            "a damaged cache file at start-up: moved aside, cache starts empty",
            False,
            f"{type(exc).__name__}: {exc}",
        )


# --------------------------------------------------------------------------- Redis


class RedisProc:
    def __init__(self, bin_: str, lib: str | None, libssl: str | None) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="redis-")
        self.cmd = [
            bin_,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
        ]
        if lib:
            self.cmd += ["--loadmodule", f"{lib}/redisearch.so", "--loadmodule", f"{lib}/rejson.so"]
        self.env = {**os.environ, **({"LD_LIBRARY_PATH": libssl} if libssl else {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import redis

        for _ in range(200):
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None


def redis_attacks(args: argparse.Namespace) -> None:
    import redis

    stack = RedisProc(args.redis_bin, args.redis_lib, args.libssl)
    stack.start()
    r = redis.Redis(port=stack.port)
    try:
        roundtrip_langchain(lambda: SemanticCache(redis_url=stack.url, semantic=False), "redis")
        roundtrip_litellm(lambda: LiteLLMSemanticCache(redis_url=stack.url, semantic=False), "redis")
        litellm_hit_recorded(lambda: LiteLLMSemanticCache(redis_url=stack.url, semantic=False), "redis")

        # hostile entries written by someone else
        r.flushall()
        cache = SemanticCache(redis_url=stack.url)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=[f"model {i}" for i in range(100)])
        model.invoke("What is the refund policy?")
        (xkey,) = r.keys("llmch:x:*")
        (ekey,) = r.keys("llmch:e:*")
        original = r.get(xkey)
        marker = Path(tempfile.mkdtemp()) / "unpickled"

        class Payload:
            def __reduce__(self) -> Any:
                return (Path.touch, (marker,))

        forged = json.loads(original)
        forged["answer"] = "x" * (64 * 1024 * 1024)
        hostile = {
            "a pickle payload": pickle.dumps(Payload()),
            "malformed JSON": b'{"id": "x", "answer": ',
            "an entry whose answer is a pickle": json.dumps(
                {**json.loads(original), "answer": pickle.dumps(Payload()).hex()}
            ),
            "a huge value (64 MiB answer field)": json.dumps(forged),
        }
        before_corrupt = cache.stats.corrupt
        for what, payload in hostile.items():
            r.set(xkey, payload)
            n0 = len(WARN.messages)
            t = time.perf_counter()
            got = model.invoke("What is the refund policy?").content
            took = time.perf_counter() - t
            check(
                f"shared Redis holds {what}: not served, the model answers, logged",
                got.startswith("model ")
                and got != "model 0"
                and not marker.exists()
                and len(WARN.messages) > n0,
                f"answer={got!r} unpickled={marker.exists()} warnings={WARN.messages[n0:][:1]} took={took:.2f}s",
            )
        check(
            "hostile entries are counted in cache.stats.corrupt",
            cache.stats.corrupt - before_corrupt == len(hostile),
            f"corrupt={cache.stats.corrupt - before_corrupt} of {len(hostile)}",
        )
        # a wrong-dimension vector and a pickled data field next to real entries, in the same partition
        model.invoke("When will my card arrive?")
        eks = r.keys("llmch:e:*")
        h = r.hgetall(eks[0])
        r.hset(b"llmch:e:forged1", mapping={**h, b"vec": b"\x00" * 12, b"data": b"{}"})
        r.hset(
            b"llmch:e:forged2",
            mapping={**h, b"data": pickle.dumps(Payload()), b"answer_key": h[b"answer_key"]},
        )
        n0 = cache.stats.corrupt
        got = model.invoke("When does my card arrive?").content
        check(
            "forged hashes (wrong-dimension vector, pickled data) in the index: never served",
            got.startswith("model ") and not marker.exists(),
            f"answer={got!r} corrupt+={cache.stats.corrupt - n0} unpickled={marker.exists()}",
        )
        set_llm_cache(None)

        # server stopped mid-run, restarted, flushed
        r.flushall()
        cache = SemanticCache(redis_url=stack.url)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=[f"model {i}" for i in range(10_000)])
        model.invoke("How do I reset my PIN?")
        stack.stop()
        n0 = len(WARN.messages)
        t0 = time.perf_counter()
        raised = None
        calls = 0
        try:
            while time.perf_counter() - t0 < 12:
                model.invoke(f"question while down {calls}")
                calls += 1
        except Exception as exc:
            raised = exc
        down_warn = [m for m in WARN.messages[n0:]]
        slowest = None
        check(
            "Redis stopped mid-run: calls keep working (to the model), warnings not per call",
            raised is None and calls > 20 and len(down_warn) <= 3,
            f"calls in 12 s={calls} raised={raised!r} warnings={len(down_warn)}: {down_warn[:2]}",
        )
        t = time.perf_counter()
        model.invoke("one more while down")
        slowest = time.perf_counter() - t
        check("a call while Redis is down is bounded", slowest < 1.0, f"{slowest * 1000:.0f} ms")
        stack.start()  # empty: this server persists nothing
        t_restart = time.perf_counter()
        model.invoke("asked after restart")  # a miss, written
        resumed = None
        while time.perf_counter() - t_restart < 30:
            if model.invoke("asked after restart").response_metadata.get("llm_cost_hooks_cache"):
                resumed = time.perf_counter() - t_restart
                break
            time.sleep(0.2)
        check(
            "Redis restarted: hits resume within the breaker's retry (docs: ~10 s)",
            resumed is not None and resumed < 15,
            f"resumed after {resumed if resumed is None else round(resumed, 1)} s",
        )
        # FLUSHALL: the index is recreated
        model.invoke("What is the exchange rate?")
        r = redis.Redis(port=stack.port)
        r.flushall()
        model.invoke("What is the exchange rate?")  # miss, written again (index recreated)
        again = model.invoke("What is the exchange rate?").response_metadata.get("llm_cost_hooks_cache")
        sem = model.invoke("What exchange rate do you use?")
        check(
            "FLUSHALL: index recreated, hits resume at once",
            again is not None and r.execute_command("FT._LIST") != [],
            f"exact after flush={again} recreated={cache.backend.recreated} semantic probe={sem.response_metadata.get('llm_cost_hooks_cache')}",
        )
        set_llm_cache(None)

        # size bound as documented: maxmemory with allkeys-lru evicts entries, calls keep working
        r.flushall()
        r.config_set("maxmemory", "8mb")
        r.config_set("maxmemory-policy", "allkeys-lru")
        cache = SemanticCache(redis_url=stack.url)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=[f"answer {i} " * 300 for i in range(5000)])
        raised = None
        try:
            for i in range(600):
                model.invoke(f"Question {i}: how do I change the address on account {i * 7919}?")
            last = model.invoke(f"Question 599: how do I change the address on account {599 * 7919}?")
        except Exception as exc:
            raised = exc
        kept = len(r.keys("llmch:x:*"))
        check(
            "Redis maxmemory 8mb allkeys-lru, 600 entries of ~4 KB: evicts, no error reaches the chain",
            raised is None and kept < 600 and last.response_metadata.get("llm_cost_hooks_cache") is not None,
            f"raised={raised!r} exact keys kept={kept} errors={cache.stats.errors} used={r.info('memory')['used_memory_human']}",
        )
        r.config_set("maxmemory", "0")
        set_llm_cache(None)

        # TTL as documented (native TTL fixed at write)
        r.flushall()
        cache = SemanticCache(redis_url=stack.url, ttl_seconds=2, semantic=False)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=[f"ttl {i}" for i in range(10)])
        a = model.invoke("ttl question").content
        ttl = r.pttl(r.keys("llmch:x:*")[-1])
        hit = model.invoke("ttl question").content
        time.sleep(2.3)
        after = model.invoke("ttl question").content
        check(
            "Redis TTL: served before expiry, a miss after",
            (a, hit, after) == ("ttl 0", "ttl 0", "ttl 1") and 0 < ttl <= 2000,
            f"{a}/{hit}/{after} pttl={ttl}",
        )
        set_llm_cache(None)
    finally:
        stack.stop()

    plain = RedisProc(args.redis_bin, None, args.libssl)
    plain.start()
    try:
        try:
            SemanticCache(redis_url=plain.url)
            check(
                "plain Redis (no search module), semantic on: clear typed error at setup", False, "no error"
            )
        except Exception as exc:
            check(
                "plain Redis (no search module), semantic on: clear typed error at setup",
                type(exc).__name__ == "ConfigurationError" and "RediSearch" in str(exc),
                f"{type(exc).__name__}: {exc}",
            )
        cache = SemanticCache(redis_url=plain.url, semantic=False)
        set_llm_cache(cache)
        model = FakeChatModelWithUsage(responses=["one", "two"])
        got = [model.invoke("q").content for _ in range(2)]
        check(
            "plain Redis, semantic=False: the exact tier works",
            got == ["one", "one"] and cache.stats.errors == 0,
            got,
        )
        set_llm_cache(None)
    finally:
        plain.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-bin", required=True)
    ap.add_argument("--redis-lib", required=True)
    ap.add_argument("--libssl")
    ap.add_argument("--out", default="attack_results.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cache-attack-"))
    roundtrip_langchain(lambda: SemanticCache(path=str(tmp / "rt.db"), semantic=False), "embedded")
    roundtrip_litellm(
        lambda: LiteLLMSemanticCache(path=str(tmp / "rt-litellm.db"), semantic=False), "embedded"
    )
    litellm_hit_recorded(lambda: LiteLLMSemanticCache(path=str(tmp / "rec.db"), semantic=False), "embedded")
    embedded_disk(tmp)
    redis_attacks(args)
    Path(args.out).write_text(json.dumps(RESULTS, indent=1))
    print(f"{len(RESULTS) - len(FAILS)} passed, {len(FAILS)} failed")
    return len(FAILS)


if __name__ == "__main__":
    sys.exit(main())
