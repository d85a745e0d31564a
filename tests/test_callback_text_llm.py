"""CostCallbackHandler on a text-completion model (LangChain's ``LLM``, ``on_llm_start``)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.llms import LLM
from langchain_core.prompts import PromptTemplate

from llm_cost_hooks import count_tokens
from llm_cost_hooks.langchain import CostCallbackHandler


class TextModel(LLM):
    """A completion model that reports no usage (the handler counts the tokens)."""

    model_name: str = "gpt-3.5-turbo-instruct"
    answer: str = "Your card arrives in 3-5 business days."

    @property
    def _llm_type(self) -> str:
        return "text-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> str:
        return self.answer


def test_text_completion_model_call_is_recorded_with_counted_tokens() -> None:
    handler = CostCallbackHandler(ledger="memory://", defaults={"feature": "support_answer"})
    chain = PromptTemplate.from_template("Answer the customer: {q}") | TextModel()
    config: Any = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}, "tags": ["t1"]}
    answer = chain.invoke({"q": "When will my card arrive?"}, config=config)
    chain.invoke({"q": "And my PIN?"}, config=config)
    handler.flush()
    first, second = handler.records()
    assert first.model == "gpt-3.5-turbo-instruct"
    assert (first.tenant, first.feature) == ("acme", "support_answer")
    assert first.tokens_estimated and first.output_tokens == count_tokens(answer, "gpt-3.5-turbo-instruct")
    prompt = "Answer the customer: When will my card arrive?"
    assert first.input_tokens >= count_tokens(prompt, "gpt-3.5-turbo-instruct")
    assert first.cost_usd is not None and first.cost_usd > 0
    assert first.request_id != second.request_id and first.task_id != second.task_id
    assert first.parent_id is not None  # under the chain's root run
