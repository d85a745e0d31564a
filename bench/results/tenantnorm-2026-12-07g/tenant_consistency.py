"""Which tenant each reader sees for a tenant value: record, spend guard, cache, dedup.

Run from a checkout root (the ``llm_cost_hooks`` imported is the one on ``sys.path``):

    PYTHONPATH=. python bench/results/tenantnorm-2026-12-07g/tenant_consistency.py bench/data/tenant_values.jsonl

Two sets: the adversarial values in the file, and a column of integer tenant ids with gaps
as a table reader spells it (floats, NaN for the gaps: what pandas gives), built here.
A value is *consistent* when the guard charges the pool the record shows (no tenant ==
the ``defaults`` tenant) and cache and dedup either use that tenant or share nothing.
Two *merges*: two different unusable or distinct values recorded under one named tenant.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import urllib.parse
import uuid
from typing import Any

logging.disable(logging.CRITICAL)

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard  # noqa: E402
from llm_cost_hooks.cache import scope_from_metadata  # noqa: E402
from llm_cost_hooks.dedup import idempotency_key  # noqa: E402
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage  # noqa: E402
from llm_cost_hooks.langchain._budget import GuardedChatModel  # noqa: E402

DEFAULT = "default-tenant"


def value_of(row: dict[str, str]) -> Any:
    t, v = row["type"], row["value"]
    if t == "str":
        return v
    if t == "int":
        return int(v)
    if t == "float":
        return float(v)
    if t == "uuid":
        return uuid.UUID(v)
    if t == "bool":
        return v == "true"
    if t == "dict":
        return json.loads(v)
    if t == "escaped":
        return v.encode("ascii").decode("unicode_escape")
    if t == "long":
        return "t" * int(v)
    raise ValueError(t)


def readers(value: Any) -> dict[str, Any]:
    md = {"tenant_id": value, "idempotency_key": "k"}
    handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": DEFAULT})
    guard = SpendGuard([Limit.usd(1.0, per="day", scope="tenant")], alerts=AlertManager(log=False))
    model = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=guard)
    model.invoke("Summarise the report.", config={"callbacks": [handler], "metadata": md})
    (record,) = handler.records()
    candidates = {None, DEFAULT, record.tenant}
    try:
        candidates.add(str(value))
    except Exception:
        pass
    charged = [c for c in candidates if guard.spent(guard.limits[0], c) > 0]
    try:
        cache: Any = scope_from_metadata(md).tenant
    except Exception:
        cache = "BYPASS"
    try:
        key = idempotency_key(md)
        dedup: Any = "BYPASS" if key is None else None
        if key is not None and "tenant=" in key:
            dedup = urllib.parse.unquote(key.split("tenant=", 1)[1].rsplit(":", 1)[0], errors="surrogatepass")
    except Exception:
        dedup = "BYPASS"
    return {"record": record.tenant, "guard": charged, "cache": cache, "dedup": dedup}


def consistent(r: dict[str, Any]) -> bool:
    shown = None if r["record"] in (None, DEFAULT) else r["record"]
    if r["guard"] != [shown] and not (shown is None and r["guard"] == [None]):
        return False
    return all(r[k] in ("BYPASS", r["record"]) or (r[k] is None and shown is None) for k in ("cache",)) and (
        r["dedup"] == "BYPASS" or r["dedup"] == shown or (r["dedup"] is None and shown is None)
    )


def run(name: str, values: list[tuple[str, Any]]) -> None:
    bad = 0
    by_record: dict[Any, list[tuple[str, Any]]] = {}
    for case, value in values:
        r = readers(value)
        ok = consistent(r)
        bad += not ok
        if r["record"] not in (None, DEFAULT):
            by_record.setdefault(r["record"], []).append((case, value))

        def cut(v: Any) -> Any:
            if isinstance(v, list):
                return [cut(x) for x in v]
            return v if not isinstance(v, str) or len(v) < 24 else v[:20] + "..."

        shown = {k: cut(v) for k, v in r.items()}
        print(f"  {'ok ' if ok else 'BAD'} {case:45} {shown}")
    # Merged: values that are not equal (7 == 7.0 is one tenant) recorded under one tenant.
    merges = [[c for c, _ in cs] for cs in by_record.values() if any(v != cs[0][1] for _, v in cs)]
    print(f"{name}: {len(values)} values, {bad} inconsistent, {len(merges)} merged groups {merges}")


def main() -> None:
    import llm_cost_hooks

    print("llm_cost_hooks from", llm_cost_hooks.__file__)
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    run("adversarial set", [(row["case"], value_of(row)) for row in rows])
    column = [7.0, math.nan, 12.0, 7.0, math.nan, 3.0]  # an int column with gaps, as pandas reads it
    run("table column with gaps", [(f"row {i} ({v})", v) for i, v in enumerate(column)])


if __name__ == "__main__":
    main()
