import os

from llm_cost_hooks import CostRecord
from llm_cost_hooks import _errors as E
from llm_cost_hooks.ledger import SQLiteLedger, format_rows, open_ledger


def t(name, fn):
    try:
        print(f"[{name}] OK -> {fn()!r}"[:250])
    except Exception as e:
        print(
            f"[{name}] {'TYPED' if isinstance(e, E.LLMCostHooksError) else 'UNTYPED'} {type(e).__name__}: {str(e)[:300]}"
        )


t("sqlite two slashes", lambda: open_ledger("sqlite://llm_costs2.db"))
print("files:", sorted(os.listdir(".")))
t("sqlite :memory:", lambda: open_ledger("sqlite:///:memory:"))
t("bare path", lambda: open_ledger("costs.db"))
t("unknown scheme", lambda: open_ledger("mysql://u@h/db"))
t("postgres w/o extra", lambda: open_ledger("postgresql://u:pw@127.0.0.1:1/db"))
ledger = open_ledger("sqlite:///llm_costs.db")
t("prune '90 days'", lambda: ledger.prune(older_than="90 days"))
t("prune future", lambda: ledger.prune(before="2999-01-01"))
t("prune both", lambda: ledger.prune())
r = ledger.reports()
t("totals by tenants", lambda: r.totals(by=["tenants"]))
t("totals by str comma", lambda: format_rows(r.totals(by="tenant,day")))
t("totals since bad", lambda: r.totals(by=["tenant"], since="last week"))
t("write dict", lambda: ledger.write({"model": "gpt-4o", "cost_usd": 1}))
t("CostRecord bad cost", lambda: CostRecord(model="m", cost_usd="a lot"))
t("CostRecord negative cost", lambda: CostRecord(model="m", cost_usd=-1))
t("SQLiteLedger dir", lambda: SQLiteLedger("/tmp"))
ledger.close()
