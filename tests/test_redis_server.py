"""The test servers work: Redis Stack with its modules, stop/start, and the generic helpers.

Does not import llm_cost_hooks: this must pass even while the package is broken.
"""

from __future__ import annotations

import struct
import sys

import pytest
import redis
from _servers import ServerStartError, free_port, start_process, tcp_ready
from redis.commands.search.query import Query

pytestmark = pytest.mark.redis


@pytest.fixture
def r(redis_clean_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_clean_url, socket_timeout=5)
    yield client
    client.close()


def test_ping(redis_url: str) -> None:
    assert redis_url.startswith("redis://127.0.0.1:")
    assert redis.Redis.from_url(redis_url).ping() is True


def test_search_module_loaded(r: redis.Redis) -> None:
    assert r.execute_command("FT._LIST") == []
    modules = {
        m[b"name"] if isinstance(m, dict) else dict(zip(m[::2], m[1::2]))[b"name"] for m in r.module_list()
    }
    assert {b"search", b"ReJSON"} <= modules


def test_json_set_get(r: redis.Redis) -> None:
    assert r.execute_command("JSON.SET", "doc:1", "$", '{"name": "hello", "n": 1}') in (b"OK", "OK", True)
    assert r.execute_command("JSON.GET", "doc:1", "$.name") == b'["hello"]'


def test_search_over_json_and_vectors(r: redis.Redis) -> None:
    # The shape redisvl uses for its semantic cache: JSON docs with a vector field.
    r.execute_command(
        "FT.CREATE", "idx", "ON", "JSON", "PREFIX", "1", "doc:", "SCHEMA",
        "$.name", "AS", "name", "TEXT",
        "$.v", "AS", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2", "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    r.execute_command("JSON.SET", "doc:1", "$", '{"name": "hello world", "v": [1.0, 0.0]}')
    r.execute_command("JSON.SET", "doc:2", "$", '{"name": "goodbye", "v": [0.0, 1.0]}')
    # Through redis-py's search API, which parses RESP2 and RESP3 replies alike.
    found = r.ft("idx").search(Query("hello").no_content())
    assert (found.total, [d.id for d in found.docs]) == (1, ["doc:1"])
    knn = r.ft("idx").search(
        Query("*=>[KNN 1 @v $q]").no_content().dialect(2),
        query_params={"q": struct.pack("<2f", 0.1, 0.9)},
    )
    assert [d.id for d in knn.docs] == ["doc:2"]


def test_clean_url_flushes(r: redis.Redis) -> None:
    # Runs after the tests above: FLUSHALL left no keys and no search index.
    assert r.dbsize() == 0
    assert r.execute_command("FT._LIST") == []


def test_stop_and_start_on_same_port(redis_server, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    client.set("k", "v")
    port, pid = redis_server.port, redis_server.pid
    with redis_server.down():
        assert not redis_server.running
        with pytest.raises(redis.ConnectionError):
            client.ping()
    assert redis_server.running
    assert (redis_server.port, redis_server.url) == (port, redis_url)
    assert redis_server.pid != pid
    assert client.ping() is True  # the client reconnects to the same URL
    assert client.get("k") is None  # nothing is persisted across a restart
    assert client.execute_command("FT._LIST") == []  # modules loaded again

    redis_server.stop()  # explicit stop()/start() as well
    redis_server.start()
    assert client.ping() is True


def test_start_process_generic() -> None:
    port = free_port()
    proc = start_process(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        tcp_ready(port),
        env={"PYTHONUNBUFFERED": "1"},
        timeout=20,
    )
    try:
        assert proc.running
    finally:
        proc.close()
    assert not proc.running


def test_start_process_reports_early_exit() -> None:
    with pytest.raises(ServerStartError, match="boom") as info:
        start_process(
            [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
            lambda: False,
            timeout=10,
        )
    assert "exited with code 3" in str(info.value)
