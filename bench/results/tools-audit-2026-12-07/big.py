"""Write N records (500+ tenants, some hostile) into a SQLite ledger: python big.py PATH N."""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

rnd = random.Random(1)
ledger = SQLiteLedger(sys.argv[1])
start = datetime(2026, 11, 1, tzinfo=timezone.utc)
tenants = [f"tenant-{i}" for i in range(500)] + ["<script>x</script>", "a,b", "\x1b[31mred"]
for i in range(int(sys.argv[2])):
    ok = rnd.random() > 0.05
    ledger.write(
        CostRecord(
            model=rnd.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]),
            tenant=rnd.choice(tenants),
            feature=rnd.choice(["qa", "summ", "agent", "rag"]),
            route=rnd.choice(["strong", "weak"]),
            prompt_version=f"p@v{i % 4}",
            task_id=f"task-{i // 3}",
            input_tokens=1200,
            output_tokens=80,
            cost_usd=round(rnd.random() / 100, 6),
            saved_usd=0.001 if i % 10 == 0 else 0.0,
            cache_status="exact" if i % 10 == 0 else "miss",
            success=ok,
            attempt=1 if ok or i % 2 else 2,
            timestamp=start + timedelta(seconds=i * 13),
        )
    )
ledger.close()
