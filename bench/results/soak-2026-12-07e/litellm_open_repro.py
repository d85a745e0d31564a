"""A LiteLLM call with a pre-call event and no end: the tracker ends its run after an hour,
does CostHooksLogger._open keep its call id too? (see README)."""

import uuid

from llm_cost_hooks.litellm import CostHooksLogger
from llm_cost_hooks.tracking import _tracker

lg = CostHooksLogger(ledger="memory://")
for i in range(1000):
    kw = {
        "litellm_call_id": str(uuid.uuid4()),
        "call_type": "acompletion",
        "model": "gpt-4o-mini",
        "litellm_params": {"metadata": {"tenant_id": f"t{i}"}},
    }
    lg.log_pre_api_call("gpt-4o-mini", [{"role": "user", "content": "hi"}], kw)
print("open runs", lg.tracker.open_runs, "_open", len(lg._open))
real = _tracker._perf_ns
_tracker._perf_ns = lambda: real() + 3601 * 10**9
for i in range(3000):
    kw = {"litellm_call_id": str(uuid.uuid4()), "call_type": "acompletion", "model": "gpt-4o-mini"}
    lg.log_pre_api_call("gpt-4o-mini", [{"role": "user", "content": "hi"}], kw)
print("after an hour: open runs", lg.tracker.open_runs, "_open", len(lg._open))
