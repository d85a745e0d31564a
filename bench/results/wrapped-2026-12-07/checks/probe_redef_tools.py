from fakeprov import CALLS, Prov
from langchain_core.globals import set_llm_cache
from pydantic import BaseModel

from llm_cost_hooks.langchain import GuardedChatModel, RoutedChatModel, SemanticCache

set_llm_cache(SemanticCache(path=":memory:"))
for name, m in [
    (
        "routed",
        RoutedChatModel(
            tiers={
                "small": Prov(model_name="gpt-4o-mini", tag="small"),
                "large": Prov(model_name="gpt-4o", tag="large"),
            }
        ),
    ),
    ("guarded", GuardedChatModel(inner=Prov())),
    ("bare", Prov()),
]:

    class Weather(BaseModel):
        """Weather in a city."""

        city: str

    n = len(CALLS)
    a = m.bind_tools([Weather]).invoke(f"Weather in Paris? {name}").tool_calls[0]["args"]

    class Weather(BaseModel):  # a notebook cell re-run with a changed schema
        """Weather in a city."""

        city: str
        days: int

    b = m.bind_tools([Weather]).invoke(f"Weather in Paris? {name}").tool_calls[0]["args"]
    print(name, a, "|", b, "| model calls:", len(CALLS) - n)
