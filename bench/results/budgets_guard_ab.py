"""Per-call process CPU time of the guard row (bench/bench_budgets.py _guard_rows): min and median over rounds."""
import os, statistics, sys, time
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest
guard = SpendGuard(
    [Limit.usd(1e9, per="day", scope="tenant"), Limit.usd_per_request(1.0), Limit.input_tokens(100_000)],
    alerts=AlertManager(log=False, span_events=False),
)
req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")
def check():
    guard.reserve(req).settle(0.0001)
for _ in range(3000): check()
rounds = []
for _ in range(int(os.environ.get("ROUNDS", "15"))):
    n = 5000
    t = time.process_time()
    for _ in range(n): check()
    rounds.append((time.process_time() - t) / n * 1e6)
print(f"{sys.argv[1] if len(sys.argv)>1 else ''} min {min(rounds):.2f} median {statistics.median(rounds):.2f} us/call", flush=True)
