"""Usage shapes real providers return, priced as the provider bills them. Each test shows
the hand computation from the shipped price map's entry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llm_cost_hooks.langchain import CostCallbackHandler


class _Reporting(BaseChatModel):
    """Answers with the usage_metadata a provider package reports."""

    model_name: str
    provider: str
    usage: dict[str, Any]

    @property
    def _llm_type(self) -> str:
        return self.provider

    def _get_ls_params(self, stop: Any = None, **kw: Any) -> Any:
        return {"ls_provider": self.provider, "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ok", usage_metadata=self.usage))])  # type: ignore[arg-type]

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        yield ChatGenerationChunk(message=AIMessageChunk("ok"))
        yield ChatGenerationChunk(message=AIMessageChunk("", usage_metadata=self.usage))  # type: ignore[arg-type]


def _anthropic_usage(five_minute: int, one_hour: int) -> dict[str, Any]:
    # langchain-anthropic 1.x once Anthropic splits the cache write by lifetime:
    # cache_creation is 0 and the writes are in ephemeral_*_input_tokens; input_tokens
    # holds 1000 uncached + 20000 read + the writes.
    return {
        "input_tokens": 21_000 + five_minute + one_hour,
        "output_tokens": 500,
        "total_tokens": 21_500 + five_minute + one_hour,
        "input_token_details": {
            "cache_read": 20_000,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": five_minute,
            "ephemeral_1h_input_tokens": one_hour,
        },
    }


@pytest.mark.parametrize("stream", [False, True])
def test_langchain_anthropic_cache_writes_split_by_lifetime_bill_at_the_write_rate(stream: bool) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = _Reporting(model_name="claude-sonnet-4-5", provider="anthropic", usage=_anthropic_usage(5_000, 0))
    if stream:
        for _ in model.stream("hi", config={"callbacks": [handler]}):
            pass
    else:
        model.invoke("hi", config={"callbacks": [handler]})
    (rec,) = handler.records()
    assert (rec.input_tokens, rec.cache_read_tokens, rec.cache_write_tokens) == (26_000, 20_000, 5_000)
    # claude-sonnet-4-5: input $3/M, cache read $0.30/M, cache write (5 min) $3.75/M, output $15/M
    hand = 1_000 * 3e-6 + 20_000 * 0.3e-6 + 5_000 * 3.75e-6 + 500 * 15e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(0.03525, rel=1e-12)


def test_litellm_azure_deployment_is_priced_as_its_base_model(litellm_clean: Any) -> None:
    from litellm.types.utils import Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    usage = Usage(prompt_tokens=10_000, completion_tokens=1_000, total_tokens=11_000)
    mock = litellm_clean.ModelResponse(
        model="gpt-4o",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=usage,
    )
    resp = litellm_clean.completion(
        model="azure/prod-chat-eastus",
        messages=[{"role": "user", "content": "hi"}],
        mock_response=mock,
        api_base="https://example.openai.azure.com",
        api_key="test",
        api_version="2024-10-21",
        model_info={"base_model": "azure/gpt-4o"},
    )
    deadline = time.monotonic() + 10
    while not cl.records() and time.monotonic() < deadline:
        time.sleep(0.02)
    (rec,) = cl.records()
    cl.flush()
    # azure/gpt-4o: input $2.50/M, output $10/M
    hand = 10_000 * 2.5e-6 + 1_000 * 10e-6
    assert not rec.price_estimated
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert rec.tags.get("deployment") == "prod-chat-eastus"
    assert "cost_mismatch" not in rec.tags
