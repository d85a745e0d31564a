import sys

from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

tp, mp = configure_otel("my-llm-app", endpoint=sys.argv[1], metrics=False)
obs = OTelObserver(tracer_provider=tp)
h = CostCallbackHandler(ledger="memory://", observers=[obs])
chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage(responses=["Paris."])
print(chain.invoke({"q": "Capital of France?"}, config={"callbacks": [h]}).content)
h.flush()
tp.force_flush()
print(obs.stats.snapshot())
