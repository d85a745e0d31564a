"""RoutedChatModel with tools: they reach whichever tier answers; a tier that cannot take
them is skipped as a failed attempt (visible in the route metadata, no cost record), and when
no tier can, the error says so."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel


class Weather(BaseModel):
    """Weather in a city."""

    city: str


CALL = {"name": "Weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}


class Recording(FakeChatModelWithUsage):
    """Keeps the tools each call was sent."""

    sent: list[Any] = Field(default_factory=list)

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        self.sent.append([t["function"]["name"] for t in kwargs.get("tools") or []])
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


class NoTools(FakeChatModelWithUsage):
    """A model without tool support (LangChain's default bind_tools)."""

    bind_tools = BaseChatModel.bind_tools  # type: ignore[assignment]


def _answers() -> list[Any]:
    return [AIMessage(content="", tool_calls=[CALL])] * 3


def test_tools_reach_the_tier_that_answers() -> None:
    small = Recording(model_name="gpt-4o-mini", responses=_answers())
    routed = RoutedChatModel(tiers={"small": small, "large": Recording(model_name="gpt-4o")})
    out = routed.bind_tools([Weather], tool_choice="Weather").invoke("Weather in Paris?")
    assert out.tool_calls == [CALL] and small.sent == [["Weather"]]
    assert out.response_metadata["llm_cost_hooks_route"]["tier"] == "small"


def test_a_tier_without_tools_is_skipped_visibly_and_unbilled() -> None:
    large = Recording(model_name="gpt-4o", responses=_answers())
    routed = RoutedChatModel(tiers={"small": NoTools(model_name="gpt-4o-mini"), "large": large})
    handler = CostCallbackHandler(ledger="memory://")
    out = routed.bind_tools([Weather]).invoke("Weather in Paris?", config={"callbacks": [handler]})
    route = out.response_metadata["llm_cost_hooks_route"]
    assert out.tool_calls == [CALL] and large.sent == [["Weather"]]
    assert route["tier"] == "large" and route["attempts"][0] == {
        "tier": "small",
        "ok": False,
        "reason": "error:ConfigurationError",
    }
    [record] = handler.records()
    assert record.model == "gpt-4o" and record.input_tokens > 0


def test_no_tier_that_can_take_tools_is_a_clear_typed_error() -> None:
    routed = RoutedChatModel(
        tiers={"small": NoTools(model_name="gpt-4o-mini"), "large": NoTools(model_name="gpt-4o")}
    )
    with pytest.raises(ConfigurationError, match="cannot take tools"):
        routed.bind_tools([Weather]).invoke("Weather in Paris?")
    with pytest.raises(ConfigurationError, match="cannot take structured output"):
        routed.with_structured_output(Weather).invoke("Weather in Paris?")
