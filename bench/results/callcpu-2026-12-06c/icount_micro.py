"""Instructions of single expressions on the record path (run with count_pieces.sh from the
repository root): clock reads, run-id text, Enum member reads, microsecond text, max()."""

import functools
import os
import sys
import time
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.getcwd())
from llm_cost_hooks._records import CacheStatus

UTC = timezone.utc
MISS = CacheStatus.MISS
_D3 = [f"{i:03d}" for i in range(1000)]
u = uuid.uuid4()
i = u.int
us = 123456
pd = "2026-12-06T16:44:16."


def from_bytes(i: int) -> str:
    b = i.to_bytes(16, "big")
    return f"{b[:10].hex('-', 2).replace('-', '', 1)}-{b[10:].hex()}"


assert from_bytes(i) == str(u)


def m(label, f, n=5000):  # type: ignore[no-untyped-def]
    print("LABEL", label, n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
m("datetime.now(UTC)", lambda: datetime.now(UTC))
m("time.time_ns()", time.time_ns)
m("str(uuid)", lambda: str(u))
m("uuid text from bytes", lambda: from_bytes(i))
m("CacheStatus.MISS", lambda: CacheStatus.MISS)
m("module constant", lambda: MISS)
m("f'{us:06d}' timestamp", lambda: f"{pd}{us:06d}+00:00")
m("table timestamp", lambda: f"{pd}{_D3[us // 1000]}{_D3[us % 1000]}+00:00")
m("max(x, 0.0)", lambda: max(1.5, 0.0))
m("x if x > 0.0 else 0.0", lambda: 1.5 if 1.5 > 0.0 else 0.0)
