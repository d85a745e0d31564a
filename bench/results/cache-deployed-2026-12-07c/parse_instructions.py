"""Instructions for reading back one stored entry, for callgrind (load does not move them).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python parse_instructions.py none 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python parse_instructions.py none 2000
    (the same with `key` instead of `none`, and `before`: the JSON validation alone, as
    the read was before the layout marker)

The difference between 2000 and 0 reads, divided by 2000, is the cost of one read:
``RedisBackend._parse`` of the stored bytes (layout check, HMAC check with `key`, JSON
validation), no server.
"""

from __future__ import annotations

import sys

from llm_cost_hooks.cache import RedisBackend
from llm_cost_hooks.cache._entry import CacheEntry

entry = CacheEntry(
    partition="p" * 32, exact_key="k" * 32, tenant="t", query="When will my card arrive?",
    normalized_query="when will my card arrive?", embedding_model="none",
    answer="Your card arrives in 3-5 working days. " * 12, answer_key="a" * 32,
)  # fmt: skip
backend = RedisBackend.__new__(RedisBackend)  # the parse only: no server
key = b"a-32-byte-secret-for-the-cache!!" if sys.argv[1] == "key" else None
backend._key, backend.corrupt, backend.on_corrupt, backend._corrupt_logged = key, 0, None, False
raw = backend._dump(entry)
backend._parse(raw, "k")  # warm: first-call imports and caches are not per-read costs
read = (lambda r, _k: CacheEntry.model_validate_json(r)) if sys.argv[1] == "before" else backend._parse
for _ in range(int(sys.argv[2])):
    assert read(raw, "k") is not None
