import asyncio

from fakeprov import CALLS, Prov
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel, RoutedChatModel


class Person(BaseModel):
    """A person."""

    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


class Flaky(Prov):
    fails: int = 1

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        if self.fails > 0:
            self.fails -= 1
            raise TimeoutError("provider timeout")
        return super()._generate(messages, stop, run_manager, **kw)


def make(w, inner=None):
    inner = inner or Prov()
    if w == "bare":
        return inner
    if w == "guarded":
        return GuardedChatModel(inner=inner, guard=SpendGuard([Limit.usd_per_request(1.0)]))
    return RoutedChatModel(tiers={"small": inner, "large": Prov(model_name="gpt-4o", tag="large")})


async def _drain(it):
    async for _ in it:
        pass


def cfg(h):
    return {"callbacks": [h], "metadata": {"tenant_id": "acme"}}


for w in ["bare", "guarded", "routed"]:
    print("==", w)
    paths = {
        "tools invoke": lambda m, h: m.bind_tools([get_weather]).invoke("w?", config=cfg(h)),
        "structured json_schema": lambda m, h: m.with_structured_output(Person, method="json_schema").invoke(
            "who?", config=cfg(h)
        ),
        "stream tools": lambda m, h: list(m.bind_tools([get_weather]).stream("w?", config=cfg(h))),
        "astream": lambda m, h: asyncio.run(_drain(m.bind_tools([get_weather]).astream("w?", config=cfg(h)))),
        "batch x2": lambda m, h: m.bind_tools([get_weather]).batch(["a?", "b?"], config=cfg(h)),
        "abatch x2": lambda m, h: asyncio.run(m.abatch(["a?", "b?"], config=cfg(h))),
        "ainvoke": lambda m, h: asyncio.run(m.ainvoke("a?", config=cfg(h))),
        "multimodal": lambda m, h: m.invoke(
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": "https://x/1.png"}},
                    ]
                )
            ],
            config=cfg(h),
        ),
        "with_config": lambda m, h: m.with_config(tags=["t"], metadata={"tenant_id": "globex"}).invoke(
            "a?", config={"callbacks": [h]}
        ),
        "with_retry (1 timeout)": lambda m, h: m.with_retry(
            stop_after_attempt=2, wait_exponential_jitter=False
        ).invoke("a?", config=cfg(h)),
        "with_fallbacks (primary fails)": lambda m, h: m.with_fallbacks(
            [Prov(model_name="gpt-4o", tag="fb")]
        ).invoke("a?", config=cfg(h)),
    }
    for name, f in paths.items():
        h = CostCallbackHandler(ledger="memory://")
        inner = Flaky(fails=1 if ("retry" in name or "fallback" in name) else 0)
        m = make(w, inner)
        n = len(CALLS)
        try:
            f(m, h)
            err = ""
        except Exception as e:
            err = f" ERROR {type(e).__name__}: {e}"[:200]
        recs = h.records()
        print(
            f"  {name}: model calls={len(CALLS) - n} records={[(r.error_type, r.tokens_estimated, r.model, r.input_tokens, r.output_tokens, r.tenant) for r in recs]}{err}"
        )
