# ruff: noqa: E402
# a response whose model_name is not a string
import logging

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm_cost_hooks.langchain import CostCallbackHandler


class OddModelName(BaseChatModel):
    model_name: str = "gpt-4o-mini"

    @property
    def _llm_type(self):
        return "odd"

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        m = AIMessage(content="ok", response_metadata={"model_name": {"id": "gpt-4o-mini"}})
        m.usage_metadata = {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
        return ChatResult(generations=[ChatGeneration(message=m)])


h = CostCallbackHandler(ledger="sqlite:///odd_model.db")
OddModelName().invoke("hi", config={"callbacks": [h]})
h.flush()
print("records", [(r.model, r.cost_usd) for r in h.records()])
print(h.tracker.ledger.stats)
