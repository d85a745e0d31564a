"""OpenAI service tiers (``flex``, ``priority``) priced at the tier's rates, as OpenAI bills
them and LiteLLM's cost calculator prices them. Each test shows the hand computation from
the shipped price map's entry (gpt-5: input $1.25/M, cache read $0.125/M, output $10/M;
flex half of each; priority $2.50/M, $0.25/M, $20/M)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.tracking._usage import usage_from_metadata

# 1350 prompt tokens of which 1152 cached, 260 completion tokens of which 192 reasoning.
USAGE = TokenUsage(input_tokens=1_350, output_tokens=260, cache_read_tokens=1_152, reasoning_tokens=192)
STANDARD = 198 * 1.25e-6 + 1_152 * 0.125e-6 + 260 * 10e-6
FLEX = 198 * 0.625e-6 + 1_152 * 0.0625e-6 + 260 * 5e-6
PRIORITY = 198 * 2.5e-6 + 1_152 * 0.25e-6 + 260 * 20e-6


def _langchain_openai_usage(tier: str | None) -> dict[str, Any]:
    """The usage_metadata langchain-openai 1.x builds (``_create_usage_metadata``): on the
    flex and priority tiers the cache reads and reasoning move to ``<tier>_cache_read`` and
    ``<tier>_reasoning`` and the tier's other tokens to ``input_token_details[tier]``."""
    prefix = f"{tier}_" if tier else ""
    inp: dict[str, int] = {"audio": 0, f"{prefix}cache_read": 1_152}
    out: dict[str, int] = {"audio": 0, f"{prefix}reasoning": 192}
    if tier:
        inp[tier], out[tier] = 1_350 - 1_152, 260 - 192
    return {"input_tokens": 1_350, "output_tokens": 260, "total_tokens": 1_610,
            "input_token_details": inp, "output_token_details": out}  # fmt: skip


class _Reporting(BaseChatModel):
    model_name: str
    usage: dict[str, Any]

    @property
    def _llm_type(self) -> str:
        return "openai"

    def _get_ls_params(self, stop: Any = None, **kw: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": self.model_name, "ls_model_type": "chat"}

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ok", usage_metadata=self.usage))])  # type: ignore[arg-type]

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        yield ChatGenerationChunk(message=AIMessageChunk("ok"))
        yield ChatGenerationChunk(message=AIMessageChunk("", usage_metadata=self.usage))  # type: ignore[arg-type]


def test_price_book_prices_each_tier_at_its_rates() -> None:
    book = PriceBook.default()
    assert book.cost(USAGE, "gpt-5").total == pytest.approx(STANDARD, rel=1e-12)
    assert book.cost(USAGE, "gpt-5", service_tier="flex").total == pytest.approx(FLEX, rel=1e-12)
    assert book.cost(USAGE, "gpt-5", service_tier="priority").total == pytest.approx(PRIORITY, rel=1e-12)
    # OpenAI answers "default" for the standard tier; "auto" is a request, not a tier.
    for standard in ("default", "auto", "standard"):
        priced = book.cost_with_flag(USAGE, "gpt-5", service_tier=standard)
        assert priced.cost.total == pytest.approx(STANDARD, rel=1e-12) and not priced.estimated
    # Batch prices are their own: a tier does not change them.
    assert book.cost(USAGE, "gpt-5", batch=True, service_tier="priority") == book.cost(
        USAGE, "gpt-5", batch=True
    )


def test_a_tier_without_rates_bills_the_standard_rates_flagged() -> None:
    # gpt-4o has priority rates in the map but no flex ones.
    book = PriceBook.default()
    gpt4o = 198 * 2.5e-6 + 1_152 * 1.25e-6 + 260 * 10e-6
    flex = book.cost_with_flag(USAGE, "gpt-4o", service_tier="flex")
    assert flex.cost.total == pytest.approx(gpt4o, rel=1e-12) and flex.estimated
    priority = book.cost_with_flag(USAGE, "gpt-4o", service_tier="priority")
    assert priority.cost.total == pytest.approx(198 * 4.25e-6 + 1_152 * 2.125e-6 + 260 * 17e-6, rel=1e-12)
    assert not priority.estimated


def test_langchain_openai_tier_usage_keeps_its_cache_reads_and_reasoning() -> None:
    for tier in ("flex", "priority"):
        usage = usage_from_metadata(_langchain_openai_usage(tier))
        assert usage is not None
        assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens) == (
            1_350, 1_152, 260, 192,
        )  # fmt: skip


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("tier", "hand"), [("flex", FLEX), ("priority", PRIORITY), (None, STANDARD)])
def test_langchain_calls_on_a_tier_bill_at_its_rates(stream: bool, tier: str | None, hand: float) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = _Reporting(model_name="gpt-5", usage=_langchain_openai_usage(tier))
    if stream:
        for _ in model.stream("hi", config={"callbacks": [handler]}):
            pass
    else:
        model.invoke("hi", config={"callbacks": [handler]})
    (rec,) = handler.records()
    assert (rec.cache_read_tokens, rec.reasoning_tokens) == (1_152, 192)
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert not rec.price_estimated
    assert rec.tags.get("service_tier") == tier


