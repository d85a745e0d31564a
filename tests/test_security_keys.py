"""Tenant-controlled strings never make two tenants (or scopes) share one key: budgets
(in-process and Redis), anomaly hours, dedup keys and retry budgets."""

from __future__ import annotations

import uuid

import pytest

from llm_cost_hooks.budget import (
    AlertManager,
    AnomalyRule,
    InProcessSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
)
from llm_cost_hooks.dedup._keys import idempotency_key

# Values an attacker naming its own tenant might pick to land on someone else's key.
HOSTILE = [
    "_unattributed",
    "*",
    "",
    "a:b",
    "a|b",
    "a/b",
    "a\x00b",
    "{acme}",
    "acme*",
    "ac?me",
    "[acme]",
    "ac me",
    "acme\nFORGED",
    "x" * 5000,
    "ünïcødé",
    "%5Funattributed",
    "\ud800",
    "default",
]


def test_scope_key_parts_are_distinct_reversible_and_keep_plain_ids() -> None:
    from llm_cost_hooks.budget._limits import scope_key_part, scope_value_of_key

    values: list[str | None] = [None, *HOSTILE, "acme", "a", "b"]
    parts = [scope_key_part(v) for v in values]
    assert len(set(parts)) == len(values)
    for value, part in zip(values, parts):
        assert ":" not in part and "*" not in part and "{" not in part and "\n" not in part
        assert scope_value_of_key(part) == ("_unattributed" if value is None else value)
    assert scope_key_part("acme-1.eu") == "acme-1.eu"  # counters of plain ids carry over


def _spend(guard: SpendGuard, tenant: str | None, usd: float, cap: int = 100_000) -> None:
    request = SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=cap, tenant=tenant)
    guard.reserve(request).settle(usd)


@pytest.mark.parametrize("tenant", ["_unattributed", "%5Funattributed"])
def test_a_tenant_named_like_the_unattributed_pool_spends_its_own_budget(tenant: str) -> None:
    guard = SpendGuard([Limit.usd(1.0, per="day", scope="tenant", name="daily")], store=InProcessSpendStore())
    _spend(guard, tenant, 0.5)
    assert guard.spent("daily", None) == 0.0
    assert guard.spent("daily", tenant) == pytest.approx(0.5)


def test_hostile_tenant_names_never_share_a_redis_budget(redis_clean_url: str) -> None:
    store = RedisSpendStore(redis_clean_url, prefix=f"sec{uuid.uuid4().hex[:8]}")
    guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant", name="daily")], store=store)
    tenants: list[str | None] = [None, *HOSTILE]
    for i, tenant in enumerate(tenants):
        _spend(guard, tenant, 0.001 * (i + 1))
    for i, tenant in enumerate(tenants):
        assert guard.spent("daily", tenant) == pytest.approx(0.001 * (i + 1)), repr(tenant)
    client = store._conn.sync()
    keys = {
        k.decode() if isinstance(k, bytes) else k
        for k in client.scan_iter(match=f"{{{store.prefix}}}:b:daily:*", count=1000)
    }
    spent_keys = {k for k in keys if not k.endswith((":r", ":e")) and ":d:" not in k}
    assert len(spent_keys) == len(tenants)


def test_anomaly_hours_of_a_tenant_named_like_the_unattributed_pool_are_its_own() -> None:
    store = InProcessSpendStore()
    alerts = AlertManager(log=False, span_events=False, anomaly=AnomalyRule(scope="tenant"))
    guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")], store=store, alerts=alerts)
    _spend(guard, "_unattributed", 0.25)
    hour_keys = {key for key, _ in store._hours}
    assert hour_keys == {"tenant:%5Funattributed"}


def test_explicit_dedup_keys_of_two_tenants_never_meet() -> None:
    assert idempotency_key({"tenant_id": "acme:order", "idempotency_key": "42"}) != idempotency_key(
        {"tenant_id": "acme", "idempotency_key": "order:42"}
    )
    # A call naming no tenant cannot pick a key that is another tenant's.
    assert idempotency_key({"idempotency_key": "tenant=acme:order-42"}) != idempotency_key(
        {"tenant_id": "acme", "idempotency_key": "order-42"}
    )
    assert (
        idempotency_key({"tenant_id": "acme", "idempotency_key": "order-42"})
        == "explicit:tenant=acme:order-42"
    )


def test_retry_budgets_of_two_tenants_never_meet() -> None:
    from llm_cost_hooks.budget._call import Attribution, GuardedCall, Target
    from llm_cost_hooks.dedup import RetryBudget

    retry = RetryBudget()
    target = Target("handle", "gpt-4o-mini")
    a = GuardedCall(target, retry=retry, task_id="c", scope=Attribution(tenant="a:b"))
    b = GuardedCall(target, retry=retry, task_id="b:c", scope=Attribution(tenant="a"))
    assert a.retry_state is not None and a.retry_state is not b.retry_state


def test_a_tenant_name_with_a_newline_cannot_forge_an_alert_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = "acme\nCRITICAL budget reset by admin\u2028" + "x" * 500
    guard = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", name="daily", alert_at=[0.5])],
        store=InProcessSpendStore(),
    )
    with caplog.at_level("WARNING", logger="llm_cost_hooks.budget"):
        _spend(guard, tenant, 0.0009, cap=10)
    messages = [r.getMessage() for r in caplog.records if "alert" in r.getMessage()]
    assert messages and all("\n" not in m and "\u2028" not in m for m in messages)
    assert all("acme\\nCRITICAL" in m and len(m) < 400 for m in messages)


def test_tenant_id_zero_is_a_tenant_of_its_own_for_the_guard() -> None:
    from llm_cost_hooks.budget._call import Attribution

    assert Attribution.of({"tenant_id": 0, "user_id": 0}) == Attribution(tenant="0", user="0")
    assert Attribution.of({"tenant_id": "", "tenant": "acme"}).tenant == "acme"
    assert Attribution.of({"route": 0}, route="faq").route == "0"
    # The same tenant the dedup key is scoped to.
    assert idempotency_key({"tenant_id": 0, "idempotency_key": "k"}) == "explicit:tenant=0:k"
