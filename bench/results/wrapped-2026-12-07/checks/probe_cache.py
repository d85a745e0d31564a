import sys

from fakeprov import CALLS, Prov
from langchain_core.globals import set_llm_cache
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel, RoutedChatModel, SemanticCache

semantic = sys.argv[1] == "semantic" if len(sys.argv) > 1 else True


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class Weather(BaseModel):
    """Weather in a city."""

    city: str


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


@tool
def get_time(zone: str) -> str:
    """Get the time in a zone."""
    return "12:00"


def img(u):
    return [
        HumanMessage(
            content=[
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": u}},
            ]
        )
    ]


def make():
    return {
        "bare": Prov(),
        "guarded": GuardedChatModel(inner=Prov(), guard=SpendGuard([Limit.usd_per_request(1.0)])),
        "routed": RoutedChatModel(
            tiers={
                "small": Prov(model_name="gpt-4o-mini", tag="small"),
                "large": Prov(model_name="gpt-4o", tag="large"),
            }
        ),
    }


def person2():
    class Person(BaseModel):  # the same class name, a changed schema (a re-run notebook cell)
        """A person."""

        name: str
        email: str

    return Person


for wname in ["bare", "guarded", "routed"]:
    cache = SemanticCache(path=":memory:", semantic=semantic)
    set_llm_cache(cache)
    m = make()[wname]
    h = CostCallbackHandler(ledger="memory://")
    cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme"}}
    print("==", wname, "semantic" if semantic else "exact-only")

    def step(label, runnable, inp, check=None):
        n0 = len(CALLS)
        try:
            out = runnable.invoke(inp, config=cfg)
        except Exception as e:
            print(f"  {label}: ERROR {type(e).__name__}: {e}"[:300])
            return
        called = len(CALLS) - n0
        desc = (
            out.tool_calls
            if hasattr(out, "tool_calls") and out.tool_calls
            else (out.content if hasattr(out, "content") else out)
        )
        print(f"  {label}: model calls={called} -> {str(desc)[:110]}")

    q = "What's the weather in Paris?"
    step("tools A", m.bind_tools([get_weather]), q)
    step("tools A again (expect hit, tool call)", m.bind_tools([get_weather]), q)
    step("tools B same text", m.bind_tools([get_time]), q)
    step("tools A+B same text", m.bind_tools([get_weather, get_time]), q)
    step("tools A+B choice=get_time", m.bind_tools([get_weather, get_time], tool_choice="get_time"), q)
    step("no tools same text", m, q)
    step("struct Person fc", m.with_structured_output(Person), "Tell me about Ann")
    step("struct Weather fc same text", m.with_structured_output(Weather), "Tell me about Ann")
    step("struct Person2 (same name, new fields)", m.with_structured_output(person2()), "Tell me about Ann")
    step(
        "struct Person json_schema",
        m.with_structured_output(Person, method="json_schema"),
        "Tell me about Ann",
    )
    step(
        "struct Weather json_schema",
        m.with_structured_output(Weather, method="json_schema"),
        "Tell me about Ann",
    )
    step("image 1", m, img("http://x/1.png"))
    step("image 1 again (hit ok)", m, img("http://x/1.png"))
    step("image 2 same text", m, img("http://x/2.png"))
    step("text only same text", m, "What is in this picture?")
    recs = h.records()
    print(
        "  records:",
        [(r.cache_status.value, r.model, r.input_tokens, r.output_tokens, r.tenant) for r in recs],
    )
    set_llm_cache(None)
