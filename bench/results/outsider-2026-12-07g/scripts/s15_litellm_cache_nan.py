# ruff: noqa: E402
# LiteLLM with the shared cache: a NaN tenant (a missing value) must bypass, not raise or share
import logging
import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
import litellm

from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache, uninstall

litellm.cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
cl = CostHooksLogger(ledger="memory://")
litellm.callbacks = [cl]
msgs = [{"role": "user", "content": "What is my account balance?"}]
for i, tenant in enumerate(["seen", float("nan"), float("nan")]):
    try:
        r = litellm.completion(
            model="gpt-4o-mini",
            messages=msgs,
            mock_response=f"answer {i}",
            caching=True,
            metadata={"tenant_id": tenant},
        )
        print(repr(tenant), "->", r.choices[0].message.content)
    except Exception as e:
        print(repr(tenant), "ERROR", type(e).__name__, str(e)[:200])
cl.flush()
print([(r.tenant, r.cache_status.value) for r in cl.records()])
uninstall(cl)
