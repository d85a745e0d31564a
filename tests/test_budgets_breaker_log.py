"""A model's circuit says in the log when it opens and when it closes again."""

from __future__ import annotations

import logging

from llm_cost_hooks.dedup import CircuitBreaker


def _breaker_lines(caplog) -> list[logging.LogRecord]:  # type: ignore[no-untyped-def]
    # The breaker's logger only: a line another test's background thread logs meanwhile
    # (a ledger's retries, say) is not this breaker's.
    return [r for r in caplog.records if r.name == "llm_cost_hooks.dedup"]


def test_a_model_circuit_logs_when_it_opens_and_when_it_closes(caplog) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, window_seconds=60, reset_seconds=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="llm_cost_hooks.dedup"):
        breaker.record_failure("gpt-4o")
        assert not _breaker_lines(caplog)  # one failure opens nothing
        breaker.record_failure("gpt-4o")
        now[0] = 10.0
        breaker.check("gpt-4o")  # the probe
        breaker.record_failure("gpt-4o")  # fails: open again
        now[0] = 20.0
        breaker.check("gpt-4o")
        breaker.record_success("gpt-4o")
        breaker.record_success("gpt-4o")  # already closed: nothing more to say
    lines = [(r.levelno, r.getMessage()) for r in _breaker_lines(caplog)]
    assert len(lines) == 3
    (opened_level, opened), (probe_level, probe), (closed_level, closed) = lines
    assert opened_level == logging.WARNING and "'gpt-4o'" in opened and "opened" in opened
    assert "2 failures" in opened and "10" in opened
    assert probe_level == logging.INFO and "probe" in probe
    assert closed_level == logging.INFO and "closed" in closed  # good news: not a warning
