"""Security page promises, from the wheel: no prompt/answer text in spans or log lines by
default (a failing model whose error quotes the prompt included); nothing unpickled from a
shared Redis."""

import io
import logging
import os
import pickle
import sys
from pathlib import Path

import redis
from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache
from llm_cost_hooks.telemetry import OTelObserver

SECRET = "ZEBRA-PROMPT-7731"
ANSWER = "OKAPI-ANSWER-4410"
buf = io.StringIO()
h = logging.StreamHandler(buf)
h.setLevel(logging.DEBUG)
logging.getLogger().addHandler(h)
logging.getLogger().setLevel(logging.DEBUG)

exp = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(exp))
handler = CostCallbackHandler(ledger="sqlite:///costs.db", observers=[OTelObserver(tracer_provider=tp)])


class Boom(FakeChatModelWithUsage):
    def _generate(self, messages, *a, **k):
        raise RuntimeError(f"provider says: bad request {messages[-1].content}")


url = sys.argv[1]
cache = SemanticCache(redis_url=url, redis_prefix="sec", semantic=False)
set_llm_cache(cache)
prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
ok = prompt | FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
ok.invoke({"q": f"hello {SECRET}"}, config=cfg)
try:
    (prompt | Boom(model_name="gpt-4o-mini", responses=["x"])).invoke({"q": f"boom {SECRET}"}, config=cfg)
except RuntimeError:
    pass
handler.flush()
tp.force_flush()
spans = exp.get_finished_spans()
blob = "".join(str(s.to_json()) for s in spans)
print("spans:", len(spans), "secret in spans:", SECRET in blob or ANSWER in blob)


# Pickle planted under every cache key: a miss, counted, never unpickled.
class Evil:
    def __reduce__(self):
        return (open, ("PWNED", "w"))


r = redis.Redis.from_url(url)
keys = [k for k in r.scan_iter("sec*") if r.type(k) == b"string"]
for k in keys:
    r.set(k, pickle.dumps(Evil()))
before = cache.stats.corrupt
out = ok.invoke({"q": f"hello {SECRET}"}, config=cfg)
print(
    "planted keys:",
    len(keys),
    "answer served:",
    out.content,
    "corrupt +",
    cache.stats.corrupt - before,
    "PWNED file:",
    os.path.exists("PWNED"),
)
handler.flush()
logs = buf.getvalue()
print("log lines:", logs.count("\n"), "secret in logs:", SECRET in logs or ANSWER in logs)
rows = Path("costs.db").read_bytes()
print("secret in ledger file:", SECRET.encode() in rows or ANSWER.encode() in rows)
