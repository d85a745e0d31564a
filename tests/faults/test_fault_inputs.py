"""Malformed provider usage through a real LangChain chain: every call still ends as a
record (repaired and flagged, or estimated), never as an error LangChain only logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler


class _BrokenUsageModel(BaseChatModel):
    """Answers with exactly the ``usage_metadata`` it is given (no validation on the way),
    as a provider integration with a bug would."""

    usage: Any = None

    @property
    def _llm_type(self) -> str:
        return "broken-usage"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        msg = AIMessage(content="an answer of five words", response_metadata={"model_name": "gpt-4o-mini"})
        object.__setattr__(msg, "usage_metadata", self.usage)
        return ChatResult(generations=[ChatGeneration(message=msg)])


def _run(usage: Any) -> Any:
    handler = CostCallbackHandler(ledger="memory://", strict=True)
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | _BrokenUsageModel(usage=usage)
    chain.invoke({"q": "hello there"}, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
    records = handler.records()
    assert len(records) == 1, records
    return records[0]


@pytest.mark.parametrize("usage", [[1, 2, 3], "12 tokens", 15], ids=["list", "string", "int"])
def test_usage_that_is_not_a_mapping_is_counted_and_flagged_estimated(usage: Any) -> None:
    record = _run(usage)
    assert record.tokens_estimated
    assert record.input_tokens > 0 and record.output_tokens > 0
    assert record.cost_usd > 0


def test_token_details_that_are_not_mappings_are_repaired_and_flagged() -> None:
    record = _run(
        {
            "input_tokens": 12,
            "output_tokens": 3,
            "total_tokens": 15,
            "input_token_details": "cache",
            "output_token_details": [1],
        }
    )
    assert (record.input_tokens, record.output_tokens) == (12, 3)
    assert (record.cache_read_tokens, record.reasoning_tokens) == (0, 0)
    original = json.loads(record.tags["usage_invalid"])
    assert original["cache_read_tokens"] == "cache" and original["reasoning_tokens"] == "[1]"


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": None, "output_tokens": None, "total_tokens": None},
        {"input_tokens": 12, "output_tokens": None, "total_tokens": 12},
    ],
    ids=["both-none", "output-none"],
)
def test_a_count_left_out_is_counted_and_flagged_estimated_not_zero(usage: Any) -> None:
    record = _run(usage)
    assert record.tokens_estimated
    assert record.input_tokens > 0 and record.output_tokens > 0
    assert record.cost_usd > 0
