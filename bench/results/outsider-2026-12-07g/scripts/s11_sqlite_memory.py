# ruff: noqa: E402
# the SQLAlchemy habit: ledger="sqlite:///:memory:"
import logging
import os

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

try:
    h = CostCallbackHandler(ledger="sqlite:///:memory:")
except Exception as e:
    print("ERROR at construction:", type(e).__name__, str(e)[:300])
else:
    FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]).invoke("hi", config={"callbacks": [h]})
    print("flush ->", h.flush(timeout=3))
    print("report ->", h.report(by="tenant"))
    print(h.tracker.ledger.stats)
print("files left in cwd:", sorted(f for f in os.listdir(".") if "memory" in f))
