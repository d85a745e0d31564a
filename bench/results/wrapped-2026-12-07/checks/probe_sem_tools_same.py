"""Semantic tier, tool calls that agree: paraphrases whose answers are the same call."""

from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache


class Weather(BaseModel):
    """Weather in a city."""

    city: str


def respond(messages):
    city = "Paris" if "paris" in messages[-1].content.lower() else "other"
    return AIMessage(
        content="", tool_calls=[{"name": "Weather", "args": {"city": city}, "id": "c", "type": "tool_call"}]
    )


cache = SemanticCache(path=":memory:")
set_llm_cache(cache)
m = FakeChatModelWithUsage(respond=respond).bind_tools([Weather])
seed = [
    "What's the weather in Paris?",
    "what is the weather like in paris",
    "Paris weather today?",
    "How is the weather in Paris right now?",
    "Tell me the weather in Paris",
    "weather forecast Paris",
]
for q in seed:
    m.invoke(q)
for q in ["How's the weather in Paris?", "Is it cold in Paris?", "What's the weather in Lyon?"]:
    out = m.invoke(q)
    st = (out.response_metadata.get("llm_cost_hooks_cache") or {}).get("status", "miss")
    print(f"{q!r}: {st} -> {out.tool_calls}")
print("stats", cache.core.stats)
