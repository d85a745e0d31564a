"""Passwords in ledger and Redis URLs never reach an error message or a log line."""

from __future__ import annotations

import pytest

from llm_cost_hooks._errors import ConfigurationError


def test_redis_url_with_an_at_sign_in_its_password_is_redacted_whole() -> None:
    from llm_cost_hooks._redis import redacted_url

    # redis-py reads the password up to the last '@' (urllib), so all of "s3c@ret" is secret.
    url = "redis://:s3c@ret@cache.internal:6379/0"
    assert redacted_url(url) == "redis://:***@cache.internal:6379/0"
    assert redacted_url("redis://user:pw@h:6379?ssl=1") == "redis://user:***@h:6379?ssl=1"
    assert redacted_url("redis://h:6379") == "redis://h:6379"


@pytest.mark.parametrize(
    "url",
    ["postgresql://app:p%ZZs3cret@db/costs", "postgresql://app:s3c%ZZret@db/costs?sslmode=require"],
)
def test_an_unreadable_postgres_url_does_not_repeat_its_password(url: str) -> None:
    pytest.importorskip("psycopg")
    from llm_cost_hooks.ledger import open_ledger

    with pytest.raises(ConfigurationError) as info:
        open_ledger(url)
    shown = str(info.value) + repr(info.value.__cause__) + repr(info.value.__context__)
    assert "s3c" not in shown and "***" in shown


def test_single_flight_logs_name_its_redis_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    from llm_cost_hooks.dedup import RedisSingleFlight

    flight = RedisSingleFlight("redis://:s3cret@127.0.0.1:1/0", connect_timeout=0.2, socket_timeout=0.2)
    with caplog.at_level("WARNING", logger="llm_cost_hooks"):
        assert flight.do("k", lambda: 42).value == 42
    assert "unreachable" in caplog.text and "s3cret" not in caplog.text and ":***@" in caplog.text


def test_no_search_module_error_names_redis_without_the_password() -> None:
    from llm_cost_hooks.cache._redis import RedisBackend

    class PlainRedis:
        def execute_command(self, *args: object) -> None:
            raise RuntimeError("unknown command 'FT._LIST'")

    backend = RedisBackend("redis://:s3cret@127.0.0.1:1/0", client=PlainRedis())
    with pytest.raises(ConfigurationError) as info:
        backend.require_search()
    assert "s3cret" not in str(info.value) and ":***@" in str(info.value)


def test_a_webhook_url_without_its_scheme_is_not_repeated_whole() -> None:
    from llm_cost_hooks.budget._alerts import WebhookSink

    with pytest.raises(ConfigurationError) as info:
        WebhookSink("hooks.slack.com/services/T000/B000/s3cretToken")
    assert "s3cret" not in str(info.value) and "hooks.slack.com" in str(info.value)
