"""The first mistakes: what each one raises (or that it is accepted), and how many times
``llm-cost report`` says that a JSONL ledger has a damaged line."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cache import CacheCore
from llm_cost_hooks.dedup import CircuitBreaker, RedisSingleFlight, SingleFlight
from llm_cost_hooks.ledger import JSONLLedger, MemoryLedger

cases = {
    "SingleFlight(result_ttl=-1)": lambda: SingleFlight(result_ttl=-1),
    "SingleFlight(max_results=0)": lambda: SingleFlight(max_results=0),
    "RedisSingleFlight(error_ttl=0)": lambda: RedisSingleFlight("redis://127.0.0.1:1", error_ttl=0),
    "CircuitBreaker(window_seconds=0)": lambda: CircuitBreaker(window_seconds=0),
    "CircuitBreaker(reset_seconds=-1)": lambda: CircuitBreaker(reset_seconds=-1),
    "cache.invalidate(entry=...)": lambda: CacheCore(semantic=False).invalidate(entry="abc"),
    "Ledger.write(dict)": lambda: MemoryLedger().write({"model": "gpt-4o"}),
}
for name, build in cases.items():
    try:
        build()
        print(f"{name}: accepted")
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "costs.jsonl"
    ledger = JSONLLedger(path)
    for i in range(3):
        ledger.write(CostRecord(model="gpt-4o-mini", input_tokens=100, output_tokens=10, request_id=f"r{i}"))
    ledger.close()
    path.write_bytes(path.read_bytes()[:-40])
    out = subprocess.run(
        [sys.executable, "-m", "llm_cost_hooks.cli", "report", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=os.environ,
    )
    print(
        f"llm-cost report, damaged line said {out.stderr.count('not whole records')} time(s), exit {out.returncode}"
    )
