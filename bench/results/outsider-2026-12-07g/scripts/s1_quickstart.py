from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

llm = FakeChatModelWithUsage(
    model_name="gpt-4o-mini", responses=["Within 3-5 business days."]
)  # or ChatOpenAI(...)
chain = (
    ChatPromptTemplate.from_messages([("system", "You are ACME's support bot."), ("human", "{q}")])
    | llm
    | StrOutputParser()
)
handler = CostCallbackHandler(ledger="sqlite:///llm_costs.db", defaults={"feature": "support_answer"})
chain.invoke(
    {"q": "When will my card arrive?"},
    config={"callbacks": [handler], "metadata": {"tenant_id": "acme", "prompt_version": "support_v14"}},
)
handler.flush()
print(handler.report(by="tenant,feature"))
