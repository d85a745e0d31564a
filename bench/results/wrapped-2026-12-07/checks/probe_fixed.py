from fakeprov import NoTools, Prov
from langchain_core.tools import tool

from llm_cost_hooks.langchain import CostCallbackHandler, RoutedChatModel
from llm_cost_hooks.routing import FixedTier


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


h = CostCallbackHandler(ledger="memory://")
r = RoutedChatModel(
    tiers={
        "small": NoTools(model_name="gpt-4o-mini", tag="small"),
        "large": Prov(model_name="gpt-4o", tag="large"),
    },
    strategy=FixedTier("small"),
)
try:
    out = r.bind_tools([get_weather]).invoke("weather?", config={"callbacks": [h]})
    print("fixed small:", out.tool_calls, out.response_metadata.get("llm_cost_hooks_route"))
except Exception as e:
    print("fixed small: ERROR", type(e).__module__, type(e).__name__, str(e)[:400])
print(
    "records", [(r.model, r.input_tokens, r.output_tokens, getattr(r, "status", None)) for r in h.records()]
)
h = CostCallbackHandler(ledger="memory://")
r = RoutedChatModel(
    tiers={
        "small": NoTools(model_name="gpt-4o-mini", tag="small"),
        "large": Prov(model_name="gpt-4o", tag="large"),
    }
)
out = r.bind_tools([get_weather]).invoke("weather?", config={"callbacks": [h]})
print("cascade:", out.response_metadata["llm_cost_hooks_route"]["reason"])
print(
    "records", [(r.model, r.input_tokens, r.output_tokens, getattr(r, "status", None)) for r in h.records()]
)
