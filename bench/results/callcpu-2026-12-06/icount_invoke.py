"""Instructions per LangChain call, whatever the load: run under callgrind, the script zeroes the
counters after warm-up (callgrind_control -z), makes N ``invoke`` calls of the benchmarks' cheap
(MODEL=cheap) or realistic (MODEL=real) model with CFG=bare | usage (UsageMetadataCallbackHandler)
| noop (a handler with empty start/end) | ours (CostCallbackHandler, SQLite ledger, flushed), and
dumps (callgrind_control -d). PKG=llm_cost_hooks_base measures a copy of main's package (see
ab_callcpu.py). All threads are counted (the ledger writer too).

    CG=1 N=1000 CFG=ours MODEL=cheap valgrind --tool=callgrind --callgrind-out-file=cg.out \
        python bench/results/callcpu-2026-12-06/icount_invoke.py
    grep ^summary cg.out.1        # instructions for N calls
"""

import gc
import os
import sys
import tempfile

sys.path.insert(0, os.getcwd())
if os.environ.get("PKG", "llm_cost_hooks") != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
import importlib

lc = importlib.import_module(os.environ.get("PKG", "llm_cost_hooks") + ".langchain")
from langchain_core.callbacks import BaseCallbackHandler, UsageMetadataCallbackHandler  # noqa: E402

from bench._common import fixed_usage_model, realistic_model  # noqa: E402


class Noop(BaseCallbackHandler):
    def on_chat_model_start(self, *a, **k):
        pass

    def on_llm_end(self, *a, **k):
        pass


model = fixed_usage_model() if os.environ.get("MODEL", "cheap") == "cheap" else realistic_model()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
tmp = tempfile.mkdtemp()
cfg = os.environ.get("CFG", "bare")
h = None
if cfg == "ours":
    h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", defaults={"feature": "bench"})
    c = {"callbacks": [h], "metadata": meta}
elif cfg == "usage":
    c = {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}
elif cfg == "noop":
    c = {"callbacks": [Noop()], "metadata": meta}
else:
    c = {"metadata": meta}
for _ in range(100):
    model.invoke("When will my card arrive?", config=c)
if h:
    h.flush()
gc.collect()
import subprocess  # noqa: E402

if os.environ.get("CG"):
    subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
n = int(os.environ.get("N", "0"))
for _ in range(n):
    model.invoke("When will my card arrive?", config=c)
if h:
    h.flush()
    assert h.ledger.stats.written == n + 100, h.ledger.stats
if os.environ.get("CG"):
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
os._exit(0)
