# cpu_per_call.py, printing user and system time, page faults and context switches too
# (cpu_ab_4_split.txt: the same interleaved loop as cpu_ab.sh, 6 pairs).
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
r = resource.getrusage(resource.RUSAGE_SELF)
print(
    os.environ.get("SIDE"),
    f"{(cpu() - c0) / n * 1e6:.2f} us/call; user {r.ru_utime:.2f} s sys {r.ru_stime:.2f} s minflt {r.ru_minflt} nvcsw {r.ru_nvcsw} nivcsw {r.ru_nivcsw}",
)
