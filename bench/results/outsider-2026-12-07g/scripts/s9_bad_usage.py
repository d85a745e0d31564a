# ruff: noqa: E402
# a provider (or a wrapper) reporting odd usage: every call must end in a record or a visible error
import logging

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm_cost_hooks.langchain import CostCallbackHandler


class Odd(BaseChatModel):
    usage: Any = None
    meta: Any = None
    llm_out: Any = None

    @property
    def _llm_type(self):
        return "odd"

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        msg = AIMessage(content="ok", response_metadata=self.meta or {"model_name": "gpt-4o-mini"})
        if self.usage is not None:
            msg.usage_metadata = self.usage
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output=self.llm_out)


h = CostCallbackHandler(ledger="sqlite:///odd.db")
cases = {
    "nan tokens": dict(usage={"input_tokens": float("nan"), "output_tokens": 5, "total_tokens": 5}),
    "inf tokens": dict(usage={"input_tokens": float("inf"), "output_tokens": 5, "total_tokens": 5}),
    "negative tokens": dict(usage={"input_tokens": -10, "output_tokens": 5, "total_tokens": -5}),
    "huge tokens": dict(usage={"input_tokens": 10**30, "output_tokens": 5, "total_tokens": 10**30}),
    "str tokens": dict(usage={"input_tokens": "12", "output_tokens": "5", "total_tokens": "17"}),
    "float tokens": dict(usage={"input_tokens": 12.7, "output_tokens": 5.0, "total_tokens": 17.7}),
    "None tokens": dict(usage={"input_tokens": None, "output_tokens": None, "total_tokens": None}),
    "details nan": dict(
        usage={
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_token_details": {"cache_read": float("nan")},
        }
    ),
    "model_name dict": dict(meta={"model_name": {"x": 1}}),
    "model_name None": dict(meta={"model_name": None}),
    "model_name surrogate": dict(meta={"model_name": "gpt-4o-mini\udcff"}),
    "llm_output token_usage nan": dict(
        llm_out={
            "token_usage": {"prompt_tokens": float("nan"), "completion_tokens": 1},
            "model_name": "gpt-4o-mini",
        }
    ),
    "llm_output not dict": dict(llm_out={"token_usage": "lots", "model_name": "gpt-4o-mini"}),
}
n = 0
for name, kw in cases.items():
    try:
        Odd(**kw).invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "t"}})
        n += 1
    except Exception as e:
        print("ERROR to user:", name, type(e).__name__, str(e)[:150])
        continue
    recs = h.records()
    r = recs[-1] if recs else None
    print(
        f"{name:28s} records={len(recs)} last: model={r.model!r} in={r.input_tokens} out={r.output_tokens} cost={r.cost_usd} ok={r.success} est={r.tokens_estimated}/{r.price_estimated}"
    )
h.flush()
print("invocations", n, "records", len(h.records()))
print(h.tracker.ledger.stats)
import sqlite3

print(
    "rows in db",
    sqlite3.connect("odd.db").execute("select count(*), sum(cost_usd) from cost_records").fetchone(),
)
