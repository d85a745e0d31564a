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
