from fakeprov import CALLS, Prov
from langchain_core.globals import set_llm_cache
from pydantic import BaseModel

from llm_cost_hooks.langchain import CostCallbackHandler, RoutedChatModel, SemanticCache


class Person(BaseModel):
    """A person."""

    name: str


cache = SemanticCache(path=":memory:")
set_llm_cache(cache)
m = RoutedChatModel(
    tiers={
        "small": Prov(model_name="gpt-4o-mini", tag="small"),
        "large": Prov(model_name="gpt-4o", tag="large"),
    }
)
h = CostCallbackHandler(ledger="memory://")
for i in range(3):
    n = len(CALLS)
    out = m.with_structured_output(Person, include_raw=True).invoke(
        "Tell me about Ann", config={"callbacks": [h], "metadata": {"tenant_id": "acme"}}
    )
    print(
        i,
        out["parsed"],
        "model calls",
        len(CALLS) - n,
        out["raw"].response_metadata.get("llm_cost_hooks_cache"),
    )
print(
    [
        (r.cache_status.value, r.model, r.input_tokens, r.output_tokens, r.tenant, r.cost_usd)
        for r in h.records()
    ]
)
print("corrupt", cache.stats)
