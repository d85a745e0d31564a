import os
import subprocess

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

from llm_cost_hooks.litellm import CostHooksLogger, uninstall

lg = CostHooksLogger(ledger="sqlite:///ll_tasks.db", defaults={"tenant_id": "acme"})
litellm.callbacks = [lg]
for j in range(4):
    kw = dict(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "q"}],
        metadata={"task_id": f"T{j}", "feature": "f"},
    )
    try:
        litellm.completion(mock_response=(Exception("boom") if j == 3 else "answer words here"), **kw)
    except Exception as e:
        print("call raised", type(e).__name__)
lg.mark_task("T1", success=False, reason="thumbs-down")
lg.flush()
uninstall(lg)
out = subprocess.run(
    ["llm-cost", "report", "ll_tasks.db", "--show", "tasks", "--format", "json"],
    capture_output=True,
    text=True,
)
print(out.stdout, out.stderr[-500:])
