"""Usage shapes real providers return, priced as the provider bills them. Each test shows
the hand computation from the shipped price map's entry."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llm_cost_hooks import InvalidUsageError, PriceBook, TokenUsage
from llm_cost_hooks._records import usage_invalid
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


def _wait(cost_logger: Any) -> None:
    # Sync success events run on LiteLLM's logging thread pool.
    deadline = time.monotonic() + 10
    while not cost_logger.records() and time.monotonic() < deadline:
        time.sleep(0.02)


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
    _wait(cl)
    (rec,) = cl.records()
    cl.flush()
    # azure/gpt-4o: input $2.50/M, output $10/M
    hand = 10_000 * 2.5e-6 + 1_000 * 10e-6
    assert not rec.price_estimated
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert rec.tags.get("deployment") == "prod-chat-eastus"
    assert "cost_mismatch" not in rec.tags


def test_langchain_one_hour_cache_writes_bill_at_the_one_hour_rate() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = _Reporting(
        model_name="claude-sonnet-4-5", provider="anthropic", usage=_anthropic_usage(2_000, 3_000)
    )
    model.invoke("hi", config={"callbacks": [handler]})
    (rec,) = handler.records()
    assert (rec.input_tokens, rec.cache_read_tokens, rec.cache_write_tokens) == (26_000, 20_000, 5_000)
    # claude-sonnet-4-5: 5-minute write $3.75/M, 1-hour write $6/M
    hand = 1_000 * 3e-6 + 20_000 * 0.3e-6 + 2_000 * 3.75e-6 + 3_000 * 6e-6 + 500 * 15e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(0.042, rel=1e-12)
    assert rec.cost_breakdown.cache_write == pytest.approx(2_000 * 3.75e-6 + 3_000 * 6e-6, rel=1e-12)


def test_litellm_one_hour_cache_writes_match_litellm(litellm_clean: Any) -> None:
    from litellm.types.utils import CacheCreationTokenDetails, Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    # LiteLLM's usage of an Anthropic reply: prompt_tokens holds the reads and writes.
    usage = Usage(
        prompt_tokens=26_000,
        completion_tokens=500,
        total_tokens=26_500,
        cache_read_input_tokens=20_000,
        cache_creation_input_tokens=5_000,
    )
    usage.prompt_tokens_details.cache_creation_token_details = CacheCreationTokenDetails(  # type: ignore[union-attr]
        ephemeral_5m_input_tokens=2_000, ephemeral_1h_input_tokens=3_000
    )
    mock = litellm_clean.ModelResponse(
        model="claude-sonnet-4-5",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=usage,
    )
    resp = litellm_clean.completion(
        model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}], mock_response=mock
    )
    _wait(cl)
    (rec,) = cl.records()
    cl.flush()
    hand = 1_000 * 3e-6 + 20_000 * 0.3e-6 + 2_000 * 3.75e-6 + 3_000 * 6e-6 + 500 * 15e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert "cost_mismatch" not in rec.tags


def test_anthropic_native_usage_with_one_hour_writes() -> None:
    from llm_cost_hooks.tracking._usage import usage_from_openai

    # Anthropic's own usage: input_tokens leaves out the reads and writes.
    usage = usage_from_openai(
        {
            "input_tokens": 1_000,
            "output_tokens": 500,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 5_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 3_000},
        }
    )
    assert usage is not None
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        26_000,
        5_000,
        3_000,
    )
    cost = PriceBook.default().cost(usage, "claude-sonnet-4-5")
    assert cost.total == pytest.approx(0.042, rel=1e-12)


def test_one_hour_writes_above_the_long_context_threshold_use_that_tier() -> None:
    price = PriceBook.default().lookup("anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock")
    usage = TokenUsage(
        input_tokens=300_000, output_tokens=1_000, cache_write_tokens=100_000, cache_write_1h_tokens=100_000
    )
    # above 200k: input $6/M, 1-hour write $12/M, output $22.50/M
    hand = 200_000 * 6e-6 + 100_000 * 12e-6 + 1_000 * 22.5e-6
    assert price.cost(usage).total == pytest.approx(hand, rel=1e-12)


def test_one_hour_writes_are_part_of_the_cache_writes() -> None:
    with pytest.raises(InvalidUsageError, match="cache_write_1h_tokens"):
        TokenUsage(input_tokens=10, cache_write_tokens=2, cache_write_1h_tokens=3)
    repaired = TokenUsage.from_reported(10, 1, 0, 2, 0, 3)
    assert repaired.cache_write_1h_tokens == 2 and usage_invalid(repaired) is not None


def test_langchain_audio_input_tokens_bill_at_the_audio_rate() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    usage = {
        "input_tokens": 5_000,
        "output_tokens": 100,
        "total_tokens": 5_100,
        "input_token_details": {"audio": 4_000},
    }
    _Reporting(model_name="gemini-2.5-flash", provider="google_genai", usage=usage).invoke(
        "hi", config={"callbacks": [handler]}
    )
    (rec,) = handler.records()
    # gemini-2.5-flash: text input $0.30/M, audio input $1/M, output $2.50/M
    hand = 1_000 * 0.3e-6 + 4_000 * 1e-6 + 100 * 2.5e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(0.00455, rel=1e-12)


def test_litellm_audio_input_and_output_match_litellm(litellm_clean: Any) -> None:
    from litellm.types.utils import Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    usage = Usage(
        prompt_tokens=3_000,
        completion_tokens=1_200,
        total_tokens=4_200,
        prompt_tokens_details={"audio_tokens": 2_000, "text_tokens": 1_000},
        completion_tokens_details={"audio_tokens": 1_000, "text_tokens": 200},
    )
    mock = litellm_clean.ModelResponse(
        model="gpt-audio",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=usage,
    )
    resp = litellm_clean.completion(
        model="gpt-audio", messages=[{"role": "user", "content": "hi"}], mock_response=mock
    )
    _wait(cl)
    (rec,) = cl.records()
    cl.flush()
    # gpt-audio: text in $2.50/M, audio in $32/M, text out $10/M, audio out $64/M
    hand = 1_000 * 2.5e-6 + 2_000 * 32e-6 + 200 * 10e-6 + 1_000 * 64e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)


def test_audio_tokens_are_part_of_input_and_output() -> None:
    with pytest.raises(InvalidUsageError, match="audio_input_tokens"):
        TokenUsage(input_tokens=10, cache_read_tokens=5, audio_input_tokens=6)
    with pytest.raises(InvalidUsageError, match="audio_output_tokens"):
        TokenUsage(input_tokens=10, output_tokens=5, reasoning_tokens=3, audio_output_tokens=3)
    repaired = TokenUsage.from_reported(10, 5, 5, 0, 0, 0, 6, 0)
    assert repaired.audio_input_tokens == 5 and usage_invalid(repaired) is not None
    # A model without audio prices bills audio as text.
    plain = PriceBook.default().cost(TokenUsage(input_tokens=1_000, audio_input_tokens=400), "gpt-4o")
    assert plain.total == pytest.approx(1_000 * 2.5e-6, rel=1e-12)


def _gemini_image_usage(litellm: Any, model: str) -> Any:
    # LiteLLM's usage of a Gemini 2.5 Flash Image answer: candidatesTokensDetails with modality
    # IMAGE become completion_tokens_details.image_tokens; thoughts are the reasoning tokens.
    from litellm.types.utils import Usage

    usage = Usage(
        prompt_tokens=20,
        completion_tokens=1_400,
        total_tokens=1_420,
        completion_tokens_details={"image_tokens": 1_290, "text_tokens": 60, "reasoning_tokens": 50},
    )
    return litellm.ModelResponse(
        model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=usage,
    )


@pytest.mark.parametrize("model", ["gemini/gemini-2.5-flash-image", "gpt-image-1"])
def test_litellm_image_output_tokens_bill_at_the_image_rate(litellm_clean: Any, model: str) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    resp = litellm_clean.completion(
        model=model,
        messages=[{"role": "user", "content": "draw"}],
        mock_response=_gemini_image_usage(litellm_clean, model),
    )
    _wait(cl)
    (rec,) = cl.records()
    cl.flush()
    if model.startswith("gemini"):
        # text in $0.30/M, text out and thoughts $2.50/M, image out $30/M
        hand = 20 * 0.3e-6 + (60 + 50) * 2.5e-6 + 1_290 * 30e-6
    else:
        # gpt-image-1 has no text output rate: every output token bills at $40/M, as in LiteLLM
        hand = 20 * 5e-6 + 1_400 * 40e-6
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert not rec.price_estimated


def test_image_output_without_an_image_rate_is_flagged_and_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from llm_cost_hooks.tracking._pricing import Pricer

    pricer = Pricer(PriceBook.default(), strict=False)
    usage = TokenUsage(input_tokens=20, output_tokens=1_400, reasoning_tokens=50, image_output_tokens=1_290)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        cost, estimated = pricer.price(usage, "gemini-2.5-flash", None)
        again = pricer.price(usage, "gemini-2.5-flash", None)
    # gemini-2.5-flash has no image output rate: the text output rate, flagged.
    assert cost.total == pytest.approx(20 * 0.3e-6 + 1_400 * 2.5e-6, rel=1e-12)
    assert estimated and again[1]
    assert len([r for r in caplog.records if "image output" in r.getMessage()]) == 1
    assert PriceBook.default().cost_with_flag(usage, "gemini-2.5-flash").estimated
    assert not PriceBook.default().cost_with_flag(usage, "gemini-2.5-flash-image").estimated


def test_image_output_tokens_are_part_of_output() -> None:
    with pytest.raises(InvalidUsageError, match="image_output_tokens"):
        TokenUsage(input_tokens=10, output_tokens=5, reasoning_tokens=3, image_output_tokens=3)
    repaired = TokenUsage.from_reported(10, 5, 0, 0, 3, 0, 0, 0, 4)
    assert repaired.image_output_tokens == 2 and usage_invalid(repaired) is not None
