"""An embedder that cannot load or fails per call skips the semantic tier only: exact hits
are served and stored under the same keys as with a working embedder."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, EmbeddedBackend
from llm_cost_hooks.embeddings import _onnx, default_embedder
from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

SIM = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)
ACME = {"metadata": {"tenant_id": "acme"}}


class Flaky:
    """The default embedder, raising while ``broken`` (an embedding service that is down)."""

    def __init__(self, name: str | None = None) -> None:
        self.inner = default_embedder()
        self.name = name or self.inner.name
        self.dim = self.inner.dim
        self.broken = False
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        if self.broken:
            raise TimeoutError("embedding service down for 'When will my card arrive?'")
        return self.inner.embed(texts)

    def embed_one(self, text: str) -> Any:
        return self.embed([text])[0]


def _break_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LLM_COST_HOOKS_EMBEDDING_MODEL_PATH naming a corrupt model file, as in a process that
    has not loaded the default embedder yet."""
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx model")
    monkeypatch.setenv("LLM_COST_HOOKS_EMBEDDING_MODEL_PATH", str(bad))
    monkeypatch.setattr(_onnx, "_defaults", {})
    return bad


@pytest.fixture
def bad_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield _break_model_path(tmp_path, monkeypatch)


def _ask(cache: SemanticCache, prompts: list[str], responses: list[str]) -> list[str]:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=responses)
    set_llm_cache(cache)
    try:
        return [str(model.invoke(p, config=ACME).content) for p in prompts]
    finally:
        set_llm_cache(None)


