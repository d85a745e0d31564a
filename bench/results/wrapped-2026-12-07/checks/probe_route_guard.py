"""Checks 4 and 5: a routed tier without tools; the guard's reserve with tools and images."""

from fakeprov import CALLS, NoTools, Prov
from langchain_core.messages import HumanMessage, convert_to_openai_messages
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel, RoutedChatModel
from llm_cost_hooks.routing import Cascade  # noqa
from llm_cost_hooks.tokens import default_counter


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


def run(label, f):
    try:
        print(" ", label, "->", f())
    except Exception as e:
        print(" ", label, "-> ERROR", type(e).__name__, str(e)[:400])


r = RoutedChatModel(
    tiers={
        "small": NoTools(model_name="gpt-4o-mini", tag="small"),
        "large": Prov(model_name="gpt-4o", tag="large"),
    }
)
run(
    "routed notools-small bind_tools",
    lambda: (
        r.bind_tools([get_weather]).invoke("weather?").tool_calls,
        CALLS[-1]["tag"],
        r.bind_tools([get_weather]).invoke("weather?").response_metadata.get("llm_cost_hooks_route"),
    ),
)


class P(BaseModel):
    name: str


run("routed notools-small structured", lambda: r.with_structured_output(P).invoke("who?"))
r2 = RoutedChatModel(
    tiers={
        "small": Prov(model_name="gpt-4o-mini", tag="small"),
        "large": Prov(model_name="gpt-4o", tag="large"),
    }
)
out = r2.bind_tools([get_weather]).invoke("weather?")
run(
    "routed tools reach tier",
    lambda: (CALLS[-1]["tag"], [t["function"]["name"] for t in CALLS[-1]["kw"].get("tools", [])]),
)

# guard: a per-request limit; the prompt estimate with a big tool schema / an image


class Big(BaseModel):
    """A tool with a long schema."""

    a: str
    b: str
    c: str
    d: str
    e: str
    f: str
    g: str
    h: str


g = GuardedChatModel(inner=Prov(model_name="gpt-4o"), guard=SpendGuard([Limit.usd_per_request(0.002)]))
h = CostCallbackHandler(ledger="memory://")
run("guard tools", lambda: g.bind_tools([Big] * 1).invoke("hi", config={"callbacks": [h]}).tool_calls)
run(
    "guard image",
    lambda: (
        g.invoke(
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}},
                    ]
                )
            ],
            config={"callbacks": [h]},
        ).content
    ),
)
run(
    "guard image http",
    lambda: (
        g.invoke(
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
                    ]
                )
            ],
            config={"callbacks": [h]},
        ).content
    ),
)
c = default_counter()

for label, msgs in [
    (
        "img b64",
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "what?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}},
                ]
            )
        ],
    ),
    (
        "img http high",
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "what?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
                ]
            )
        ],
    ),
]:
    print(" ", label, c.count_messages(convert_to_openai_messages(msgs), "gpt-4o").tokens)
print(
    "  tools count",
    c.count_messages(
        [{"role": "user", "content": "hi"}], "gpt-4o", tools=[convert_to_openai_tool(Big)]
    ).tokens,
    "no tools",
    c.count_messages([{"role": "user", "content": "hi"}], "gpt-4o").tokens,
)
