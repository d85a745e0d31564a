"""Per-call cost of reading a plain text tenant (the common case), old vs new code.

    python bench/results/tenantnorm-2026-12-07g/hot_path.py /tmp/tenantnorm_old .

Alternates processes (old, new, old, new ...) and prints the best of each round, in ns per
call, for the spend guard's read (Attribution.of), the record's (AttributionResolver.resolve,
unmemoised), the cache scope's (scope_from_metadata, memo bypassed) and dedup's key.
"""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r"""
import timeit
from llm_cost_hooks.budget._call import Attribution
from llm_cost_hooks.tracking._attribution import AttributionResolver
from llm_cost_hooks.tracking._runs import Attribution as Base
from llm_cost_hooks.cache import _scope
from llm_cost_hooks.dedup import idempotency_key
md = {"tenant_id": "acme", "feature": "faq", "idempotency_key": "k"}
res = AttributionResolver("salt", False)
base = Base()
out = []
for name, fn in [
    ("guard", lambda: Attribution.of(md)),
    ("record", lambda: res.resolve(md, {}, base)),
    ("cache", lambda: _scope._read_scope(md)),
    ("dedup", lambda: idempotency_key(md)),
]:
    n = 20000
    best = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e9
    out.append(f"{name}={best:.0f}")
print(" ".join(out))
"""


def main() -> None:
    old, new = sys.argv[1], sys.argv[2]
    for rnd in range(3):
        for label, path in (("old", old), ("new", new)):
            env = dict(os.environ, PYTHONPATH=path)
            got = subprocess.run(
                [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
            )
            print(f"round {rnd} {label}: {got.stdout.strip()} ns/call")


if __name__ == "__main__":
    main()
