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

    class Person(BaseModel):
        """A person."""

        name: str

    n = len(CALLS)
    a = m.with_structured_output(Person).invoke(f"Tell me about Ann {name}")

    class Person(BaseModel):  # a notebook cell re-run with a changed schema
        """A person."""

        name: str
        age: int

    try:
        b = m.with_structured_output(Person).invoke(f"Tell me about Ann {name}")
    except Exception as e:
        b = f"ERROR {type(e).__name__}: {str(e)[:200]}"
    print(name, a, "|", b, "| model calls:", len(CALLS) - n)
    for meth in ["json_schema"]:

        class P2(BaseModel):
            x: str

        n = len(CALLS)
        a = m.with_structured_output(P2, method=meth).invoke(f"Q {name} {meth}")

        class P2(BaseModel):
            y: int

        try:
            b = m.with_structured_output(P2, method=meth).invoke(f"Q {name} {meth}")
        except Exception as e:
            b = f"ERROR {type(e).__name__}: {str(e)[:200]}"
        print(" ", meth, a, "|", b, "| model calls:", len(CALLS) - n)
