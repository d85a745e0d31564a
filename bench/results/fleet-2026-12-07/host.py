import multiprocessing as mp
import os
import sys

import litellm

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.litellm import CostHooksLogger

host = os.environ["HOSTNAME_SIM"]
handler = CostCallbackHandler(ledger=sys.argv[1], defaults={"cost_tags": {"host": host}})
logger = CostHooksLogger(ledger=handler.ledger, defaults={"cost_tags": {"host": host}})
litellm.callbacks = [logger]
model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])


def work(i):
    for k in range(10):
        meta = (
            {"tenant_id": "acme"} if k % 4 else {"tenant_id": "acme", "cost_tags": {"pid": str(os.getpid())}}
        )
        if k % 2:
            model.invoke("hi", config={"callbacks": [handler], "metadata": meta})
        else:
            logger.completion(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                mock_response="ok",
                metadata=meta,
            )
    handler.flush()
    os._exit(0)


ps = [mp.get_context("fork").Process(target=work, args=(i,)) for i in range(2)]
[p.start() for p in ps]
[p.join() for p in ps]