def test_langchain_tier_without_rates_is_flagged_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = _Reporting(model_name="gpt-4o", usage=_langchain_openai_usage("flex"))
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        model.invoke("hi", config={"callbacks": [handler]})
        model.invoke("hi", config={"callbacks": [handler]})
    recs = handler.records()
    assert len(recs) == 2 and all(r.price_estimated for r in recs)
    assert recs[0].cost_usd == pytest.approx(198 * 2.5e-6 + 1_152 * 1.25e-6 + 260 * 10e-6, rel=1e-12)
    warnings = [r for r in caplog.records if "service-tier" in r.getMessage()]
    assert len(warnings) == 1 and "'flex'" in warnings[0].getMessage()


def _wait(cost_logger: Any) -> None:
    deadline = time.monotonic() + 10
    while not cost_logger.records() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize(("served", "asked", "hand"), [
    ("flex", None, FLEX),  # the response's service_tier
    ("priority", "auto", PRIORITY),
    ("default", "flex", STANDARD),  # asked for flex, served on the standard tier
    (None, "flex", FLEX),  # no tier in the response: the request's, as LiteLLM prices it
])  # fmt: skip
def test_litellm_calls_on_a_tier_match_litellm(
    litellm_clean: Any, served: str | None, asked: str | None, hand: float
) -> None:
    from litellm.types.utils import Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    usage = Usage(
        prompt_tokens=1_350,
        completion_tokens=260,
        total_tokens=1_610,
        prompt_tokens_details={"cached_tokens": 1_152},
        completion_tokens_details={"reasoning_tokens": 192},
    )
    extra = {"service_tier": served} if served else {}
    mock = litellm_clean.ModelResponse(
        model="gpt-5",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=usage,
        **extra,
    )
    asked_kw = {"service_tier": asked} if asked else {}
    resp = litellm_clean.completion(
        model="gpt-5", messages=[{"role": "user", "content": "hi"}], mock_response=mock, **asked_kw
    )
    _wait(cl)
    (rec,) = cl.records()
    cl.flush()
    assert rec.cost_usd == pytest.approx(hand, rel=1e-12)
    assert rec.cost_usd == pytest.approx(resp._hidden_params["response_cost"], rel=1e-9)
    assert not rec.price_estimated and "cost_mismatch" not in rec.tags


def test_an_override_of_standard_rates_bills_tier_calls_at_it_flagged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The map's gpt-5 flex and priority rates are half and twice its own standard rates,
    # not yours: with your standard rates, a tier call bills at them and is flagged.
    book = PriceBook(overrides={"gpt-5": {"input_per_million": 1.0, "output_per_million": 8.0}})
    mine = 198 * 1e-6 + 1_152 * 0.125e-6 + 260 * 8e-6
    for tier in ("flex", "priority"):
        priced = book.cost_with_flag(USAGE, "gpt-5", service_tier=tier)
        assert priced.cost.total == pytest.approx(mine, rel=1e-12) and priced.estimated
    standard = book.cost_with_flag(USAGE, "gpt-5")
    assert standard.cost.total == pytest.approx(mine, rel=1e-12) and not standard.estimated
    handler = CostCallbackHandler(ledger="memory://", price_book=book)
    model = _Reporting(model_name="gpt-5", usage=_langchain_openai_usage("flex"))
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        model.invoke("hi", config={"callbacks": [handler]})
        model.invoke("hi", config={"callbacks": [handler]})
    recs = handler.records()
    assert [r.cost_usd for r in recs] == pytest.approx([mine, mine], rel=1e-12)
    assert all(r.price_estimated for r in recs)
    assert len([r for r in caplog.records if "service-tier" in r.getMessage()]) == 1


def test_an_override_with_tier_rates_prices_the_tier() -> None:
    book = PriceBook(
        overrides={
            "gpt-5": {
                "input_per_million": 1.0,
                "output_per_million": 8.0,
                "input_cost_per_token_flex": 0.5e-6,
                "output_cost_per_token_flex": 4e-6,
            }
        }
    )
    flex = book.cost_with_flag(USAGE, "gpt-5", service_tier="flex")
    # the override's flex rates; cache reads at the standard cache-read rate (no flex one given)
    assert flex.cost.total == pytest.approx(198 * 0.5e-6 + 1_152 * 0.125e-6 + 260 * 4e-6, rel=1e-12)
    assert not flex.estimated
    assert book.cost_with_flag(USAGE, "gpt-5", service_tier="priority").estimated
    # An override of batch rates only leaves the map's tier rates as they are.
    batch_only = PriceBook(overrides={"gpt-5": {"batch_input_per_million": 0.5}})
    assert batch_only.cost(USAGE, "gpt-5", service_tier="flex").total == pytest.approx(FLEX, rel=1e-12)
