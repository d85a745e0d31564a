# Process CPU (user + system, every thread: the caller and the ledger writer) per LangChain
# callback call with a SQLite ledger: bench/results/tracking_record_path.py, timed. Run by cpu_ab.sh.
import os
import resource
import tempfile
import uuid

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from llm_cost_hooks.langchain import CostCallbackHandler

tmp = tempfile.mkdtemp()
h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", defaults={"feature": "bench"})
msg = AIMessage(
    content="Your card should arrive within 3 to 5 business days.",
    usage_metadata={
        "input_tokens": 412,
        "output_tokens": 14,
        "total_tokens": 426,
        "input_token_details": {"cache_read": 256},
    },
    response_metadata={"model_name": "gpt-4o-mini-2024-07-18"},
)
res = LLMResult(generations=[[ChatGeneration(message=msg)]])
meta = {
    "tenant_id": "acme",
    "prompt_version": "v1",
    "ls_provider": "openai",
    "ls_model_name": "gpt-4o-mini",
    "ls_model_type": "chat",
    "ls_temperature": None,
}
ser = {"name": "FixedUsageChatModel"}
msgs = [[HumanMessage("When will my card arrive?")]]
inv = {"_type": "bench-fixed", "stop": None}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


n = int(os.environ.get("N", "30000"))
c0 = cpu()
for _ in range(n):
    rid = uuid.uuid4()
    h.on_chat_model_start(
        ser, msgs, run_id=rid, parent_run_id=None, tags=[], metadata=meta, invocation_params=inv, name=None
    )
    h.on_llm_end(res, run_id=rid, parent_run_id=None, tags=[])
assert h.flush(120)
assert h.ledger.stats.written == n
print(
    f"{os.environ.get('SIDE', '?')} {(cpu() - c0) / n * 1e6:.2f} us process CPU per call ({n} calls, writer included)"
)
