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
