"""Instructions per LangChain call of a standard-tier OpenAI answer, as langchain-openai
reports its usage (``input_token_details`` with ``audio`` and ``cache_read``), through
CostCallbackHandler with a memory ledger. CACHED=1: 384 cache reads; CACHED=0: none
(``cache_read: 0``, the path that now also looks for a service tier's keys).

    CG=1 N=400 valgrind --tool=callgrind --callgrind-out-file=cg.out python icount_invoke.py
        -> counters zeroed after 100 warm-up calls, N calls, dumped: grep ^summary cg.out.1
    python icount_invoke.py  -> us per call (best of 5 x 2000 calls)
"""

from __future__ import annotations

import os
import subprocess
import timeit
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm_cost_hooks.langchain import CostCallbackHandler

CACHED = 384 if os.environ.get("CACHED", "1") == "1" else 0
USAGE = {
    "input_tokens": 412,
    "output_tokens": 14,
    "total_tokens": 426,
    "input_token_details": {"audio": 0, "cache_read": CACHED},
    "output_token_details": {"audio": 0, "reasoning": 0},
}


class Model(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "openai"

    def _get_ls_params(self, stop: Any = None, **kw: Any) -> Any:
        return {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini", "ls_model_type": "chat"}

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        msg = AIMessage("Your card should arrive within 3 to 5 business days.", usage_metadata=dict(USAGE))  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=msg)])


handler = CostCallbackHandler(ledger="memory://")
model = Model()
config: Any = {"callbacks": [handler]}


def call() -> None:
    model.invoke("When will my card arrive?", config=config)


for _ in range(100):
    call()
handler.flush()
if os.environ.get("CG"):
    subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
    for _ in range(int(os.environ.get("N", "400"))):
        call()
    handler.flush()
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
    raise SystemExit(0)
best = min(timeit.repeat(call, number=2000, repeat=5)) / 2000
handler.flush()
print(f"{best * 1e6:.2f}")
