"""How many state folders the spellings of one PostgreSQL ledger URL get: by the identity
earlier releases used (the URL as written) and by the current one.
PYTHONPATH=.:tests python bench/results/tenancy-2026-12-07g/state_folders.py
"""

from __future__ import annotations

import os
import tempfile

from test_ledger_state_identity import OTHERS, SAME, SAME_OPTIONS

from llm_cost_hooks.ledger import _killcount
from llm_cost_hooks.ledger._postgres import _given_identity, ledger_identity

os.environ["LLM_COST_HOOKS_STATE_DIR"] = tempfile.mkdtemp()
for name, urls in (("one ledger, 5 spellings", SAME), ("one ledger with options, 3 orders", SAME_OPTIONS)):
    before = {_killcount.ledger_state_dir("postgresql", _given_identity(u)) for u in urls}
    after = {_killcount.ledger_state_dir("postgresql", ledger_identity(u)) for u in urls}
    print(f"{name}: {len(before)} folders before, {len(after)} after")
after = {_killcount.ledger_state_dir("postgresql", ledger_identity(u)) for u in OTHERS}
print(f"{len(OTHERS)} other ledgers: {len(after)} folders after")
