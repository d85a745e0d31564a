"""One reading of a tenant value for the cost record, the spend guard, dedup and the caches.

A value a store cannot keep as distinct text (NaN, a dict, a bool, undecodable text) used to
be read differently by each: the guard charged a "nan" pool the records never showed, a
pandas 7.0 was tenant "7.0" for the guard and no tenant in the record, and two tenants
with different undecodable bytes were merged in the records.
"""

from __future__ import annotations

import logging
import math
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from llm_cost_hooks import _tenancy
from llm_cost_hooks._errors import CacheScopeError
from llm_cost_hooks._tenancy import UnusableTenant, tenant_text
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.cache import scope_from_metadata
from llm_cost_hooks.dedup import idempotency_key

MSG = [{"role": "user", "content": "Summarise the quarterly report in two lines."}]
UNUSABLE: list[Any] = [
    math.nan,
    math.inf,
    7.5,
    True,
    {"id": "s3cr3t-org"},
    "x\ud800",
    "x\udfff",
    "a\x00b",
    "t" * 513,
]


def _guard() -> SpendGuard:
    return SpendGuard([Limit.usd(1.0, per="day", scope="tenant")], alerts=AlertManager(log=False))


def test_usable_values_read_as_their_text() -> None:
    org = uuid.UUID("6f1c0e52-3d4b-4b8e-9a55-0f2d5b1c7e11")
    assert [tenant_text(v) for v in ("acme", 7, 7.0, -0.0, org, None, "", "é")] == [
        "acme", "7", "7", "0", str(org), None, None, "é",
    ]  # fmt: skip


@pytest.mark.parametrize("value", UNUSABLE, ids=repr)
def test_unusable_values_are_refused_by_every_reader(value: Any) -> None:
    with pytest.raises(UnusableTenant):
        tenant_text(value)
    md = {"tenant_id": value, "idempotency_key": "order-42"}
    with pytest.raises(CacheScopeError):
        scope_from_metadata(md)  # the cache: bypassed
    assert idempotency_key(md) is None  # dedup: no shared answer
    from llm_cost_hooks.budget._call import Attribution

    assert Attribution.of(md).tenant is None  # the guard: the pool of calls naming none


def test_a_whole_float_is_the_same_tenant_for_cache_dedup_and_guard() -> None:
    from llm_cost_hooks.budget._call import Attribution

    as_int = {"tenant_id": 7, "idempotency_key": "k"}
    as_float = {"tenant_id": 7.0, "idempotency_key": "k"}
    assert scope_from_metadata(as_float).tenant == scope_from_metadata(as_int).tenant == "7"
    assert idempotency_key(as_float) == idempotency_key(as_int)
    assert Attribution.of(as_float).tenant == "7"


def _chain_call(tenant: Any, defaults: dict[str, Any] | None = None) -> tuple[Any, SpendGuard]:
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.langchain._budget import GuardedChatModel

    handler = CostCallbackHandler(ledger="memory://", defaults=defaults)
    guard = _guard()
    model = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=guard)
    model.invoke("Summarise the report.", config={"callbacks": [handler], "metadata": {"tenant_id": tenant}})
    (record,) = handler.records()
    return record, guard


def test_langchain_pandas_float_tenant_is_recorded_and_charged_as_the_int() -> None:
    record, guard = _chain_call(7.0)
    assert record.tenant == "7"
    assert guard.spent(guard.limits[0], "7") > 0
    assert guard.spent(guard.limits[0], "7.0") == 0


def test_langchain_nan_tenant_is_charged_where_it_is_recorded(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        record, guard = _chain_call(math.nan)
    assert record.tenant is None
    assert guard.spent(guard.limits[0], None) > 0
    assert guard.spent(guard.limits[0], "nan") == 0  # no pool the records do not show
    warned = [r for r in caplog.records if "tenant_id" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING


def test_a_dict_tenant_warns_once_without_its_value(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
        for _ in range(3):
            record, guard = _chain_call({"id": "s3cr3t-org"}, defaults={"tenant_id": "fallback"})
            assert record.tenant == "fallback"
    assert "s3cr3t" not in caplog.text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "tenant_id" in r.getMessage()]
    assert len(warnings) == 1


def test_langchain_tenants_with_different_undecodable_bytes_are_not_merged() -> None:
    first, _ = _chain_call("x\ud800")
    second, _ = _chain_call("x\udfff")
    # Both used to be recorded as "x\ufffd": one tenant in the reports.
    assert first.tenant is None and second.tenant is None


def test_litellm_float_and_nan_tenants_are_charged_where_they_are_recorded(
    litellm_clean: Any, openai_stub: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    guard = _guard()
    for tenant in (7.0, math.nan):
        guarded_completion(
            guard,
            model="openai/gpt-4o-mini",
            api_base=openai_stub.base,
            api_key="sk-test",
            messages=MSG,
            max_tokens=40,
            metadata={"tenant_id": tenant},
        )
    assert cl.flush(timeout=30)
    assert sorted(str(r.tenant) for r in cl.records()) == ["7", "None"]
    assert guard.spent(guard.limits[0], "7") > 0 and guard.spent(guard.limits[0], None) > 0
    assert guard.spent(guard.limits[0], "7.0") == 0 and guard.spent(guard.limits[0], "nan") == 0


def test_litellm_own_cache_is_skipped_for_an_unusable_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    import litellm

    from llm_cost_hooks.litellm._hooks import _namespace_litellm_cache

    monkeypatch.setattr(litellm, "cache", SimpleNamespace(namespace=None))
    nan: dict[str, Any] = {"metadata": {"tenant_id": math.nan}}
    _namespace_litellm_cache(nan)
    assert nan["cache"]["no-cache"] is True and nan["cache"]["no-store"] is True
    whole: dict[str, Any] = {"metadata": {"tenant_id": 7.0}}
    as_int: dict[str, Any] = {"metadata": {"tenant_id": 7}}
    _namespace_litellm_cache(whole)
    _namespace_litellm_cache(as_int)
    assert whole["cache"]["namespace"] == as_int["cache"]["namespace"]


def test_a_binding_accepts_the_same_tenant_spelled_as_a_float() -> None:
    md: dict[str, Any] = {"tenant_id": 7.0}
    _tenancy.bind_tenant([md], "7")
    assert md["tenant_id"] == "7"
    with pytest.raises(_tenancy.TenantRefused):
        _tenancy.bind_tenant([{"tenant_id": math.nan}], "7")


def test_cache_scope_tenant_is_read_as_metadata_is() -> None:
    from llm_cost_hooks.budget._call import Attribution
    from llm_cost_hooks.cache import cache_scope

    with cache_scope(tenant=7.0) as scope:
        assert scope.tenant == "7" and Attribution.of({}).tenant == "7"
    with pytest.raises(CacheScopeError, match=r"cache_scope\(tenant\)"), cache_scope(tenant="x\udcff"):
        pass  # the guard charged "x\udcff" while the record showed "x\ufffd"
    with cache_scope(tenant="") as scope:
        assert scope.tenant == ""  # its own partition, as before


def test_numpy_scalars_read_as_the_python_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert [tenant_text(v) for v in (np.int64(7), np.float64(7.0), np.float32(7.0))] == ["7", "7", "7"]
    for bad in (np.True_, np.float64("nan")):
        with pytest.raises(UnusableTenant):
            tenant_text(bad)
