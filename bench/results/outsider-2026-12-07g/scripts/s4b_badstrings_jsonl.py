# ruff: noqa: E402
# every call ends in a record, a counted set-aside record, or an error the user sees
import logging

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
import os

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

for f in ("bad.db",):
    if os.path.exists(f):
        os.remove(f)
h = CostCallbackHandler(ledger="jsonl:///bad.jsonl")
cases = {
    "lone surrogate in prompt": ("hi \ud800 there", {"tenant_id": "t"}),
    "lone surrogate tenant": ("hi", {"tenant_id": "t\ud800"}),
    "NUL in tenant": ("hi", {"tenant_id": "a\x00b"}),
    "RTL/zero-width tenant": ("hi", {"tenant_id": "\u202eacme\u200b"}),
    "huge metadata": ("hi", {"tenant_id": "t", "blob": "x" * 5_000_000}),
    "huge tenant": ("hi", {"tenant_id": "t" * 100_000}),
    "int tenant": ("hi", {"tenant_id": 42}),
    "None tenant": ("hi", {"tenant_id": None}),
    "dict tenant": ("hi", {"tenant_id": {"a": 1}}),
    "float nan tenant": ("hi", {"tenant_id": float("nan")}),
    "bytes tenant": ("hi", {"tenant_id": b"\xff\xfe"}),
    "feature list": ("hi", {"tenant_id": "t", "feature": ["a", "b"]}),
    "prompt_version int": ("hi", {"tenant_id": "t", "prompt_version": 14}),
    "task_id object": ("hi", {"tenant_id": "t", "task_id": object()}),
    "surrogate feature": ("hi", {"tenant_id": "t", "feature": "\udcff"}),
}
n = 0
for name, (q, md) in cases.items():
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    try:
        llm.invoke(q, config={"callbacks": [h], "metadata": md})
        n += 1
        print("invoked:", name)
    except Exception as e:
        print("ERROR to user:", name, type(e).__name__, str(e)[:200])
# unknown model, weird model names
for mn in ("my-inhouse-7b", "gpt-4o-mini\ud800", "", "x" * 10000, "gpt\x00-4o"):
    llm = FakeChatModelWithUsage(model_name=mn, responses=["ok"])
    try:
        llm.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "t"}})
        n += 1
        print("invoked model:", repr(mn[:30]))
    except Exception as e:
        print("ERROR to user model", repr(mn[:30]), type(e).__name__, str(e)[:200])
h.flush()
recs = h.records()
print("invocations", n, "records in handler", len(recs))
print("ledger stats", h.ledger.stats if hasattr(h, "ledger") else h.tracker.ledger.stats)
