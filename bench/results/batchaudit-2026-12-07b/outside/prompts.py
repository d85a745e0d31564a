from llm_cost_hooks.prompts import register_prompt

POLICY = "Refunds need a receipt and are reviewed within two working days. " * 150
register_prompt(
    "faq",
    [("system", POLICY), ("human", "Today is {date}. {question}")],
    model="claude-sonnet-4-5",
    version="v1",
)
