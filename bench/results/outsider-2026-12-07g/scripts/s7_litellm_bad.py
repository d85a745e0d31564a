# ruff: noqa: E402
import logging
import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
import litellm

from llm_cost_hooks.litellm import CostHooksLogger, uninstall

cl = CostHooksLogger(ledger="sqlite:///ll.db", defaults={"tenant_id": "acme"})
litellm.callbacks = [cl]
cases = [
    ("plain", dict(model="gpt-4o-mini", metadata={"feature": "x"})),
    ("unknown model", dict(model="openai/my-inhouse-7b", api_base="http://127.0.0.1:9", metadata={})),
    ("int tenant", dict(model="gpt-4o-mini", metadata={"tenant_id": 5})),
    ("dict tenant", dict(model="gpt-4o-mini", metadata={"tenant_id": {"a": 1}})),
    ("surrogate tenant", dict(model="gpt-4o-mini", metadata={"tenant_id": "a\ud800"})),
    ("huge metadata", dict(model="gpt-4o-mini", metadata={"tenant_id": "t", "blob": "x" * 2_000_000})),
    ("nan tenant", dict(model="gpt-4o-mini", metadata={"tenant_id": float("nan")})),
    (
        "cost_tags nan",
        dict(model="gpt-4o-mini", metadata={"tenant_id": "t", "cost_tags": {"k": float("nan")}}),
    ),
    ("cost_tags not dict", dict(model="gpt-4o-mini", metadata={"tenant_id": "t", "cost_tags": "oops"})),
    ("surrogate prompt", dict(model="gpt-4o-mini", metadata={"tenant_id": "t"}, content="hi \ud800")),
]
n = 0
for name, kw in cases:
    content = kw.pop("content", "Where is my card?")
    try:
        litellm.completion(messages=[{"role": "user", "content": content}], mock_response="On its way.", **kw)
        n += 1
        print("called", name)
    except Exception as e:
        print("ERROR to user", name, type(e).__name__, str(e)[:200])
cl.flush()
recs = cl.records()
print("calls", n, "records", len(recs))
for r in recs:
    print(repr(r.tenant)[:30], r.model, r.cost_usd, r.success, r.error_type)
print(cl.ledger.stats if hasattr(cl, "ledger") else "")
uninstall(cl)
