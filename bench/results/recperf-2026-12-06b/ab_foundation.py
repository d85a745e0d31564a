"""Same-process A/B: main's handler (llm_cost_hooks_base) vs this branch's, interleaved rounds."""

import os
import sys
import tempfile

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/recperf/basepkg"))
from langchain_core.callbacks import UsageMetadataCallbackHandler
from llm_cost_hooks_base.langchain import CostCallbackHandler as Main

from bench._common import cost_per_call, fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler as New

tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
p = "When will my card arrive?"
rounds = int(os.environ.get("ROUNDS", 9))
number = int(os.environ.get("NUMBER", 1000))
for mlabel, model in (("cheap", fixed_usage_model()), ("realistic", realistic_model())):
    hm = Main(ledger=f"sqlite:///{tmp}/m{mlabel}.db", defaults={"feature": "bench"})
    hn = New(ledger=f"sqlite:///{tmp}/n{mlabel}.db", defaults={"feature": "bench"})
    u = UsageMetadataCallbackHandler()
    cfgs = {
        "bare": (lambda m=model: m.invoke(p), None),
        "bare_meta": (lambda m=model, c={"metadata": meta}: m.invoke(p, config=c), None),
        "usage": (lambda m=model, c={"callbacks": [u]}: m.invoke(p, config=c), None),
        "usage_meta": (lambda m=model, c={"callbacks": [u], "metadata": meta}: m.invoke(p, config=c), None),
        "main": (lambda m=model, c={"callbacks": [hm], "metadata": meta}: m.invoke(p, config=c), hm.flush),
        "new": (lambda m=model, c={"callbacks": [hn], "metadata": meta}: m.invoke(p, config=c), hn.flush),
    }
    cost = cost_per_call(cfgs, number=number, rounds=rounds)
    for clock in ("thread", "process"):
        o = {k: round(cost[k].over(cost["bare"], clock) * 1e6, 1) for k in cfgs}
        om = {
            k: round(cost[k].over(cost["bare_meta"], clock) * 1e6, 1) for k in ("usage_meta", "main", "new")
        }
        print(
            f"{mlabel:9s} {clock:7s} over bare: {o}  ratio main {o['main'] / o['usage']:.2f}x new {o['new'] / o['usage']:.2f}x | "
            f"over bare+meta: {om} ratio main {om['main'] / om['usage_meta']:.2f}x new {om['new'] / om['usage_meta']:.2f}x | new-main {round(cost['new'].over(cost['main'], clock) * 1e6, 1)}"
        )
    print(f"  written main={hm.tracker.ledger.stats.written} new={hn.tracker.ledger.stats.written}")
    hm.tracker.close()
    hn.tracker.close()
print("load", os.getloadavg())