@pytest.mark.parametrize("store", ["embedded", "redis"])
def test_exact_hits_are_served_when_the_embedder_model_does_not_load(
    store: str,
    bad_model_path: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    # Before: every call went to the model ("cache lookup failed" on each), answers a, b, c.
    if store == "redis":
        url = request.getfixturevalue("redis_clean_url")
        cache = SemanticCache(redis_url=url, redis_prefix="embedfail")
    else:
        cache = SemanticCache(path=str(tmp_path / "cache.db"))
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
        answers = _ask(cache, ["When will my card arrive?"] * 3, ["a", "b", "c"])
    assert answers == ["a", "a", "a"]
    stats = cache.stats
    assert (stats.exact_hits, stats.misses, stats.writes) == (2, 1, 1)
    assert stats.embedder_errors == 2  # the miss's lookup and its write skipped the semantic tier
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR  # said once, not per call
    message = errors[0].getMessage()
    assert str(bad_model_path) in message and "Exact hits are still served" in message
    assert "card" not in caplog.text


def test_an_embedder_that_raises_is_said_once_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: a warning per lookup ("cache lookup failed (TimeoutError)") and per write, the
    # failed lookups not counted as misses, nothing counting the skipped semantic tier.
    flaky = Flaky()
    flaky.broken = True
    cache = SemanticCache(path=str(tmp_path / "cache.db"), embedder=flaky)
    prompts = ["When will my card arrive?", "How do I reset my PIN?"] * 3
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
        answers = _ask(cache, prompts, ["card", "pin", "x", "y"])
    assert answers == ["card", "pin"] * 3
    stats = cache.stats
    assert (stats.lookups, stats.exact_hits, stats.misses, stats.writes) == (6, 4, 2, 2)
    assert stats.embedder_errors == 4  # two lookups, two writes
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert "TimeoutError" in said[0].getMessage() and "stats.embedder_errors" in said[0].getMessage()
    assert "card" not in caplog.text  # the embedder's message quotes the text: not logged


def test_the_exact_key_does_not_depend_on_the_embedder_or_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the key hashed the embedder's name (no key at all when it could not load), so
    # entries written with the embedder broken or semantic=False were never exact hits later.
    scope = CacheScope(tenant="acme", route="faq")
    args = {"llm_string": "gpt-4o-mini", "context": "system: bank bot", "scope": scope}
    working = CacheCore(EmbeddedBackend(), embedder=Flaky())
    other_model = CacheCore(EmbeddedBackend(), embedder=Flaky(name="another-model"))
    _break_model_path(tmp_path, monkeypatch)
    unloadable = CacheCore(EmbeddedBackend())  # the default embedder, from the bad path
    plain = CacheCore(EmbeddedBackend(), semantic=False)
    reqs = [c.request("When will my card arrive?", **args) for c in (working, other_model, unloadable, plain)]
    assert len({r.exact_key for r in reqs}) == 1
    # The semantic partition still names the embedder: two models' vectors are never compared.
    assert reqs[0].partition != reqs[1].partition
    assert (reqs[2].semantic, reqs[2].embedder_unavailable) == (False, True)
    # Nor is anything shared across tenants.
    globex = working.request("When will my card arrive?", **{**args, "scope": CacheScope(tenant="globex")})
    assert globex.exact_key != reqs[0].exact_key and globex.partition != reqs[0].partition


def test_entries_written_with_a_broken_embedder_are_exact_hits_once_it_works(
    bad_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "cache.db")
    assert _ask(SemanticCache(path=db), ["When will my card arrive?"], ["written-broken"]) == [
        "written-broken"
    ]
    # Fixed (another process, a working embedder): the entry is an exact hit ...
    monkeypatch.undo()  # the real model file again
    flaky = Flaky()
    fixed = SemanticCache(path=db, embedder=flaky)
    prompts = ["When will my card arrive?", "How do I reset my PIN?"]
    assert _ask(fixed, prompts, ["written-working", "x"]) == ["written-broken", "written-working"]
    assert fixed.stats.exact_hits == 1
    # ... and what it wrote is one while the embedder is down again.
    flaky.broken = True
    assert _ask(fixed, prompts[::-1], ["x", "y"]) == ["written-working", "written-broken"]
    assert fixed.stats.exact_hits == 3 and fixed.stats.embedder_errors == 0  # exact hits embed nothing


def test_the_semantic_tier_resumes_when_the_embedder_answers_again(tmp_path: Path) -> None:
    flaky = Flaky()
    cache = SemanticCache(path=str(tmp_path / "cache.db"), embedder=flaky, config=CacheConfig(default=SIM))
    assert _ask(cache, ["How do I reset my PIN?"], ["reset-pin"]) == ["reset-pin"]
    flaky.broken = True
    # Down: a paraphrase misses (semantic tier skipped), the exact repeat still hits.
    assert _ask(cache, ["How can I reset my PIN?", "How do I reset my PIN?"], ["paid", "x"]) == [
        "paid",
        "reset-pin",
    ]
    assert cache.stats.semantic_hits == 0 and cache.stats.embedder_errors == 2
    flaky.broken = False
    # Back: the next paraphrase is a semantic hit of the entry written with a vector.
    assert _ask(cache, ["How could I reset my PIN?"], ["not-served"]) == ["reset-pin"]
    assert cache.stats.semantic_hits == 1 and cache.stats.embedder_errors == 2


def test_a_vector_of_one_embedder_is_never_compared_with_another_ones(tmp_path: Path) -> None:
    db = str(tmp_path / "cache.db")
    first = SemanticCache(path=db, embedder=Flaky(), config=CacheConfig(default=SIM))
    assert _ask(first, ["How do I reset my PIN?"], ["reset-pin"]) == ["reset-pin"]
    renamed = SemanticCache(path=db, embedder=Flaky(name="another-model"), config=CacheConfig(default=SIM))
    # Same vectors, another name: the paraphrase is not searched among the first one's vectors,
    # while the exact repeat (no vector involved) is served.
    assert _ask(renamed, ["How can I reset my PIN?", "How do I reset my PIN?"], ["own", "x"]) == [
        "own",
        "reset-pin",
    ]
    assert renamed.stats.semantic_hits == 0 and renamed.stats.exact_hits == 1


@pytest.mark.parametrize("store", ["embedded", "redis"])
def test_an_entry_stored_under_the_earlier_exact_key_is_still_an_exact_hit(
    store: str, request: pytest.FixtureRequest
) -> None:
    # Entries of a cache written before the exact key left out the embedder: the same
    # partition and question, under the key that named the embedder.
    from llm_cost_hooks.cache._scope import digest

    if store == "redis":
        from llm_cost_hooks.cache import RedisBackend

        backend: Any = RedisBackend(request.getfixturevalue("redis_clean_url"), prefix="embedfail")
    else:
        backend = EmbeddedBackend()
    core = CacheCore(backend, embedder=Flaky(), config=CacheConfig(default=SIM))
    scope = CacheScope(tenant="acme")
    req = core.request("When will my card arrive?", llm_string="m", scope=scope)
    req.exact_key = digest(req.partition, req.normalized)  # the earlier key
    core.update(req, "stored-before")
    hit = core.lookup(core.request("when will my card arrive?", llm_string="m", scope=scope))
    assert hit is not None and (hit.status, hit.entry.answer) == ("exact", "stored-before")
    # Only in its own partition, and only for its own question.
    assert (
        core.lookup(core.request("When will my card arrive?", llm_string="m", scope=CacheScope(tenant="b")))
        is None
    )
    near = core.lookup(core.request("When will my card arrive today?", llm_string="m", scope=scope))
    assert near is None or near.status == "semantic"
    assert core.stats.exact_hits == 1


def test_an_embedder_failing_call_after_call_rests_then_is_probed(tmp_path: Path) -> None:
    # Before: a failing embedder (a remote one timing out) was called, and waited for, on
    # every lookup and write.
    flaky = Flaky()
    flaky.broken = True
    cache = SemanticCache(path=str(tmp_path / "cache.db"), embedder=flaky, config=CacheConfig(default=SIM))
    now = [0.0]
    cache.core._embed_breaker.clock = lambda: now[0]
    questions = [f"What is the fee for transfer number {i}?" for i in range(6)]
    assert _ask(cache, questions, [f"fee-{i}" for i in range(6)]) == [f"fee-{i}" for i in range(6)]
    assert flaky.calls == 3  # 12 lookups and writes; after 3 failures in a row it rests
    assert cache.stats.embedder_errors == 12 and cache.stats.writes == 6
    flaky.broken = False
    now[0] = 11.0  # past the rest: one call probes it, and it answers
    assert _ask(cache, ["How do I reset my PIN?", "How can I reset my PIN?"], ["reset-pin", "x"]) == [
        "reset-pin",
        "reset-pin",
    ]
    assert cache.stats.semantic_hits == 1 and cache.stats.embedder_errors == 12
