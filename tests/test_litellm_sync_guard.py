"""A plain sync ``litellm.completion`` (and the sync Router) under ``CostHooksLogger(guard=)``:
no LiteLLM hook can stop it before it runs, so its recorded cost is charged to the guard
when it ends, on the tenant its record names; calls the logger or a wrapper already
reserved are not charged twice."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

MSG = [{"role": "user", "content": "Summarise the quarterly report in two lines."}]


def answer(litellm: Any, prompt: int = 1200, completion: int = 300) -> Any:
    """A ModelResponse with the usage a provider reports (for ``mock_response``)."""
    from litellm.types.utils import Usage

    return litellm.ModelResponse(
        model="gpt-4o-mini",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
    )


def logger_with_guard(litellm: Any, amount: float = 1.0, **kwargs: Any) -> tuple[Any, SpendGuard, list[Any]]:
    from llm_cost_hooks.litellm import CostHooksLogger

    events: list[Any] = []
    g = SpendGuard(
        [Limit.usd(amount, per="day", scope="tenant")],
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    cl = CostHooksLogger(ledger="memory://", guard=g, **kwargs)
    litellm.callbacks = [cl]
    return cl, g, events


def costs(cl: Any, prefix: str) -> float:
    return sum(r.cost_usd for r in cl.records() if r.task_id and r.task_id.startswith(prefix))


def test_plain_sync_completions_are_charged_to_the_guard(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean)
    for i in range(3):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=answer(litellm_clean),
            metadata={"tenant_id": "acme", "task_id": f"plain-{i}"},
        )
    assert cl.flush()
    records = [r for r in cl.records() if r.task_id and r.task_id.startswith("plain-")]
    assert len(records) == 3 and all(r.cost_usd > 0 for r in records)
    assert g.spent(g.limits[0], "acme") == pytest.approx(costs(cl, "plain-"), abs=1e-12)
    assert all(r.tags.get("budget.charged") == "after_call" for r in records)
    assert len(cl.holds) == 0


def test_calls_that_reserved_are_not_charged_twice(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    cl, g, _ = logger_with_guard(litellm_clean)
    cl.completion(
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=400,
        mock_response=answer(litellm_clean),
        metadata={"tenant_id": "acme", "task_id": "wrapped"},
    )
    guarded_completion(
        g,
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=400,
        mock_response=answer(litellm_clean),
        metadata={"tenant_id": "acme", "task_id": "guarded"},
    )
    assert cl.flush()
    [wrapped] = [r for r in cl.records() if r.task_id == "wrapped"]
    [guarded] = [r for r in cl.records() if r.task_id == "guarded"]
    assert "budget.charged" not in wrapped.tags and "budget.reserved_usd" in wrapped.tags
    assert "budget.charged" not in guarded.tags
    assert g.spent(g.limits[0], "acme") == pytest.approx(wrapped.cost_usd + guarded.cost_usd, abs=1e-12)


def test_a_sync_stream_is_charged_when_read_to_its_end(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean)
    stream = litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        stream=True,
        mock_response="A fairly long answer, streamed in several chunks to the caller.",
        metadata={"tenant_id": "acme", "task_id": "stream-1"},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "stream-1"]
    assert rec.success and rec.cost_usd > 0
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)


def test_a_sync_stream_let_go_part_way_is_charged_what_it_delivered(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean)
    stream = litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        stream=True,
        mock_response="word " * 200,
        metadata={"tenant_id": "acme", "task_id": "cut-1"},
    )
    for _ in stream:
        break
    del stream
    gc.collect()
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "cut-1"]
    assert not rec.success and rec.cost_usd > 0 and rec.tags.get("stream.outcome") == "cancelled"
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)
    assert len(cl.holds) == 0


def test_a_failed_sync_call_is_charged_nothing(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean)
    with pytest.raises(Exception, match="provider down"):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=Exception("provider down"),
            metadata={"tenant_id": "acme", "task_id": "failed-1"},
        )
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "failed-1"]
    assert not rec.success
    assert g.spent(g.limits[0], "acme") == 0.0  # released, as a reserved call's hold is
    assert len(cl.holds) == 0


def test_a_sync_router_call_is_charged_once(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean)
    router = litellm_clean.Router(
        model_list=[
            {
                "model_name": "support",
                "litellm_params": {"model": "gpt-4o-mini", "mock_response": answer(litellm_clean)},
            }
        ]
    )
    router.completion(model="support", messages=MSG, metadata={"tenant_id": "acme", "task_id": "router-1"})
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "router-1"]
    assert rec.cost_usd > 0
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)


def test_a_cache_hit_is_charged_nothing(litellm_clean: Any) -> None:
    from litellm.caching.caching import Cache

    cl, g, _ = logger_with_guard(litellm_clean)
    litellm_clean.cache = Cache()  # in memory
    for i in range(2):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=answer(litellm_clean),
            caching=True,
            metadata={"tenant_id": "acme", "task_id": f"cached-{i}"},
        )
    assert cl.flush()
    [first] = [r for r in cl.records() if r.task_id == "cached-0"]
    # A hit has no pre-call event for flush() to wait on: its record comes on LiteLLM's pool.
    deadline = time.monotonic() + 30
    while not [r for r in cl.records() if r.task_id == "cached-1"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cl.flush()
    [hit] = [r for r in cl.records() if r.task_id == "cached-1"]
    assert hit.cache_status.value != "miss" and hit.cost_usd == 0.0
    assert g.spent(g.limits[0], "acme") == pytest.approx(first.cost_usd, abs=1e-12)


def test_the_charge_goes_to_the_tenant_the_record_names(litellm_clean: Any) -> None:
    cl, g, _ = logger_with_guard(litellm_clean, defaults={"tenant_id": "acme"})
    litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        mock_response=answer(litellm_clean),
        metadata={"task_id": "t-default"},
    )
    litellm_clean.completion(
        model="gpt-4o-mini",
        messages=MSG,
        mock_response=answer(litellm_clean, prompt=500),
        metadata={"tenant_id": "globex", "task_id": "t-named"},
    )
    assert cl.flush()
    [default] = [r for r in cl.records() if r.task_id == "t-default"]
    [named] = [r for r in cl.records() if r.task_id == "t-named"]
    assert (default.tenant, named.tenant) == ("acme", "globex")
    assert g.spent(g.limits[0], "acme") == pytest.approx(default.cost_usd, abs=1e-12)
    assert g.spent(g.limits[0], "globex") == pytest.approx(named.cost_usd, abs=1e-12)
    assert g.spent(g.limits[0], None) == 0.0  # the no-tenant pool


def test_crossing_the_limit_alerts_and_the_next_reserving_call_is_refused(litellm_clean: Any) -> None:
    # Each call costs $0.00036 (1,200 in + 300 out of gpt-4o-mini): the 4th passes $0.0012.
    cl, g, events = logger_with_guard(litellm_clean, amount=0.0012)
    for i in range(4):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=answer(litellm_clean),
            metadata={"tenant_id": "acme", "task_id": f"over-{i}"},
        )
    assert cl.flush()
    assert g.spent(g.limits[0], "acme") == pytest.approx(costs(cl, "over-"), abs=1e-12)
    thresholds = sorted(e.threshold for e in events if e.kind == "threshold")
    assert thresholds == [0.5, 0.8, 1.0]
    assert [e.reason for e in events if e.kind == "overspend"] == ["over_limit"]
    with pytest.raises(BudgetExceeded):
        cl.completion(
            model="gpt-4o-mini",
            messages=MSG,
            max_tokens=10,
            mock_response="refused before it is sent",
            metadata={"tenant_id": "acme", "task_id": "refused"},
        )


async def test_aguarded_completion_on_the_logger_guard_is_reserved_once(litellm_clean: Any) -> None:
    """The async wrapper reserves and settles itself: the logger's pre-call hook, which
    runs for every ``acompletion``, does not reserve it a second time on the same guard."""
    from llm_cost_hooks.litellm import aguarded_completion

    cl, g, _ = logger_with_guard(litellm_clean)
    await aguarded_completion(
        g,
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=400,
        mock_response=answer(litellm_clean),
        metadata={"tenant_id": "acme", "task_id": "async-guarded"},
    )
    assert await cl.aflush()
    [rec] = [r for r in cl.records() if r.task_id == "async-guarded"]
    assert rec.cost_usd > 0
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)
    assert g.usage(g.limits[0], "acme")[1] == 0.0  # nothing left held


def test_a_sync_embedding_is_charged(litellm_clean: Any) -> None:
    """A mocked embedding gets no pre-call event from LiteLLM: charged from its end event."""
    cl, g, _ = logger_with_guard(litellm_clean)
    litellm_clean.embedding(
        model="text-embedding-3-small",
        input=["the quarterly report, in full " * 40],
        mock_response=[0.1, 0.2, 0.3],
        metadata={"tenant_id": "acme", "task_id": "embed-1"},
    )
    deadline = time.monotonic() + 30  # no pre-call event for flush() to wait on
    while not [r for r in cl.records() if r.task_id == "embed-1"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "embed-1"]
    assert rec.cost_usd > 0 and rec.tags.get("budget.charged") == "after_call"
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-15)


@pytest.mark.redis
def test_sync_calls_are_charged_on_a_shared_redis_store(litellm_clean: Any, redis_clean_url: str) -> None:
    """Another guard on the same Redis store (another worker) sees the charge; no hold was made."""
    from llm_cost_hooks.litellm import CostHooksLogger

    g = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant")], store=redis_clean_url, alerts=AlertManager(log=False)
    )
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    for i in range(2):
        litellm_clean.completion(
            model="gpt-4o-mini",
            messages=MSG,
            mock_response=answer(litellm_clean),
            metadata={"tenant_id": "acme", "task_id": f"redis-{i}"},
        )
    assert cl.flush()
    other = SpendGuard([Limit.usd(1.0, per="day", scope="tenant")], store=redis_clean_url)
    assert other.spent(other.limits[0], "acme") == pytest.approx(costs(cl, "redis-"), abs=1e-12)
    assert other.usage(other.limits[0], "acme")[1] == 0.0  # nothing held
