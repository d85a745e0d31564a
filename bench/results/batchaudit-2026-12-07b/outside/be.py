import sys

from llm_cost_hooks.ledger import open_ledger
from llm_cost_hooks.prompt_cache import breakpoint_economics

ledger = open_ledger(sys.argv[1])
recs = list(ledger.records())
ledger.close()
for r in breakpoint_economics(recs):
    print(
        f"  {r.prompt_version} reads {r.calls_reading} read_savings ${r.read_savings_usd:.6f} premium ${r.write_premium_usd:.6f} net ${r.net_usd:.6f}"
    )
