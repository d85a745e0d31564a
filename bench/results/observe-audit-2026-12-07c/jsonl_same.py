"""The same records and task outcomes in a JSONL ledger report the same numbers as in SQLite."""

import json
import subprocess

from llm_cost_hooks.ledger import JSONLLedger, SQLiteLedger

src = SQLiteLedger("costs.db")
dst = JSONLLedger("costs.jsonl")
for r in src.records():
    dst.write(r)
for o in src.task_outcomes():
    dst.write_task(o)
dst.close()
src.close()
for by in ("tenant", "feature", "route", "prompt_version", "model"):
    a, b = (
        json.loads(
            subprocess.run(
                ["llm-cost", "report", f, "--by", by, "--show", "totals,tasks,cache", "--format", "json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for f in ("costs.db", "costs.jsonl")
    )
    print(by, "same" if a == b else f"DIFFERENT\n{a}\n{b}")
