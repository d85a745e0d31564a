"""Record faults: a value the store rejects, broken or absurd usage, bad configuration.
Nothing is lost or silently wrong: records are kept (flagged) or set aside and counted,
and configuration errors are typed and say what to fix."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fault_tools import child_env, dead_letter_ids, ledger_ids

from llm_cost_hooks import (
    ConfigurationError,
    CostRecord,
    CostTracker,
    PriceOverrideError,
    SettingsError,
    TokenUsage,
)
from llm_cost_hooks.ledger import JSONLLedger, SQLiteLedger, replay_dead_letters


def rec(i: int, **kw: Any) -> CostRecord:
    return CostRecord(request_id=f"r{i}", model="gpt-4o-mini", input_tokens=10, output_tokens=2, **kw)


@pytest.mark.parametrize("store", ["sqlite", "jsonl"])
def test_a_poison_record_is_set_aside_and_never_blocks_the_others(
    tmp_path: Path, store: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / ("costs.db" if store == "sqlite" else "costs.jsonl")
    ledger = SQLiteLedger(path) if store == "sqlite" else JSONLLedger(path)
    # Built without validation, as a buggy adapter could: a lone surrogate the store cannot encode.
    poison = CostRecord.model_construct(**{**rec(50).__dict__, "tenant": "acme\udcff"})
    for i in range(100):
        ledger.write(poison if i == 50 else rec(i))
    assert ledger.flush(20)
    for i in range(100, 200):
        ledger.write(rec(i))  # the next records are not blocked by it
    assert ledger.flush(20)
    written = {r.request_id for r in ledger.records()}
    assert written == {f"r{i}" for i in range(200)} - {"r50"}
    assert dead_letter_ids(ledger.dead_letter_path) == ["r50"]
    s = ledger.stats
    assert (s.written, s.dead_lettered, s.dropped) == (199, 1, 0)
    assert caplog.text.count("set aside in") == 1 and "replay_dead_letters" in caplog.text
    ledger.close()


def test_dead_letters_replay_into_the_ledger(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "costs.db")
    ledger._set_aside([rec(1), rec(2)], [], reason="test")
    assert replay_dead_letters(ledger.dead_letter_path, ledger) == 2
    assert sorted(ledger_ids(tmp_path / "costs.db")) == ["r1", "r2"]
    assert not ledger.dead_letter_path.exists()
    assert ledger.dead_letter_path.with_name(ledger.dead_letter_path.name + ".replayed").exists()
    ledger.close()


def test_unstorable_text_is_made_storable_when_the_record_is_built(tmp_path: Path) -> None:
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'costs.db'}")
    for i in range(100):
        tracker.start_llm(
            f"r{i}",
            None,
            model="gpt-4o-mini",
            metadata={
                "tenant_id": b"caf\xe9".decode("utf-8", "surrogateescape"),
                "feature": "x" * 10_000,
                "cost_tags": {"team\udc80": "a\x00b"},
            },
        )
        tracker.end_llm(f"r{i}", TokenUsage(input_tokens=10, output_tokens=2))
    assert tracker.flush(20)
    records = list(tracker.ledger.records())
    assert len(records) == 100 and tracker.ledger.stats.dead_lettered == 0
    r = records[0]
    # A tenant with undecodable bytes names no tenant (two such tenants would merge once made
    # storable); other fields are made storable.
    assert r.tenant is None and len(r.feature or "") == 512 and r.tags == {"team\ufffd": "a\ufffdb"}
    tracker.close()


def _langchain_end(tracker_handler: Any, usage_metadata: dict[str, Any]) -> CostRecord:
    from uuid import uuid4

    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    run_id = uuid4()
    tracker_handler.on_chat_model_start(
        {"name": "x"},
        [[HumanMessage("hi")]],
        run_id=run_id,
        invocation_params={"model_name": "gpt-4o-mini", "_type": "openai-chat"},
    )
    msg = AIMessage("hello", usage_metadata=usage_metadata, response_metadata={"model_name": "gpt-4o-mini"})
    tracker_handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=msg)]]), run_id=run_id)
    [record] = [r for r in tracker_handler.records() if r.request_id == str(run_id)]
    return record


@pytest.mark.parametrize(
    "usage, repaired",
    [
        ({"input_tokens": 100, "output_tokens": -5, "total_tokens": 95}, (100, 0, 0)),
        (
            {
                "input_tokens": 100,
                "output_tokens": 20,
                "total_tokens": 120,
                "input_token_details": {"cache_read": 150},
            },
            (100, 20, 100),
        ),
    ],
)
def test_invalid_usage_keeps_the_record_flagged(
    usage: dict[str, Any], repaired: tuple[int, int, int]
) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger="memory://")
    record = _langchain_end(handler, usage)
    assert (record.input_tokens, record.output_tokens, record.cache_read_tokens) == repaired
    original = json.loads(record.tags["usage_invalid"])
    assert (
        original["input_tokens"] == usage["input_tokens"]
        and original["output_tokens"] == usage["output_tokens"]
    )


def test_invalid_litellm_usage_is_flagged() -> None:
    from llm_cost_hooks._records import usage_invalid
    from llm_cost_hooks.litellm._usage import usage_from_litellm

    u = usage_from_litellm(
        {"prompt_tokens": 10, "completion_tokens": -3, "prompt_tokens_details": {"cached_tokens": 50}}
    )
    assert u is not None and (u.input_tokens, u.output_tokens, u.cache_read_tokens) == (10, 0, 10)
    assert usage_invalid(u) == {
        "input_tokens": 10,
        "output_tokens": -3,
        "cache_read_tokens": 50,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert usage_invalid(usage_from_litellm({"prompt_tokens": 10, "completion_tokens": 3})) is None


def test_implausible_usage_is_flagged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    tracker = CostTracker(ledger="memory://")
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    record = tracker.end_llm("r1", TokenUsage(input_tokens=10**15, output_tokens=10))
    assert record is not None
    assert "10x the model's limit" in record.tags["usage_implausible"]
    assert "implausible usage" in caplog.text
    tracker.start_llm("r2", None, model="gpt-4o-mini", provider="openai")
    normal = tracker.end_llm("r2", TokenUsage(input_tokens=120_000, output_tokens=10))
    assert normal is not None and "usage_implausible" not in normal.tags


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("LLM_COST_HOOKS_CAPTURE_CONTENT", "maybe", "true or false"),
        ("LLM_COST_HOOKS_TOKENIZER_SOURCE", "sentencepiece", "one of 'bundled', 'tiktoken'"),
        ("LLM_COST_HOOKS_EXIT_TIMEOUT", "soon", "a number of seconds"),
        ("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "never", "one of 'any_error', 'root_error'"),
    ],
)
def test_bad_environment_variables_are_typed_errors(variable: str, value: str, expected: str) -> None:
    script = (
        "from llm_cost_hooks import CostTracker\n"
        "from llm_cost_hooks._errors import SettingsError\n"
        "try:\n    CostTracker(ledger='memory://')\n"
        "except SettingsError as e:\n    print(type(e).__name__, e.variable, '|', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(**{variable: value}),
    ).stdout
    assert out.startswith(f"SettingsError {variable} | {variable}={value!r} is not valid"), out
    assert expected in out
    assert issubclass(SettingsError, ConfigurationError)


def test_malformed_price_overrides_fail_at_construction_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_cost_hooks import PriceBook
    from llm_cost_hooks.langchain import CostCallbackHandler

    bad = tmp_path / "prices.yaml"
    bad.write_text(
        "my-llm:\n  input_per_million: 1\n  output_per_million: 2\n"
        "gpt-4o-mini:\n  output_per_million: 0.6\n  input_per_million: abc\n"
    )
    monkeypatch.setenv("LLM_COST_HOOKS_PRICE_OVERRIDES", str(bad))
    PriceBook.reset_default()
    try:
        with pytest.raises(
            PriceOverrideError,
            match=r"prices.yaml' \(from LLM_COST_HOOKS_PRICE_OVERRIDES\), "
            r"line 6, model 'gpt-4o-mini', field 'input_per_million'.*Fix:",
        ):
            CostCallbackHandler(ledger="memory://")
    finally:
        PriceBook.reset_default()


def test_a_price_map_that_cannot_load_fails_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_cost_hooks import PriceBook

    bad = tmp_path / "map.json"
    bad.write_text('{"gpt-4o-mini": {"input_cost_per_token": 1e-7,}')
    with pytest.raises(ConfigurationError, match="map.json' is not valid JSON.*line 1"):
        PriceBook(price_map_path=bad)
    monkeypatch.setenv("LLM_COST_HOOKS_PRICE_MAP", str(bad))
    PriceBook.reset_default()
    try:
        with pytest.raises(ConfigurationError, match="not valid JSON"):
            CostTracker(ledger="memory://")
    finally:
        PriceBook.reset_default()
    # With the variable unset, known models are priced again (never $0).
    monkeypatch.delenv("LLM_COST_HOOKS_PRICE_MAP")
    tracker = CostTracker(ledger="memory://")
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    record = tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=100))
    assert record is not None and record.cost_usd > 0 and not record.price_estimated


def test_failing_store_is_retried_with_back_off_not_a_busy_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    calls = []

    class Failing(SQLiteLedger):
        def _write_batch(self, records, outcomes):  # type: ignore[no-untyped-def]
            calls.append(len(records))
            raise sqlite3.OperationalError("attempt to write a readonly database")

    ledger = Failing(tmp_path / "costs.db", flush_interval=0.01)
    for i in range(300):
        ledger.write(rec(i))
    with caplog.at_level(logging.WARNING):
        assert ledger.flush(timeout=2.0) is False
    assert 3 <= len(calls) <= 10  # 0.1 + 0.2 + 0.4 + 0.8 s back-off within 2 s
    ledger.close(timeout=0.2)
    assert ledger.stats.dead_lettered == 300 and ledger.stats.dropped == 0
    assert sorted(dead_letter_ids(ledger.dead_letter_path)) == sorted(f"r{i}" for i in range(300))


def test_a_record_written_after_close_is_set_aside(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "costs.db")
    ledger.write(rec(1))
    ledger.close(timeout=5)
    ledger.write(rec(2))  # e.g. from an exit hook that runs after ours
    assert dead_letter_ids(ledger.dead_letter_path) == ["r2"]
    s = ledger.stats
    assert (s.written, s.dead_lettered, s.dropped) == (1, 1, 0)
