"""The attribution memo is keyed by every metadata key attribution reads: two runs whose
metadata differ in any one of them never share a memoised attribution."""

import pytest

from llm_cost_hooks.tracking._attribution import ATTR_KEY_SET, AttributionResolver
from llm_cost_hooks.tracking._runs import Attribution


@pytest.mark.parametrize("key", sorted(ATTR_KEY_SET - {"cost_tags"}))
def test_every_attribution_key_changes_the_memoised_result(key: str) -> None:
    resolver = AttributionResolver("salt", strict=False)
    base = Attribution(feature="base")
    first = resolver.cached({key: "one", "ls_provider": "openai"}, base)
    second = resolver.cached({key: "two", "ls_provider": "openai"}, base)
    assert first != second
    # A repeat is served from the memo and equals a fresh resolve.
    again = resolver.cached({key: "one", "ls_provider": "openai"}, base)
    assert again is first
    assert again == resolver.resolve({key: "one"}, {}, base)


def test_cost_tags_resolve_without_the_memo() -> None:
    resolver = AttributionResolver("salt", strict=False)
    base = Attribution()
    a = resolver.cached({"cost_tags": {"team": "a"}}, base)
    b = resolver.cached({"cost_tags": {"team": "b"}}, base)
    assert a.tags == {"team": "a"} and b.tags == {"team": "b"}


def test_memo_is_per_base() -> None:
    resolver = AttributionResolver("salt", strict=False)
    meta = {"tenant_id": "acme"}
    one = resolver.cached(meta, Attribution(feature="f1"))
    two = resolver.cached(meta, Attribution(feature="f2"))
    assert (one.feature, two.feature) == ("f1", "f2")


def _rows_and_records(tags_by_call: list[dict[str, str]], usages: list[tuple[int, ...]]) -> list[tuple]:
    """(row, record_to_row(build())) of calls whose runs carry the given attribution tags."""
    from datetime import datetime, timezone

    from llm_cost_hooks import CostTracker
    from llm_cost_hooks.ledger._base import record_to_row
    from llm_cost_hooks.tracking._builder import RawCall
    from llm_cost_hooks.tracking._runs import RunInfo, RunKind

    tracker = CostTracker(ledger="memory://")
    builder = tracker._builder
    out = []
    attributions: dict[tuple, Attribution] = {}
    for i, (tags, counts) in enumerate(zip(tags_by_call, usages)):
        key = tuple(sorted(tags.items()))
        a = attributions.setdefault(key, Attribution(tenant="acme", tags=dict(tags)))
        run = RunInfo(
            f"r{i}",
            None,
            f"r{i}",
            RunKind.LLM,
            "m",
            datetime.now(timezone.utc),
            1,
            {},
            (),
            a,
            True,
            "gpt-4o-mini",
            "openai",
        )
        call = RawCall(run, counts, "gpt-4o-mini", 1000)
        row = builder.row(call, None)
        record = builder.build(RawCall(run, counts, "gpt-4o-mini", 1000))
        out.append((row, record_to_row(record)))
    tracker.close()
    return out


def test_rows_with_tags_equal_their_records() -> None:
    plain = (100, 10, 0, 0, 0)
    writes = (400, 10, 0, 300, 0)  # cache writes add the premium tag to the attribution's
    tags_a, tags_b = {"team": "support", "env": "prod"}, {"team": "search"}
    calls = [tags_a, tags_a, tags_b, tags_a, {}, tags_a, tags_b]
    usages = [plain, plain, plain, writes, plain, plain, writes]
    for row, expected in _rows_and_records(calls, usages):
        assert row == expected


def test_tags_changed_in_place_are_not_served_stale() -> None:
    from datetime import datetime, timezone

    from llm_cost_hooks import CostTracker
    from llm_cost_hooks.ledger._base import RECORD_COLUMNS
    from llm_cost_hooks.tracking._builder import RawCall
    from llm_cost_hooks.tracking._runs import RunInfo, RunKind

    tracker = CostTracker(ledger="memory://")
    a = Attribution(tags={"team": "support"})
    run = RunInfo(
        "r", None, "r", RunKind.LLM, "m", datetime.now(timezone.utc), 1, {}, (), a, True, "gpt-4o-mini"
    )
    col = RECORD_COLUMNS.index("tags")
    first = tracker._builder.row(RawCall(run, (10, 1, 0, 0, 0), "gpt-4o-mini", 5), None)
    a.tags["team"] = "search"
    second = tracker._builder.row(RawCall(run, (10, 1, 0, 0, 0), "gpt-4o-mini", 5), None)
    assert (first[col], second[col]) == ('{"team": "support"}', '{"team": "search"}')
    tracker.close()
