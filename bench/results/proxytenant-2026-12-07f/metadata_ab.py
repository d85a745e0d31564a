"""What applying the binding again on every success event would cost (a variant tried and
dropped: the pre-call hook's rewrite already reaches the event). ``_metadata_of`` as shipped
(A) and with that event-path binding (B), on a proxy-shaped event (~40 metadata fields, a
key bound to a tenant).

    python metadata_ab.py [ROUNDS]          # wall time, A/B interleaved
    python metadata_ab.py --one a|b N       # N calls of one side (for callgrind)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from llm_cost_hooks._tenancy import TENANT_KEYS, bound_or_none
from llm_cost_hooks.litellm._state import _metadata_of as without_binding


def with_binding(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    merged = without_binding(kwargs)
    if merged.get("user_api_key_metadata") or merged.get("user_api_key_team_metadata"):
        bound = bound_or_none(merged.get("user_api_key_metadata"), merged.get("user_api_key_team_metadata"))
        if bound is not None:
            for key in TENANT_KEYS:
                if key in merged:
                    merged[key] = bound
            merged["tenant_id"] = bound
    return merged


client = {"tenant_id": "acme", "feature": "faq", "route": "/support"}
proxy_md: dict[str, Any] = {**client, "requester_metadata": dict(client)}
proxy_md.update({f"user_api_key_field_{i}": None for i in range(36)})
proxy_md.update({"user_api_key_metadata": {"tenant_id": "acme"}, "user_api_key_team_metadata": None})
EVENT = {"litellm_params": {"metadata": proxy_md}}
assert with_binding(EVENT)["tenant_id"] == without_binding(EVENT)["tenant_id"] == "acme"


def per_call_ns(fn: Any, n: int) -> float:
    t = time.perf_counter_ns()
    for _ in range(n):
        fn(EVENT)
    return (time.perf_counter_ns() - t) / n


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        fn = without_binding if sys.argv[2] == "a" else with_binding
        for _ in range(int(sys.argv[3])):
            fn(EVENT)
        raise SystemExit(0)
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    a, b = [], []
    for _ in range(rounds):
        a.append(per_call_ns(without_binding, 20_000))
        b.append(per_call_ns(with_binding, 20_000))
    a.sort()
    b.sort()
    print(f"A (shipped) ns/call: median {a[len(a) // 2]:.0f}, min {a[0]:.0f}, max {a[-1]:.0f}")
    print(f"B (event-path binding) ns/call: median {b[len(b) // 2]:.0f}, min {b[0]:.0f}, max {b[-1]:.0f}")
