"""Semantic tier with tool-call answers: their text is empty, so do they share an answer key?"""

from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache


class Weather(BaseModel):
    """Weather in a city."""

    city: str


def respond(messages):
    q = messages[-1].content
    return AIMessage(
        content="", tool_calls=[{"name": "Weather", "args": {"q": q}, "id": "c", "type": "tool_call"}]
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
    "What's the weather in Berlin?",
    "What's the weather in Rome?",
    "What's the weather in Madrid?",
    "Is it raining in Paris?",
    "Will it be sunny in Paris?",
    "Paris temperature now?",
]
for q in seed:
    m.invoke(q)
inner = m.bound
n = inner.call_count
tests = [
    "How's the weather in Paris?",
    "What's the weather in Lyon?",
    "what's the weather in paris today",
    "Is it cold in Paris?",
    "What is the weather in Vienna?",
    "Book a table in Paris",
    "What's the time in Paris?",
]
for q in tests:
    out = m.invoke(q)
    st = (out.response_metadata.get("llm_cost_hooks_cache") or {}).get("status", "miss")
    print(f"{q!r}: {st} -> {out.tool_calls[0]['args']}")
print("stats", cache.core.stats)
