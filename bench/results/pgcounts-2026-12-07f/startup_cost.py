"""CPU of finding a PostgreSQL ledger's state folder (done once per ledger, at start)."""

import sys
import time

from llm_cost_hooks.ledger._postgres import state_dead_letter_path

url = sys.argv[1]
state_dead_letter_path(url)  # imports done
for _ in range(5):
    t = time.process_time()
    for _ in range(2000):
        state_dead_letter_path(url)
    print(f"{(time.process_time() - t) / 2000 * 1e6:.1f} us per call")
