"""CPU seconds (process_time) for N LangChain calls of the bench's cheap model after 200
warm-up calls; PYTHONPATH picks the package. Prints microseconds per call."""

import os
import sys
import time

sys.path.append(os.getcwd())  # bench._common from the tree

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler

handler = CostCallbackHandler(ledger="memory://", defaults={"feature": "bench"})
model = fixed_usage_model()
config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
for _ in range(200):
    model.invoke("When will my card arrive?", config=config)
n = int(os.environ.get("N", "3000"))
start = time.process_time()
for _ in range(n):
    model.invoke("When will my card arrive?", config=config)
handler.flush()
print(f"{(time.process_time() - start) / n * 1e6:.1f}")
