from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import open_ledger

ledger = open_ledger("jsonl:///" + __import__("os").path.abspath("costs.jsonl"))
ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.0002))
ledger.close()
with open("costs.jsonl", "a") as f:
    f.write('{"model": "gpt-4o-mini", "ten')  # a crash mid-line
ledger = open_ledger("jsonl:///" + __import__("os").path.abspath("costs.jsonl"))
ledger.write(CostRecord(model="gpt-4o-mini", tenant="globex", cost_usd=0.0003))
ledger.close()
