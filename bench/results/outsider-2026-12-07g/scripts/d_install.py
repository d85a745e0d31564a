import llm_cost_hooks.langchain as lch

handler = lch.install(ledger="sqlite:///llm_costs.db", defaults={"feature": "support_answer"})
# ... every chain.invoke / ainvoke / stream / batch in any thread or task is now recorded
lch.uninstall(handler)
