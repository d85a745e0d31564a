"""RoutedChatModel against LangChain's standard chat-model unit tests."""

from __future__ import annotations

from typing import Any

from langchain_tests.unit_tests import ChatModelUnitTests

from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._routed import RoutedChatModel


class TestRoutedChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[RoutedChatModel]:
        return RoutedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "tiers": {
                "small": FakeChatModelWithUsage(model_name="gpt-4o-mini"),
                "large": FakeChatModelWithUsage(model_name="gpt-4o"),
            }
        }

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # No secrets: the tiers carry their own credentials. An env var the model does not
        # read must not break construction.
        return ({"LLM_COST_HOOKS_CAPTURE_CONTENT": "false"}, self.chat_model_params, {"model_name": "routed"})

    def test_tier_order_is_by_price(self, model: RoutedChatModel) -> None:
        assert model.tier_order == ["small", "large"]
