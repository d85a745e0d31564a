import sqlite3
import sys

from llm_cost_hooks.ledger import LedgerReports, savings_waterfall

for s in savings_waterfall(LedgerReports(sqlite3.connect(sys.argv[1]))):
    print(f"  {s['step']:<22} cost ${s['cost_usd']:.6f}  saving ${s['saving_usd']:.6f}")
