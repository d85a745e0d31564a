"""Replay a dead-letter file into the PostgreSQL ledger twice, as docs/ledger.md says; print the counters."""

import logging
import shutil
import sys

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
from llm_cost_hooks.ledger import open_ledger, replay_dead_letters  # noqa: E402

url, dead = sys.argv[1], sys.argv[2]
shutil.copy(dead, dead + ".copy")  # the first replay renames the file
for attempt in (1, 2):
    ledger = open_ledger(url)
    n = replay_dead_letters(dead if attempt == 1 else dead + ".copy", ledger)
    s = ledger.stats
    print(
        f"replay {attempt}: queued {n}, written {s.written}, duplicates {getattr(s, 'duplicates', 'n/a')}",
        flush=True,
    )
    ledger.close()
