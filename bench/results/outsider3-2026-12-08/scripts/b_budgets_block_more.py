"""docs/budgets.md's code block, then what it recorded and a second call with the same
idempotency key (the block extracted to /tmp/o3blocks/budgets_1.py by extract_blocks.py)."""

import pathlib

page: dict = {}
exec(pathlib.Path("/tmp/o3blocks/budgets_1.py").read_text(), page)
model, handler, guard = page["model"], page["handler"], page["guard"]
metadata = {"tenant_id": "acme", "route": "support", "idempotency_key": "req-1"}
print(model.invoke("Where is my order?", config={"callbacks": [handler], "metadata": metadata}).content)
handler.flush()
for r in handler.records():
    print(r.model, r.tenant, r.route, r.cache_status.value, r.cost_usd, dict(r.tags))
print("guard spent for acme:", guard.spent(guard.limits[0], "acme"))
