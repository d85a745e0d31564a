"""Instructions per tenant-less exact-hit lookup, old one-time store check vs the bounded
re-check: run under callgrind once per mode and subtract a run of 0 lookups.
PYTHONPATH=. valgrind --tool=callgrind --callgrind-out-file=/dev/null python \
    bench/results/tenancy-2026-12-07g/recheck_instr.py {old|new} {0|20000}
"""

from __future__ import annotations

import sys

from llm_cost_hooks.cache import CacheConfig, CacheCore, EmbeddedBackend


def old_check(self: CacheCore) -> bool:  # the one-time check this change replaces
    if getattr(self, "_old_found", None) is None:
        self._old_found = bool(self.backend.has_named_tenants(self.config.default_tenant))
    return self._old_found


if sys.argv[1] == "old":
    CacheCore._tenants_in_store = old_check  # type: ignore[method-assign]
core = CacheCore(EmbeddedBackend(), semantic=False, config=CacheConfig(semantic=False, audit_sample_rate=0))
req = core.request("Where is my order?", llm_string="m")
core.update(req, answer="On its way.")
core.lookup(req)
for _ in range(int(sys.argv[2])):
    core.lookup(req)
