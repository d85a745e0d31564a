"""A CostHooksLogger put in ``litellm.callbacks`` in place of another one records the
calls from then on, and the one it replaced stops: each call is recorded once."""

from __future__ import annotations

from collections.abc import Iterator

import litellm
import pytest

from llm_cost_hooks.litellm import CostHooksLogger, uninstall


@pytest.fixture
def clean_litellm() -> Iterator[None]:
    yield
    litellm.callbacks = []
    uninstall()


def _call(tenant: str) -> None:
    litellm.completion(
        model="gpt-4o-mini",
        mock_response="hi",
        messages=[{"role": "user", "content": "hello"}],
        metadata={"tenant_id": tenant},
    )


def test_a_logger_that_replaces_another_records_each_call_once(
    clean_litellm: None, caplog: pytest.LogCaptureFixture
) -> None:
    first = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [first]
    _call("first")
    assert first.flush()
    second = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [second]  # how the docs register a logger
    _call("second")
    assert second.flush() and first.flush()
    assert [r.tenant for r in first.records()] == ["first"]
    assert [r.tenant for r in second.records()] == ["second"]
    assert caplog.text.count("removed from litellm.callbacks") == 1


def test_two_loggers_side_by_side_both_record(clean_litellm: None) -> None:
    a, b = CostHooksLogger(ledger="memory://"), CostHooksLogger(ledger="memory://")
    litellm.callbacks = [a, b]
    _call("acme")
    assert a.flush() and b.flush()
    assert len(a.records()) == len(b.records()) == 1
