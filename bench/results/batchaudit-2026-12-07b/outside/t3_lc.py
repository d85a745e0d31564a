import tempfile

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.langchain import CostCallbackHandler

d = tempfile.mkdtemp()
pb = PriceBook.default()


class M(GenericFakeChatModel):
    def _llm_type(self):
        return "anthropic-chat"

    @property
    def _identifying_params(self):
        return {"model": "claude-sonnet-4-5"}


cases = {
    "anthropic": (
        "claude-sonnet-4-5",
        {
            "input_tokens": 3000,
            "output_tokens": 100,
            "total_tokens": 3100,
            "input_token_details": {"cache_read": 2000, "cache_creation": 500},
        },
    ),
    "openai": (
        "gpt-4o-mini",
        {
            "input_tokens": 3000,
            "output_tokens": 100,
            "total_tokens": 3100,
            "input_token_details": {"cache_read": 2048},
        },
    ),
}
for name, (model, um) in cases.items():
    h = CostCallbackHandler(ledger=f"sqlite:///{d}/{name}.db")
    msg = AIMessage(content="ok", usage_metadata=um, response_metadata={"model_name": model, "model": model})
    m = GenericFakeChatModel(messages=iter([msg]))
    m.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "acme", "feature": "f"}})
    h.flush()
    [r] = list(h.ledger.records())
    it = um["input_token_details"]
    exp = pb.cost(
        TokenUsage(
            input_tokens=3000,
            output_tokens=100,
            cache_read_tokens=it.get("cache_read", 0),
            cache_write_tokens=it.get("cache_creation", 0),
        ),
        model,
    )
    print(
        name,
        r.model,
        "in",
        r.input_tokens,
        "read",
        r.cache_read_tokens,
        "write",
        r.cache_write_tokens,
        "cost",
        r.cost_usd,
        "expected",
        exp.total,
        exp,
        "saved",
        r.saved_usd,
        r.cache_status,
        r.tags,
    )
