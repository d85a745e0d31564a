import sys

from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

tp, mp = configure_otel("exit-check", exporter="console", metrics=True)
h = CostCallbackHandler(
    ledger="sqlite:///exit.db", observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)]
)
(ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage()).invoke(
    {"q": "hi"}, config={"callbacks": [h]}
)
h.flush()
# the application's own orderly end, as OpenTelemetry's docs show it
tp.shutdown()
mp.shutdown()
print("app done", file=sys.stderr)
