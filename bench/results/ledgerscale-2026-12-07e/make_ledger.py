"""Write N realistic records (a year of them, oldest first) and their task outcomes into a
ledger through the package's own write path (``Ledger.write`` / ``write_task``).

python make_ledger.py LEDGER N [--days 365]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome, open_ledger

MODELS = [
    ("gpt-4o-mini", "openai", 0.15, 0.6),
    ("gpt-4o", "openai", 2.5, 10.0),
    ("claude-haiku-4-5", "anthropic", 1.0, 5.0),
    ("gemini/gemini-2.5-flash", "gemini", 0.3, 2.5),
]
STATUSES = ["miss"] * 17 + ["exact", "semantic", "semantic"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ledger")
    ap.add_argument("n", type=int)
    ap.add_argument("--days", type=int, default=365)
    a = ap.parse_args()
    rnd = random.Random(7)
    ledger = open_ledger(a.ledger)
    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=a.days)
    step = (end - start) / a.n
    t0 = time.perf_counter()
    i = 0
    task = 0
    while i < a.n:
        task += 1
        tid = f"run-{task:09d}"
        calls = rnd.choice((1, 2, 3, 3, 4, 5))
        tenant = f"tenant-{rnd.randrange(40)}"
        feature = f"feature-{rnd.randrange(12)}"
        ok = True
        for c in range(calls):
            if i >= a.n:
                break
            model, provider, pin, pout = rnd.choice(MODELS)
            inp, out = rnd.randint(200, 4000), rnd.randint(20, 800)
            status = rnd.choice(STATUSES)
            cost = 0.0 if status != "miss" else (inp * pin + out * pout) / 1e6
            success = rnd.random() > 0.02
            ok = ok and success
            ledger.write(
                CostRecord(
                    model=model,
                    provider=provider,
                    tenant=tenant,
                    feature=feature,
                    user=f"u{rnd.randrange(5000)}",
                    route="/chat",
                    prompt_version="v3",
                    task_id=tid,
                    timestamp=start + step * i,
                    input_tokens=inp,
                    output_tokens=out,
                    cost_usd=cost,
                    saved_usd=(inp * pin + out * pout) / 1e6 if status != "miss" else 0.0,
                    cache_status=status,
                    success=success,
                    attempt=2 if c and not success else 1,
                    latency_ms=rnd.uniform(200, 4000),
                    error_type=None if success else "RateLimitError",
                )
            )
            i += 1
        ledger.write_task(TaskOutcome(task_id=tid, success=ok, timestamp=start + step * i))
        if task % 20000 == 0:
            ledger.flush(timeout=600)
    ledger.flush(timeout=600)
    ledger.close()
    print(f"{a.n} records, {task} tasks in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
