"""Instructions per LangChain call (run under callgrind, N calls after 100 warm-up calls):
the bench's cheap model reporting OpenAI usage with cache reads. Run with N=0 and N=600 and
take the difference / 600; PYTHONPATH picks the package (this tree or an older copy first)."""

import os
import sys

sys.path.append(os.getcwd())  # bench._common from the tree

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler

handler = CostCallbackHandler(ledger="memory://", defaults={"feature": "bench"})
model = fixed_usage_model()
config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
for _ in range(100):
    model.invoke("When will my card arrive?", config=config)
for _ in range(int(os.environ.get("N", "600"))):
    model.invoke("When will my card arrive?", config=config)
handler.flush()
