"""The cache's constructor options and ``cache_scope`` fields a user gets wrong: each is a
typed error at the call that named it, saying what to pass, instead of a cache that warns on
every call and stores nothing, keeps entries it never serves, or drops a misspelt tenant."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import Embeddings

from llm_cost_hooks._errors import CacheScopeError, ConfigurationError
from llm_cost_hooks.cache import CacheConfig
from llm_cost_hooks.langchain import SemanticCache, cache_scope


@pytest.mark.parametrize("ttl", [-5, 0, "1h", True, float("nan"), float("inf")])
def test_ttl_seconds_must_be_positive_seconds(ttl: object) -> None:
    with pytest.raises(ConfigurationError, match="ttl_seconds must be a number of seconds above 0"):
        SemanticCache(path=":memory:", semantic=False, ttl_seconds=ttl)  # type: ignore[arg-type]


def test_ttl_seconds_accepts_positive_numbers() -> None:
    assert SemanticCache(path=":memory:", semantic=False, ttl_seconds=0.5).core.config.ttl_seconds == 0.5
    assert (
        SemanticCache(path=":memory:", semantic=False, ttl_seconds=86_400).core.config.ttl_seconds == 86_400
    )


def test_config_given_as_a_dict_says_to_build_a_cache_config() -> None:
    with pytest.raises(ConfigurationError, match=r"CacheConfig\(\*\*your_dict\)"):
        SemanticCache(path=":memory:", semantic=False, config={"ttl_seconds": 60})  # type: ignore[arg-type]


def test_config_file_that_is_not_a_saved_config(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "cache_config.json"  # type: ignore[operator]
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not a saved CacheConfig"):
        CacheConfig.load(bad)
    bad.write_text('{"routes": {"faq": {"pair_threshold": "high"}}}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"routes\.faq.*pair_threshold"):
        SemanticCache(path=":memory:", config=bad)


class _Words(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


def test_embedder_that_is_not_one() -> None:
    with pytest.raises(ConfigurationError, match="LangChainEmbedder"):
        SemanticCache(path=":memory:", embedder=_Words())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="has no name, embed, embed_one"):
        SemanticCache(path=":memory:", embedder="all-MiniLM-L6-v2")  # type: ignore[arg-type]


def test_default_tenant_must_be_text() -> None:
    with pytest.raises(ConfigurationError, match="default_tenant must be text"):
        SemanticCache(path=":memory:", semantic=False, default_tenant={"id": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "problem"),
    [("localhost:6379", "has no scheme"), ("redis://:s3cret@cache:63790x", "port that is not a number")],
)
def test_redis_url_that_redis_cannot_read(url: str, problem: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(ConfigurationError, match=problem) as caught:
        SemanticCache(redis_url=url, semantic=False)
    assert "s3cret" not in str(caught.value)


def test_cache_scope_rejects_a_field_it_does_not_have() -> None:
    with (
        pytest.raises(CacheScopeError, match=r"no field 'tennant'.*tenant, user"),
        cache_scope(tennant="acme"),
    ):
        pass


def test_cache_scope_unusable_tenant_says_what_to_pass() -> None:
    with pytest.raises(CacheScopeError) as caught, cache_scope(tenant={"id": 7}):
        pass
    message = str(caught.value)
    assert "cache_scope(tenant='acme')" in message
    assert "metadata=" not in message and "bypasses" not in message  # it raised: no call was made


def test_report_bad_hit_with_an_unknown_id_changes_nothing() -> None:
    cache = SemanticCache(path=":memory:", semantic=False)
    before = cache.core.config.policy_for(None)
    with pytest.raises(ConfigurationError, match="neither a hit_id .* nor an entry"):
        cache.report_bad_hit("no-such-hit")
    assert cache.core.config.policy_for(None) == before  # the thresholds were not raised
    tightened = cache.report_bad_hit("no-such-hit", route="faq")  # a route named: tightened anyway
    assert tightened.threshold > before.threshold


@pytest.mark.parametrize(
    "option",
    [{"threshold": -0.5}, {"min_similarity": 1.5}, {"k": 0}, {"ttl_seconds": 0}, {"ttl_seconds": -60}],
)
def test_a_policy_value_out_of_range_is_refused(option: dict[str, float]) -> None:
    # threshold -0.5 would serve every candidate; k 0 or a TTL of 0 would never serve: all mistakes.
    from llm_cost_hooks.cache import DecisionPolicy

    (name,) = option
    with pytest.raises(ConfigurationError, match=rf"invalid DecisionPolicy: {name}"):
        DecisionPolicy(**option)
