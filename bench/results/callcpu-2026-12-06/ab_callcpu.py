"""Same-process A/B of the LangChain handler's per-call cost: main's handler (a copy of main's
package importable as ``llm_cost_hooks_base``) vs this tree's, through ``model.invoke`` for the
benchmarks' cheap fixed-usage model and realistic model, with no handler and
``UsageMetadataCallbackHandler`` as anchors. SQLite ledger, flushed inside each round.

Rounds alternate between the four configurations (order reversed every other round); per round
the caller thread's CPU and the process CPU (caller + the ledger's writer) per call. Printed:
medians of the per-round differences over no handler, and of the paired ratios new/main."""

import gc
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
from langchain_core.callbacks import UsageMetadataCallbackHandler
from llm_cost_hooks_base.langchain import CostCallbackHandler as Main

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler as New

n = int(os.environ.get("N", "1000"))
rounds = int(os.environ.get("ROUNDS", "15"))
models = os.environ.get("MODELS", "cheap,realistic").split(",")
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "When will my card arrive?"
tmp = tempfile.mkdtemp()
print("load at start", os.getloadavg(), flush=True)
for label in models:
    model = fixed_usage_model() if label == "cheap" else realistic_model()
    main = Main(ledger=f"sqlite:///{tmp}/main-{label}.db", defaults={"feature": "bench"})
    new = New(ledger=f"sqlite:///{tmp}/new-{label}.db", defaults={"feature": "bench"})
    configs = {
        "bare": ({"metadata": meta}, None),
        "usage": ({"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}, None),
        "main": ({"callbacks": [main], "metadata": meta}, main.flush),
        "new": ({"callbacks": [new], "metadata": meta}, new.flush),
    }
    for cfg, drain in configs.values():
        for _ in range(200):
            model.invoke(prompt, config=cfg)
        if drain:
            drain()
    out = {k: {"thread": [], "process": []} for k in configs}
    for rnd in range(rounds):
        order = list(configs) if rnd % 2 == 0 else list(reversed(list(configs)))
        for name in order:
            cfg, drain = configs[name]
            gc.collect()
            t0, p0 = time.thread_time(), time.process_time()
            for _ in range(n):
                model.invoke(prompt, config=cfg)
            t1 = time.thread_time()
            if drain:
                assert drain(300)
            out[name]["thread"].append((t1 - t0) / n * 1e6)
            out[name]["process"].append((time.process_time() - p0) / n * 1e6)
    for h in (main, new):
        assert h.ledger.stats.dropped == 0
    print(
        f"{label} model, {rounds} rounds x {n} calls; bare: thread "
        f"{statistics.median(out['bare']['thread']):.1f} us, process {statistics.median(out['bare']['process']):.1f} us"
    )
    for clock in ("thread", "process"):
        over = {
            k: [a - b for a, b in zip(out[k][clock], out["bare"][clock])] for k in ("usage", "main", "new")
        }
        med = {k: statistics.median(v) for k, v in over.items()}
        rel = statistics.median(b / a for a, b in zip(over["main"], over["new"]) if a > 0)
        print(
            f"  {clock:7s} overhead: usage {med['usage']:6.1f}  main {med['main']:6.1f} ({med['main'] / med['usage']:.2f}x)"
            f"  new {med['new']:6.1f} ({med['new'] / med['usage']:.2f}x)  new/main paired {rel:.3f}"
            f"  new-main paired {statistics.median(b - a for a, b in zip(over['main'], over['new'])):+.1f} us"
        )
    main.tracker.close()
    new.tracker.close()
print("load at end", os.getloadavg())
