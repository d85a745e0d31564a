# ruff: noqa: E402  (logging is set up before the package is imported)
import logging

logging.basicConfig(level=logging.INFO, format="LOG %(levelname)s %(name)s: %(message)s")
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import PromptCacheBreakpoints

policy = "Refunds need a receipt and are reviewed within two working days. " * 150
prompt = ChatPromptTemplate.from_messages([("system", policy), ("human", "{question}")])
for m in [
    "claude-sonet-4-5",
    "anthropic/claude-sonnet-4-5",
    "claude-3-5-sonnet-latest",
    "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
    "gpt-4o-mini",
]:
    reports = []
    step = PromptCacheBreakpoints(model=m, on_report=reports.append)
    msgs = (prompt | step).invoke({"question": "Can I get a refund?"})
    r = reports[0]
    print(m, "->", r.mode.value, [b.segment for b in r.breakpoints], getattr(r, "reason", None))
