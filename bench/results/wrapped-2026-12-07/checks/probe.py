import asyncio

from fakeprov import CALLS, Prov
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import GuardedChatModel, RoutedChatModel


class Weather(BaseModel):
    """Weather in a city."""

    city: str


class Person(BaseModel):
    """A person."""

    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(zone: str) -> str:
    """Get the time in a zone."""
    return "12:00"


def IMG(u):
    return HumanMessage(
        content=[
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": u}},
        ]
    )


def wrappers():
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


def show(name, fn):
    try:
        r = fn()
        print(f"  {name}: {r}")
    except Exception as e:
        print(f"  {name}: ERROR {type(e).__name__}: {str(e)[:300]}")


def tc(m):
    return [(t["name"], t["args"]) for t in m.tool_calls]


async def _astream(m):
    n = 0
    async for c in m.bind_tools([get_weather]).astream("w?"):
        n += bool(c.tool_call_chunks)
    return n


for wname, m in wrappers().items():
    print("==", wname)
    show("bind_tools", lambda: tc(m.bind_tools([get_weather, get_time]).invoke("weather in Paris?")))
    show(
        "bind_tools tool_choice",
        lambda: tc(m.bind_tools([get_weather, get_time], tool_choice="get_time").invoke("time?")),
    )
    show("structured pyd fc", lambda: m.with_structured_output(Person).invoke("who?"))
    show(
        "structured pyd json_schema",
        lambda: (
            m.with_structured_output(Person, method="json_schema").invoke("who?"),
            CALLS[-1]["kw"].keys(),
        ),
    )
    show(
        "structured dict json_schema",
        lambda: m.with_structured_output(Person.model_json_schema(), method="json_schema").invoke("who?"),
    )
    show(
        "structured include_raw",
        lambda: m.with_structured_output(Person, include_raw=True).invoke("who?")["parsed"],
    )

    def loop():
        mt = m.bind_tools([get_weather])
        msgs = [HumanMessage("weather in Paris?")]
        ai = mt.invoke(msgs)
        msgs.append(ai)
        for c in ai.tool_calls:
            msgs.append(ToolMessage(get_weather.invoke(c["args"]), tool_call_id=c["id"]))
        return mt.invoke(msgs).content

    show("tool loop", loop)

    def stream():
        chunks = list(m.bind_tools([get_weather]).stream("weather?"))
        agg = chunks[0]
        for c in chunks[1:]:
            agg = agg + c
        return (len(chunks), sum(1 for c in chunks if c.tool_call_chunks), tc(agg), agg.usage_metadata)

    show("stream tool chunks", stream)
    show("batch", lambda: [tc(x) for x in m.bind_tools([get_weather]).batch(["a?", "b?"])])
    show("abatch", lambda: [x.content for x in asyncio.run(m.abatch(["a?", "b?"]))])
    show("ainvoke tools", lambda: tc(asyncio.run(m.bind_tools([get_weather]).ainvoke("a?"))))
    show(
        "multimodal",
        lambda: (m.invoke([IMG("http://x/1.png")]).content, CALLS[-1]["content"] if CALLS else None),
    )
    show(
        "with_config",
        lambda: (
            m.bind_tools([get_weather])
            .with_config(tags=["t"], metadata={"tenant_id": "acme"})
            .invoke("x?")
            .tool_calls[0]["name"]
        ),
    )
    show("with_retry", lambda: tc(m.bind_tools([get_weather]).with_retry().invoke("x?")))
    show(
        "with_fallbacks",
        lambda: tc(
            m.bind_tools([get_weather]).with_fallbacks([Prov().bind_tools([get_weather])]).invoke("x?")
        ),
    )
    show("astream", lambda: asyncio.run((lambda: _astream(m))()))
