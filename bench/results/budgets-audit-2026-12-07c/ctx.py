"""Context-budget edge cases as a user would hit them."""

import traceback

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
from llm_cost_hooks.langchain import FakeChatModelWithUsage, GuardedChatModel


def show(name, fn):
    try:
        r = fn()
        print(f"[{name}] OK", r if not hasattr(r, "report") else r.report())
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        print(
            f"[{name}] {type(e).__module__}.{type(e).__name__}: {e}  (raised at {tb.filename.split('site-packages/')[-1]}:{tb.lineno})"
        )


sys_prompt = "You are ACME's support bot. " * 50
b = ContextBudget(SegmentBudgets(system=50, history=200))
show(
    "system over budget",
    lambda: b.apply([{"role": "system", "content": sys_prompt}, {"role": "user", "content": "hi"}]),
)
show("empty messages", lambda: b.apply([]))
show(
    "only system",
    lambda: ContextBudget(SegmentBudgets(history=10)).apply([{"role": "system", "content": "be brief"}]),
)
show("history=0", lambda: ContextBudget(SegmentBudgets(history=0)).apply([{"role": "user", "content": "hi"}]))
show("negative budget", lambda: SegmentBudgets(history=-5))
show("unknown segment kw", lambda: SegmentBudgets(histroy=5))
show(
    "route missing",
    lambda: ContextBudget({"support": SegmentBudgets(history=50)}).apply(
        [{"role": "user", "content": "hi"}], route="sales"
    ),
)
img = {
    "role": "user",
    "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}},
    ],
}
show("image message", lambda: ContextBudget(SegmentBudgets(history=100)).apply([img]))
show("image, tiny budget", lambda: ContextBudget(SegmentBudgets(history=5)).apply([img]))
tc = [
    {"role": "user", "content": "weather in Oslo?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "sunny " * 500},
    {"role": "user", "content": "and tomorrow?"},
]
show("tool calls, tools=20", lambda: ContextBudget(SegmentBudgets(tools=20, history=100)).apply(tc))
show("tool calls, history=3", lambda: ContextBudget(SegmentBudgets(tools=20, history=3)).apply(tc))
show(
    "tools (definitions) request",
    lambda: ContextBudget(SegmentBudgets(tools=5)).apply_request(
        {
            "model": "gpt-4o-mini",
            "messages": tc,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "x " * 300,
                        "parameters": {"type": "object", "properties": {}},
                    },
                }
            ],
        }
    ),
)
show("non-dict message", lambda: b.apply(["hello"]))
show("missing role", lambda: b.apply([{"content": "hello"}]))
show("content int", lambda: b.apply([{"role": "user", "content": 5}]))
m = GuardedChatModel(
    inner=FakeChatModelWithUsage(), context_budget=ContextBudget(SegmentBudgets(system=10, history=100))
)
show("LC system over budget", lambda: m.invoke([SystemMessage(sys_prompt), HumanMessage("hi")]))
show("LC empty list", lambda: m.invoke([]))
show(
    "LC image",
    lambda: (
        GuardedChatModel(
            inner=FakeChatModelWithUsage(), context_budget=ContextBudget(SegmentBudgets(history=5))
        )
        .invoke([HumanMessage(content=img["content"])])
        .content
    ),
)
show(
    "LC tool calls",
    lambda: (
        GuardedChatModel(
            inner=FakeChatModelWithUsage(), context_budget=ContextBudget(SegmentBudgets(history=30, tools=10))
        )
        .invoke(
            [
                HumanMessage("weather in Oslo?"),
                AIMessage("", tool_calls=[{"id": "c1", "name": "weather", "args": {"city": "Oslo"}}]),
                ToolMessage("sunny " * 300, tool_call_id="c1"),
                HumanMessage("and tomorrow?"),
            ]
        )
        .content
    ),
)
