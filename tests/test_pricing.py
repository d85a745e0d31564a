"""Tests of llm_cost_hooks.pricing.

The central check: for the same real usage, our cost equals ``litellm.cost_per_token``
reading the same bundled price map. LiteLLM is imported here only (never by the package),
with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so it uses its local map instead of fetching one.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from llm_cost_hooks._errors import (
    ConfigurationError,
    InvalidUsageError,
    LLMCostHooksError,
    PriceOverrideError,
    UnknownModelError,
)
from llm_cost_hooks._records import CostBreakdown, TokenUsage
from llm_cost_hooks.pricing import (
    PRICE_MAP_ENV,
    PRICE_OVERRIDES_ENV,
    ModelPrice,
    PriceBook,
    PricedCost,
    ResolvedPrice,
    ThresholdTier,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A developer's own price settings must not leak into the tests.
    monkeypatch.delenv(PRICE_MAP_ENV, raising=False)
    monkeypatch.delenv(PRICE_OVERRIDES_ENV, raising=False)
    PriceBook.reset_default()
    yield
    PriceBook.reset_default()


@pytest.fixture(scope="module")
def book() -> PriceBook:
    saved = {name: os.environ.pop(name, None) for name in (PRICE_MAP_ENV, PRICE_OVERRIDES_ENV)}
    try:
        return PriceBook()
    finally:
        os.environ.update({name: value for name, value in saved.items() if value is not None})


@pytest.fixture(scope="module")
def litellm() -> Any:
    # Must be set before the import: LiteLLM otherwise downloads a price map at import time.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm as module

    return module


# ------------------------------------------------------------------------ import


def test_import_does_not_import_litellm_or_read_the_map() -> None:
    code = (
        "import sys, llm_cost_hooks.pricing as p, llm_cost_hooks.pricing._pricebook as pb\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
        "assert pb._read_map.cache_info().currsize == 0, 'price map read at import'\n"
        "book = p.PriceBook()\n"
        "assert pb._read_map.cache_info().currsize == 0, 'price map read by the constructor'\n"
        "book.lookup('gpt-4o')\n"
        "assert 'litellm' not in sys.modules, 'litellm imported by a lookup'\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (PRICE_MAP_ENV, PRICE_OVERRIDES_ENV)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_doc_examples_run() -> None:
    import llm_cost_hooks.pricing as package
    from llm_cost_hooks.pricing import _model_price, _names, _overrides, _pricebook

    for module in (package, _model_price, _names, _overrides, _pricebook):
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert outcome.failed == 0, module.__name__


# ------------------------------------------------------------ litellm parity


def _litellm_usage(litellm: Any, usage: TokenUsage, *, anthropic_shape: bool) -> Any:
    """The LiteLLM ``Usage`` of the same real call.

    Both shapes count cached tokens inside ``prompt_tokens``: OpenAI reports them that
    way, and LiteLLM's Anthropic transformation adds Anthropic's separately reported
    ``cache_read_input_tokens``/``cache_creation_input_tokens`` to ``input_tokens``.
    """
    from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

    completion_details = (
        CompletionTokensDetailsWrapper(reasoning_tokens=usage.reasoning_tokens)
        if usage.reasoning_tokens
        else None
    )
    if anthropic_shape:  # what AnthropicConfig.calculate_usage builds
        return Usage(
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            prompt_tokens_details=PromptTokensDetailsWrapper(
                cached_tokens=usage.cache_read_tokens,
                cache_creation_tokens=usage.cache_write_tokens,
                text_tokens=usage.uncached_input_tokens,
            ),
            cache_creation_input_tokens=usage.cache_write_tokens,
            cache_read_input_tokens=usage.cache_read_tokens,
            completion_tokens_details=completion_details,
        )
    return Usage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetailsWrapper(
            cached_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens or None
        ),
        completion_tokens_details=completion_details,
    )


def _litellm_cost(
    litellm: Any, model: str, usage: TokenUsage, *, batch: bool = False, at: datetime | None = None
) -> float:
    from litellm._internal_context import pinned_billing_time

    shape = "claude" in model or "anthropic" in model
    kwargs: dict[str, Any] = {"call_type": "retrieve_batch"} if batch else {}
    with pinned_billing_time(at or datetime.now(timezone.utc)):
        prompt, completion = litellm.cost_per_token(
            model=model, usage_object=_litellm_usage(litellm, usage, anthropic_shape=shape), **kwargs
        )
    return prompt + completion


def _usage(inp: int, out: int, read: int = 0, write: int = 0, reasoning: int = 0) -> TokenUsage:
    return TokenUsage(
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
    )


CHAT = _usage(12_000, 1_500, read=8_000)  # cached prompt
REASONING = _usage(20_000, 6_000, read=5_000, reasoning=4_500)
CLAUDE = _usage(30_000, 2_000, read=20_000, write=6_000)
CLAUDE_THINKING = _usage(30_000, 5_000, read=20_000, write=6_000, reasoning=3_000)
LONG = _usage(250_000, 4_000, read=100_000, write=20_000, reasoning=1_000)  # above a 200k tier
HUGE = _usage(300_000, 4_000, read=120_000, reasoning=2_000)  # above a 272k tier

# (model as LiteLLM callers write it, usage). Our side resolves the same string.
PARITY_CASES = [
    # OpenAI
    ("gpt-4o", CHAT),
    ("gpt-4o-2024-08-06", CHAT),
    ("gpt-4o-mini", CHAT),
    ("gpt-4.1", CHAT),
    ("gpt-4.1-mini", REASONING),
    ("o3", REASONING),
    ("o4-mini", REASONING),
    ("o3-pro", REASONING),  # no cache-read price: cached tokens bill as input
    ("gpt-5", REASONING),
    ("gpt-5-mini", REASONING),
    ("gpt-5.4", REASONING),
    ("gpt-5.4", HUGE),  # above the 272k tier
    # Anthropic: cache reads AND writes, thinking tokens
    ("claude-sonnet-4-5", CLAUDE),
    ("claude-sonnet-4-5-20250929", CLAUDE_THINKING),
    ("claude-haiku-4-5", CLAUDE),
    ("claude-opus-4-5", CLAUDE_THINKING),
    ("claude-sonnet-4-6", CLAUDE),
    ("claude-opus-4-7", CLAUDE),
    ("claude-haiku-5-5", LONG),  # above its 100k tier
    # Google
    ("gemini/gemini-2.5-pro", REASONING),
    ("gemini/gemini-2.5-pro", LONG),  # above the 200k tier
    ("gemini/gemini-2.5-flash", REASONING),  # separate reasoning-token price
    ("vertex_ai/gemini-2.5-pro", LONG),  # Vertex: cache-write price only above 200k
    ("vertex_ai/claude-sonnet-4-5", LONG),
    # Bedrock (Anthropic)
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", CLAUDE),
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", LONG),
    ("bedrock/anthropic.claude-haiku-4-5-20251001-v1:0", CLAUDE_THINKING),
    # Azure
    ("azure/gpt-4o", CHAT),
    ("azure/gpt-4.1", CHAT),
    ("azure/o3", REASONING),
    ("azure/gpt-5", REASONING),
    # Others
    ("mistral/mistral-large-latest", CHAT),
    ("mistral/magistral-medium-latest", REASONING),
    ("deepseek/deepseek-chat", CHAT),
    ("deepseek/deepseek-reasoner", REASONING),
    ("groq/openai/gpt-oss-120b", REASONING),
    ("command-a-03-2025", CHAT),  # Cohere
    ("command-r-08-2024", CHAT),
    ("xai/grok-4.20", REASONING),  # reasoning billed as output
    ("xai/grok-4.3", _usage(200_000, 3_000, read=50_000, reasoning=1_000)),  # xAI tier starts AT 200k
    ("xai/grok-4.3", _usage(199_999, 3_000, read=50_000, reasoning=1_000)),
    ("fireworks_ai/accounts/fireworks/models/deepseek-v3", CHAT),  # default cache-read rate
    ("minimax/MiniMax-M3", _usage(600_000, 2_000, read=300_000)),  # 512k tier
    ("dashscope/qwen-flash", _usage(300_000, 2_000, read=100_000)),  # tier table, upper row
    ("dashscope/qwen-flash", _usage(1_000, 2_000, reasoning=500)),  # tier table, lower row
    ("dashscope/qwen-plus-2025-07-14", REASONING),
]


@pytest.mark.parametrize(
    ("model", "usage"), PARITY_CASES, ids=[f"{m}-{u.input_tokens}" for m, u in PARITY_CASES]
)
def test_cost_equals_litellm(book: PriceBook, litellm: Any, model: str, usage: TokenUsage) -> None:
    ours = book.cost(usage, model)
    assert ours.total > 0
    assert ours.total == pytest.approx(_litellm_cost(litellm, model, usage), rel=1e-9)


def test_parity_covers_enough_models_and_providers(book: PriceBook) -> None:
    models = {book.lookup(model).model for model, _ in PARITY_CASES}
    providers = {book.lookup(model).provider for model, _ in PARITY_CASES}
    assert len(models) >= 20
    assert {"openai", "anthropic", "gemini", "bedrock_converse", "azure", "mistral", "deepseek", "groq",
            "cohere_chat", "xai"} <= providers  # fmt: skip


BATCH_CASES = [
    ("gpt-4o", CHAT),  # batch input/output prices, no batch cache price
    ("gpt-5", REASONING),  # batch cache-read price
    ("gpt-5.4", HUGE),  # batch long-context tier
    ("claude-sonnet-4-5", CLAUDE),  # batch cache read and write prices
    ("gemini/gemini-2.5-pro", LONG),  # no batch tier: the flat batch price applies
    ("xai/grok-4.20", _usage(200_000, 3_000, read=50_000)),  # inclusive batch tier
    ("bedrock/anthropic.claude-haiku-4-5-20251001-v1:0", CLAUDE),
    ("mistral/mistral-large-latest", CHAT),  # no batch prices: half price
    ("deepseek/deepseek-chat", _usage(12_000, 1_500, read=8_000, write=1_000)),  # cache write 0 -> input/2
    ("command-r-08-2024", CHAT),  # no batch and no cache price
]


@pytest.mark.parametrize(("model", "usage"), BATCH_CASES, ids=[m for m, _ in BATCH_CASES])
def test_batch_cost_equals_litellm(book: PriceBook, litellm: Any, model: str, usage: TokenUsage) -> None:
    ours = book.cost(usage, model, batch=True)
    assert ours.total > 0
    assert ours.total == pytest.approx(_litellm_cost(litellm, model, usage, batch=True), rel=1e-9)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 1, 8, 3, 0, tzinfo=timezone.utc),  # Wednesday, peak
        datetime(2025, 1, 8, 12, 0, tzinfo=timezone.utc),  # Wednesday, off-peak window
        datetime(2025, 1, 11, 3, 0, tzinfo=timezone.utc),  # Saturday, off-peak all day
    ],
)
@pytest.mark.parametrize("model", ["deepseek/deepseek-v4-flash", "tencent/deepseek-v4-pro-0813"])
def test_off_peak_cost_equals_litellm(book: PriceBook, litellm: Any, model: str, moment: datetime) -> None:
    ours = book.cost(CHAT, model, at=moment)
    assert ours.total == pytest.approx(_litellm_cost(litellm, model, CHAT, at=moment), rel=1e-9)


def test_off_peak_changes_the_price(book: PriceBook) -> None:
    peak = book.cost(CHAT, "deepseek-v4-flash", at=datetime(2025, 1, 8, 3, 0, tzinfo=timezone.utc))
    night = book.cost(CHAT, "deepseek-v4-flash", at=datetime(2025, 1, 8, 12, 0))  # naive = UTC
    assert night.total == pytest.approx(peak.total / 2, rel=0.2)


def test_completion_cost_of_a_response_agrees(book: PriceBook, litellm: Any) -> None:
    # The same number through LiteLLM's response-level entry point.
    from litellm import ModelResponse

    response = ModelResponse(
        model="claude-sonnet-4-5", usage=_litellm_usage(litellm, CLAUDE, anthropic_shape=True)
    )
    expected = litellm.completion_cost(completion_response=response, model="claude-sonnet-4-5")
    assert book.cost(CLAUDE, "claude-sonnet-4-5").total == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------ breakdown & tiers


def test_breakdown_splits_token_kinds(book: PriceBook) -> None:
    cost = book.cost(CLAUDE_THINKING, "claude-sonnet-4-5")
    assert cost.input == pytest.approx(4_000 * 3e-6)
    assert cost.cache_read == pytest.approx(20_000 * 3e-7)
    assert cost.cache_write == pytest.approx(6_000 * 3.75e-6)
    assert cost.output == pytest.approx(2_000 * 1.5e-5)
    assert cost.reasoning == pytest.approx(3_000 * 1.5e-5)  # no separate thinking price
    assert cost.total == pytest.approx(
        cost.input + cost.cache_read + cost.cache_write + cost.output + cost.reasoning
    )


def test_tier_applies_above_threshold_to_all_tokens(book: PriceBook) -> None:
    price = book.lookup("gemini/gemini-2.5-pro")
    assert price.tiers == (
        ThresholdTier(threshold_tokens=200_000, input_per_token=2.5e-6, output_per_token=1.5e-5,
                      cache_read_per_token=2.5e-7),
    )  # fmt: skip
    at_threshold = book.cost(_usage(200_000, 1_000), "gemini/gemini-2.5-pro")
    above = book.cost(_usage(200_001, 1_000), "gemini/gemini-2.5-pro")
    assert at_threshold.input == pytest.approx(200_000 * 1.25e-6)  # "above", not "at"
    assert above.input == pytest.approx(200_001 * 2.5e-6)  # whole prompt, not the excess
    assert above.output == pytest.approx(1_000 * 1.5e-5)


def test_xai_tier_starts_at_the_threshold(book: PriceBook) -> None:
    assert book.lookup("xai/grok-4.3").tier_threshold_inclusive
    assert book.cost(_usage(200_000, 0), "xai/grok-4.3").input == pytest.approx(200_000 * 2.5e-6)


def test_missing_cache_prices_bill_as_input() -> None:
    price = ModelPrice(model="m", input_per_token=1e-6, output_per_token=2e-6)
    cost = price.cost(_usage(1_000, 0, read=300, write=200))
    assert cost.cache_read == pytest.approx(300e-6)
    assert cost.cache_write == pytest.approx(200e-6)


def test_batch_rules() -> None:
    price = ModelPrice(model="m", input_per_token=2e-6, output_per_token=8e-6, cache_read_per_token=1e-6)
    half = price.cost(_usage(1_000, 100, read=400), batch=True)
    assert (half.input, half.cache_read, half.output) == pytest.approx((600 * 1e-6, 400 * 0.5e-6, 100 * 4e-6))
    priced = price.model_copy(update={"batch_input_per_token": 0.9e-6, "batch_output_per_token": 3e-6})
    cost = priced.cost(_usage(1_000, 100, read=400, reasoning=50), batch=True)
    # No batch cache-read price: cached tokens count as batch input.
    assert (cost.input, cost.cache_read) == pytest.approx((1_000 * 0.9e-6, 0.0))
    assert (cost.output, cost.reasoning) == pytest.approx((50 * 3e-6, 50 * 3e-6))


def test_batch_price_from_map(book: PriceBook) -> None:
    price = book.lookup("claude-haiku-4-5")
    assert (price.batch_input_per_token, price.batch_output_per_token) == (5e-7, 2.5e-6)
    assert (price.batch_cache_read_per_token, price.batch_cache_write_per_token) == (5e-8, 6.25e-7)
    assert book.cost(_usage(1_000_000, 0), "claude-haiku-4-5", batch=True).total == pytest.approx(0.5)


# -------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("model", "provider", "key"),
    [
        ("gpt-4o", None, "gpt-4o"),
        ("GPT-4o", None, "gpt-4o"),
        ("openai/gpt-4o", None, "gpt-4o"),
        ("gpt-4o", "openai", "gpt-4o"),
        ("gpt-4o-2024-08-06", None, "gpt-4o-2024-08-06"),
        ("gpt-4o-2099-12-31", None, "gpt-4o"),  # unknown snapshot -> its alias
        ("ft:gpt-4o-mini-2024-07-18:acme:support:abc123", None, "ft:gpt-4o-mini-2024-07-18"),
        ("gpt-4o-2024-08-06", "azure", "azure/gpt-4o-2024-08-06"),
        ("gpt-4o", "azure_openai", "azure/gpt-4o"),
        ("azure/gpt-4o", None, "azure/gpt-4o"),
        ("gpt-4o", "openai-chat", "gpt-4o"),  # LangChain _llm_type
        ("claude-sonnet-4-5-20250929", None, "claude-sonnet-4-5-20250929"),
        ("anthropic/claude-haiku-4-5", None, "claude-haiku-4-5"),
        ("claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
        ("claude-sonnet-4-5", "google_anthropic_vertex", "vertex_ai/claude-sonnet-4-5"),
        ("gemini-2.5-pro", "google_genai", "gemini/gemini-2.5-pro"),
        ("models/gemini-2.5-pro", "google_genai", "gemini/gemini-2.5-pro"),
        ("gemini-2.5-pro", "google_vertexai", "gemini-2.5-pro"),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "amazon_bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "bedrock/converse/anthropic.claude-haiku-4-5-20251001-v1:0",
            None,
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "bedrock",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("grok-4.20", None, "xai/grok-4.20"),  # bare name, one host
        ("mistral-large-latest", "mistralai", "mistral/mistral-large-latest"),
        ("deepseek-chat", "openai", "deepseek-chat"),  # OpenAI-compatible endpoint: maker's price
        ("gpt-5-nano", "azure", "azure/gpt-5-nano"),
    ],
)
def test_lookup_name_variants(book: PriceBook, model: str, provider: str | None, key: str) -> None:
    assert book.lookup(model, provider).model == key


def test_lookup_never_takes_another_hosts_price(book: PriceBook) -> None:
    # Only "inferenceapis/llama-3.3-70b-versatile" exists; a Groq call must not get its price.
    with pytest.raises(UnknownModelError) as info:
        book.lookup("llama-3.3-70b-versatile", provider="groq")
    assert "inferenceapis/llama-3.3-70b-versatile" in info.value.suggestions


def test_model_price_fields(book: PriceBook) -> None:
    price = book.lookup("claude-sonnet-4-5")
    assert price.provider == "anthropic" and price.mode == "chat" and price.source == "litellm"
    assert (price.input_per_token, price.output_per_token) == (3e-6, 1.5e-5)
    assert (price.cache_read_per_token, price.cache_write_per_token) == (3e-7, 3.75e-6)
    assert (price.max_input_tokens, price.max_output_tokens) == (200_000, 64_000)
    assert price.supports_prompt_caching is True
    assert book.lookup("gemini/gemini-2.5-flash").reasoning_per_token == 2.5e-6
    with pytest.raises(ValidationError):  # frozen
        price.input_per_token = 0.0  # type: ignore[misc]


def test_unknown_model_suggests_close_names(book: PriceBook) -> None:
    with pytest.raises(UnknownModelError) as info:
        book.lookup("gpt-4o-minii")
    error = info.value
    assert error.model == "gpt-4o-minii"
    assert "gpt-4o-mini" in error.suggestions
    assert "gpt-4o-mini" in str(error)
    assert isinstance(error, LLMCostHooksError) and isinstance(error, KeyError)


def test_fallback_price_is_flagged_estimated() -> None:
    book = PriceBook(fallback_price={"input_per_million": 5, "output_per_million": 15})
    price, estimated = book.resolve("my-unknown-model")
    assert estimated and price.source == "fallback"
    assert book.lookup("my-unknown-model") == price
    cost, flagged = book.cost_with_flag(
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000}, "my-unknown-model"
    )
    assert flagged and cost.total == pytest.approx(20.0)
    known = book.cost_with_flag({"input_tokens": 1_000}, "gpt-4o")
    assert isinstance(known, PricedCost) and known.estimated is False
    assert book.resolve("gpt-4o") == ResolvedPrice(book.lookup("gpt-4o"), False)


def test_fallback_price_as_model_price() -> None:
    fallback = ModelPrice(model="guess", input_per_token=1e-6, output_per_token=1e-6)
    book = PriceBook(fallback_price=fallback)
    assert book.resolve("nope").price.source == "fallback"
    with pytest.raises(PriceOverrideError, match=r"fallback_price.*output"):
        PriceBook(fallback_price={"input_per_million": 1})


@pytest.mark.parametrize("model", [None, 42, 3.5, b"gpt-4o", "", "   "])
def test_bad_model_argument(book: PriceBook, model: Any) -> None:
    with pytest.raises(ConfigurationError, match="model"):
        book.lookup(model)
    with pytest.raises(ConfigurationError, match="model"):
        book.cost({"input_tokens": 1}, model)


def test_bad_provider_argument(book: PriceBook) -> None:
    with pytest.raises(ConfigurationError, match="provider"):
        book.lookup("gpt-4o", provider=7)  # type: ignore[arg-type]


# --------------------------------------------------------------------- usage


def test_cost_accepts_a_dict_and_validates_it(book: PriceBook) -> None:
    as_dict = book.cost({"input_tokens": 1_000, "output_tokens": 10, "cache_read_tokens": 500}, "gpt-4o")
    assert as_dict == book.cost(
        TokenUsage(input_tokens=1_000, output_tokens=10, cache_read_tokens=500), "gpt-4o"
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input_tokens": -1}, "non-negative"),
        ({"input_tokens": 1.5}, "non-negative integer"),
        ({"input_tokens": "10"}, "non-negative integer"),
        ({"input_tokens": 10, "cache_read_tokens": 11}, "exceed"),
        ({"output_tokens": 10, "reasoning_tokens": 11}, "exceed"),
        ({"prompt_tokens": 10}, "prompt_tokens"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidUsageError, match=message):
            book.cost(bad, "gpt-4o")
    with pytest.raises(InvalidUsageError):
        book.cost([1, 2], "gpt-4o")  # type: ignore[arg-type]


def test_zero_usage_costs_nothing(book: PriceBook) -> None:
    assert book.cost({}, "gpt-4o") == CostBreakdown()


# ----------------------------------------------------------------- overrides


def test_override_from_dict_adds_a_private_model_and_updates_a_known_one() -> None:
    book = PriceBook(
        overrides={
            "acme/private-llm": {
                "input_per_million": 0.2,
                "output_per_million": 0.6,
                "cache_read_per_million": 0.05,
            },
            "gpt-4o": {"input_per_million": 2.0},  # negotiated input price; the rest stays
        }
    )
    private = book.lookup("acme/private-llm")
    assert private.source == "override" and private.input_per_token == pytest.approx(2e-7)
    assert book.lookup("private-llm").model == "acme/private-llm"  # without its prefix
    assert book.lookup("private-llm", provider="vllm").model == "acme/private-llm"
    gpt = book.lookup("gpt-4o")
    assert gpt.source == "override"
    assert gpt.input_per_token == pytest.approx(2e-6)
    assert gpt.output_per_token == 1e-5 and gpt.cache_read_per_token == 1.25e-6
    assert book.lookup("gpt-4o-mini").source == "litellm"
    assert "+overrides-" in book.version


def test_override_replace_and_litellm_keys_and_tiers() -> None:
    book = PriceBook(
        overrides={
            "anthropic/claude-sonnet-4-5": {
                "replace": True,
                "input_cost_per_token": "3e-6",  # a string, as YAML reads 3e-6
                "output_cost_per_token": 1.5e-5,
            },
            "long-ctx": {
                "input_per_million": 1, "output_per_million": 2,
                "input_per_million_above_128k_tokens": 2, "batch_input_per_million": 0.5,
                "output_cost_per_token_above_128k_tokens": 4e-6, "supports_vision": True, "mode": "chat",
            },
        }
    )  # fmt: skip
    claude = book.lookup("claude-sonnet-4-5")
    assert claude.cache_read_per_token is None and claude.batch_input_per_token is None  # replaced
    assert claude.provider == "anthropic" and claude.max_input_tokens == 200_000  # description kept
    long_ctx = book.lookup("long-ctx")
    assert long_ctx.tiers == (
        ThresholdTier(threshold_tokens=128_000, input_per_token=2e-6, output_per_token=4e-6),
    )
    assert book.cost(_usage(200_000, 10), "long-ctx").input == pytest.approx(200_000 * 2e-6)
    assert long_ctx.batch_input_per_token == pytest.approx(5e-7)


def test_override_of_a_base_price_drops_tier_tables() -> None:
    book = PriceBook(overrides={"dashscope/qwen-flash": {"input_per_million": 1, "output_per_million": 2}})
    assert book.lookup("dashscope/qwen-flash").range_tiers == ()
    assert book.cost(_usage(300_000, 0), "dashscope/qwen-flash").input == pytest.approx(0.3)


def test_override_from_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text(
        "models:\n"
        "  my-model:\n"
        "    provider: vllm\n"
        "    input_per_million: 1.5\n"
        "    output_per_million: 3e-0\n"
        "    cache_read_per_million: '0.5'\n"
    )
    yaml_book = PriceBook(overrides=yaml_file)
    price = yaml_book.lookup("my-model", provider="vllm")
    assert (price.input_per_token, price.output_per_token) == pytest.approx((1.5e-6, 3e-6))
    assert price.cache_read_per_token == pytest.approx(5e-7) and price.provider == "vllm"

    json_file = tmp_path / "prices.json"
    json_file.write_text(
        json.dumps({"my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
    )
    assert PriceBook(overrides=str(json_file)).lookup("my-model").output_per_token == 2e-6


def test_overrides_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.yml"
    path.write_text("env-model: {input_per_million: 4, output_per_million: 8}\n")
    monkeypatch.setenv(PRICE_OVERRIDES_ENV, str(path))
    book = PriceBook.default()
    assert book.lookup("env-model").input_per_token == pytest.approx(4e-6)
    assert PriceBook.default() is book
    # An explicit argument wins over the environment.
    with pytest.raises(UnknownModelError):
        PriceBook(overrides={}).lookup("env-model")


def _override_error(overrides: Any) -> str:
    with pytest.raises(PriceOverrideError) as info:
        PriceBook(overrides=overrides)
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        (
            {"input_per_million": -1, "output_per_million": 1},
            "input_per_million",
            ["negative", "non-negative"],
        ),
        ({"input_per_million": "cheap", "output_per_million": 1}, "input_per_million", ["not a number"]),
        ({"input_per_million": float("nan"), "output_per_million": 1}, "input_per_million", ["finite"]),
        ({"input_per_million": True, "output_per_million": 1}, "input_per_million", ["not a number"]),
        (
            {"input_per_milion": 1, "output_per_million": 1},
            "input_per_milion",
            ["unknown field", "input_per_million"],
        ),
        (
            {"input_per_million": 1, "output_per_million": 1, "input_cost_per_token": 1e-6},
            "input_cost_per_token",
            ["same price"],
        ),
        ({"input_per_million": 1}, "output_per_million", ["not in the price map", "output_per_million"]),
        ({"replace": True, "input_per_million": 1}, "output_per_million", ["replace"]),
        (
            {"input_per_million": 1, "output_per_million": 1, "max_input_tokens": -5},
            "max_input_tokens",
            ["whole number"],
        ),
        (
            {"input_per_million": 1, "output_per_million": 1, "tiered_pricing": []},
            "tiered_pricing",
            ["not supported"],
        ),
        (
            {"input_per_million": 1, "output_per_million": 1, "reasoning_per_million_above_200k_tokens": 1},
            "reasoning_per_million_above_200k_tokens",
            ["reasoning_per_million"],
        ),
    ],
)
def test_malformed_override_entry(entry: dict[str, Any], field: str, words: list[str]) -> None:
    message = _override_error({"acme-model": entry})
    assert "'acme-model'" in message and repr(field) in message and "Fix:" in message
    for word in words:
        assert word in message


def test_partial_override_of_a_known_model_is_fine_but_typo_is_caught() -> None:
    assert PriceBook(overrides={"claude-haiku-4-5": {"output_per_million": 4}}).lookup(
        "claude-haiku-4-5"
    ).output_per_token == pytest.approx(4e-6)
    message = _override_error({"claude-haiku-4.5": {"output_per_million": 4}})
    assert "not in the price map" in message and "claude-haiku-4-5" in message


def test_malformed_override_files_name_the_file(tmp_path: Path) -> None:
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("my-model:\n  input_per_million: [1\n")
    message = _override_error(broken_yaml)
    assert str(broken_yaml) in message and "YAML" in message and "line" in message

    broken_json = tmp_path / "broken.json"
    broken_json.write_text('{"my-model": {"input_per_million": 1,}}')
    message = _override_error(broken_json)
    assert str(broken_json) in message and "JSON" in message

    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- a\n- b\n")
    assert "mapping" in _override_error(not_mapping)

    bad_value = tmp_path / "bad.yaml"
    bad_value.write_text("my-model:\n  input_per_million: -3\n  output_per_million: 1\n")
    message = _override_error(bad_value)
    assert str(bad_value) in message and "'my-model'" in message and "'input_per_million'" in message

    assert "does not exist" in _override_error(tmp_path / "missing.yaml")
    assert "entry" in _override_error({"m": 3}) or "mapping" in _override_error({"m": 3})


def test_env_var_override_errors_name_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRICE_OVERRIDES_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(PriceOverrideError, match=PRICE_OVERRIDES_ENV):
        PriceBook()


# ------------------------------------------------------------ map & version


def test_version_names_litellm_and_the_file(book: PriceBook) -> None:
    import importlib.metadata

    version = book.version
    assert version.startswith(f"litellm-{importlib.metadata.version('litellm')}+")
    assert len(version.rsplit("+", 1)[1]) == 12
    assert book.price_map_path.name == "model_prices_and_context_window_backup.json"


def test_custom_price_map_by_argument_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "map.json"
    custom.write_text(
        json.dumps(
            {
                "sample_spec": {"input_cost_per_token": 0},
                "newer-model": {
                    "litellm_provider": "openai",
                    "mode": "chat",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 3e-6,
                },
            }
        )
    )
    by_argument = PriceBook(price_map_path=custom)
    assert by_argument.version.startswith(f"override:{custom}+")
    assert by_argument.lookup("newer-model").output_per_token == 3e-6
    with pytest.raises(UnknownModelError):
        by_argument.lookup("gpt-4o")
    with pytest.raises(UnknownModelError):
        by_argument.lookup("sample_spec")

    monkeypatch.setenv(PRICE_MAP_ENV, str(custom))
    assert PriceBook().lookup("newer-model").input_per_token == 1e-6


def test_bad_custom_price_map(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="price map"):
        PriceBook(price_map_path=tmp_path / "missing.json").lookup("gpt-4o")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        PriceBook(price_map_path=garbage).lookup("gpt-4o")
    with pytest.raises(ConfigurationError):
        PriceBook(price_map_path=123)  # type: ignore[arg-type]


def test_default_book_is_built_once_across_threads() -> None:
    books: list[PriceBook] = []
    threads = [threading.Thread(target=lambda: books.append(PriceBook.default())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(b) for b in books}) == 1


def test_concurrent_first_lookups_share_one_load() -> None:
    book = PriceBook()
    prices: list[float] = []

    def work() -> None:
        prices.append(book.lookup("claude-opus-4-5").output_per_token)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert prices == [2.5e-5] * 8
