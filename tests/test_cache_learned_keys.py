"""``CacheConfig(learn_answer_keys=True)``: free-text answers checked equal on a miss share an
answer key, so the neighbourhood path can serve them; a sparse cache stays strict."""

from __future__ import annotations

import math

import pytest

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
from llm_cost_hooks.embeddings import default_embedder

PIN = [
    "How do I reset my PIN?",
    "How can I reset my PIN?",
    "How do I reset my PIN code?",
    "How can I reset my card PIN?",
    "I want to reset my PIN",
]
NEXT = "Can I reset my PIN?"


@pytest.fixture(scope="module")
def embedder():
    return default_embedder()


def _core(embedder, *, learn: bool = True, judge=None) -> CacheCore:
    return CacheCore(
        EmbeddedBackend(),
        embedder=embedder,
        # Verification off: with a check of yours it would send a random 5 % of would-be hits
        # to the model, and these tests count hits exactly.
        config=CacheConfig(audit_sample_rate=0.0, learn_answer_keys=learn, verify_share=0.0),
        equivalence=judge,
    )


def _req(core: CacheCore, q: str, tenant: str = "t"):
    return core.request(q, llm_string="m", scope=CacheScope(tenant=tenant))


def _stream(core: CacheCore, questions: list[str], answer) -> list[object]:
    """Look each question up; on a miss store the model's answer ``answer(i)``."""
    entries = []
    for i, q in enumerate(questions):
        req = _req(core, q)
        if core.lookup(req) is None:
            entries.append(core.update(req, answer(i)))
    return entries


def same_judge(new: str, old: str) -> bool:
    return new.startswith("Reset:") and old.startswith("Reset:")


def test_agreeing_free_text_answers_share_a_key_and_are_then_served(embedder) -> None:
    core = _core(embedder, judge=same_judge)
    entries = _stream(core, PIN, lambda i: f"Reset: wording number {i} of the same instructions.")
    # The first three miss (a lone answer, then two agreeing ones, are not enough evidence);
    # each miss's answer was checked equal, so all three share a key and the rest are served.
    assert len(entries) == 3 and len({e.answer_key for e in entries}) == 1
    assert core.stats.keys_learned == 2 and core.stats.semantic_hits == len(PIN) - 3
    hit = core.lookup(_req(core, NEXT))
    assert hit is not None and hit.status == "semantic"


def test_without_learning_or_with_disagreeing_answers_nothing_is_served(embedder) -> None:
    for core in (_core(embedder, learn=False, judge=same_judge), _core(embedder, judge=lambda a, b: False)):
        entries = _stream(core, PIN, lambda i: f"Reset: wording number {i} of the same instructions.")
        assert len({e.answer_key for e in entries}) == len(PIN)
        assert core.lookup(_req(core, NEXT)) is None


def test_cold_start_a_learned_key_alone_serves_nothing(embedder) -> None:
    # One stored question and one agreeing answer: two entries, one key. The neighbourhood
    # path needs more agreeing neighbours than that, so the sparse cache stays strict.
    core = _core(embedder, judge=same_judge)
    entries = _stream(core, PIN[:2], lambda i: f"Reset: wording {i}.")
    assert entries[0].answer_key == entries[1].answer_key
    assert core.lookup(_req(core, NEXT)) is None


def test_contrast_and_scope_block_learning(embedder) -> None:
    core = _core(embedder, judge=lambda a, b: True)  # a judge that agrees with everything
    _stream(core, ["How do I block my card?"], lambda i: "Answer A")
    (unblock,) = _stream(core, ["How do I unblock my card?"], lambda i: "Answer B")
    assert core.stats.keys_learned == 0 and core.stats.keys_refused == 1  # negation: not merged
    assert unblock.answer_key != core.lookup(_req(core, "How do I block my card?")).entry.answer_key
    other = core.update(_req(core, "How do I block my card please?", tenant="other"), "Answer A")
    assert core.stats.keys_learned == 0 and other is not None  # another partition never looks here


def test_a_failing_judge_is_a_disagreement(embedder) -> None:
    def broken(new: str, old: str) -> bool:
        raise RuntimeError("judge down")

    core = _core(embedder, judge=broken)
    entries = _stream(core, PIN[:3], lambda i: f"Reset: {i}")
    assert len({e.answer_key for e in entries}) == 3 and core.stats.keys_refused == 2


def test_an_explicit_answer_key_wins(embedder) -> None:
    core = _core(embedder, judge=same_judge)
    _stream(core, PIN[:1], lambda i: "Reset: a")
    req = _req(core, PIN[1])
    assert core.lookup(req) is None
    assert core.update(req, "Reset: b", answer_key="faq-7").answer_key == "faq-7"


def _keyed_core(judge) -> CacheCore:
    """Two stored groups under different keys, looked up with hand-made unit vectors (no model)."""
    from llm_cost_hooks.embeddings import CallableEmbedder

    table: dict[str, list[float]] = {}

    def vec(texts: list[str]) -> list[list[float]]:
        return [table[t] for t in texts]

    core = CacheCore(
        EmbeddedBackend(),
        embedder=CallableEmbedder(vec, name="table", dim=3),
        config=CacheConfig(audit_sample_rate=0.0, learn_answer_keys=True, verify_share=0.0),
        equivalence=judge,
    )
    core._table = table  # type: ignore[attr-defined]
    return core


def _put(core: CacheCore, text: str, v: list[float], answer: str, key: str | None = None):
    core._table[text] = v  # type: ignore[attr-defined]
    req = _req(core, text)
    hit = core.lookup(req)
    return hit if hit is not None else core.update(req, answer, answer_key=key)


def test_classes_merge_only_after_two_misses_find_them_equal() -> None:
    # Answers starting with "pin" all say the same; keys "a" and "b" were stored apart.
    core = _keyed_core(lambda new, old: new.startswith("pin") and old.startswith("pin"))
    a, b = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    _put(core, "reset my pin", a, "pin: one", key="a")
    _put(core, "reset the pin", b, "pin: two", key="b")
    # A miss halfway between agrees with both: one vote, no merge yet.
    _put(core, "pin reset please", [0.72, 0.69, 0.0], "pin: three")
    assert core.stats.keys_merged == 0 and core._key_class("a") != core._key_class("b")
    _put(core, "please reset pin", [0.69, 0.72, 0.0], "pin: four")
    assert core.stats.keys_merged == 1 and core._key_class("b") == core._key_class("a")
    assert core._key_class("b") == core._key_class("a") and core._key_parent.get("a") != "a"
    assert core.stats.equivalence_checks == 4


def test_a_judge_that_never_agrees_merges_nothing() -> None:
    core = _keyed_core(lambda new, old: False)
    _put(core, "reset my pin", [1.0, 0.0, 0.0], "pin: one", key="a")
    _put(core, "reset the pin", [0.0, 1.0, 0.0], "pin: two", key="b")
    for i, v in enumerate(([0.72, 0.69, 0.0], [0.69, 0.72, 0.0], [0.7, 0.7, 0.1])):
        _put(core, ("reset pin now", "reset pin", "pin reset now")[i], v, f"pin: {i}")
    assert core.stats.keys_merged == 0 and core.stats.keys_learned == 0


def test_key_classes_follow_chains_and_stay_stable() -> None:
    core = _keyed_core(lambda new, old: True)
    core._key_parent.update({"c": "b", "b": "a"})
    assert [core._key_class(k) for k in ("c", "b", "a", "c", "x")] == ["a", "a", "a", "a", "x"]
    assert core._key_parent == {"c": "a", "b": "a"}  # compressed, and no key points at itself


ALARM_7 = ["set an alarm for 7 am", "set my alarm for 7 am", "set alarm for 7 am", "set an alarm at 7 am"]


def _alarms(core: CacheCore, nearest: str) -> None:
    """Four "7 am" questions under one key, and ``nearest`` (its own key) closest to the query."""
    rows = [
        (q, [1.0, 0.02 * (i + 1), 0.0], f"Alarm set: 7 am ({i}).", "seven") for i, q in enumerate(ALARM_7)
    ]
    for q, v, answer, key in [*rows, (nearest, [1.0, 0.001, 0.0], "Alarm set.", "other")]:
        core._table[q] = v  # type: ignore[attr-defined]
        core.update(_req(core, q), answer, answer_key=key)  # stored as they are, no lookup


def test_a_nearest_question_told_apart_gives_way_to_the_next_one() -> None:
    core = _keyed_core(lambda new, old: False)
    _alarms(core, "set an alarm for 7:30 am")  # nearest, but another time
    core._table["set the alarm for 7 am"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    hit = core.lookup(_req(core, "set the alarm for 7 am"))
    assert hit is not None and hit.entry.query in ALARM_7 and hit.entry.answer_key == "seven"
    assert core.stats.contrast_vetoes == 0


def test_the_next_one_must_pass_the_checks_too_and_without_learning_the_nearest_decides() -> None:
    core = _keyed_core(lambda new, old: False)
    _alarms(core, "set an alarm for 7:30 am")
    # The next nearest ("set an alarm for 7 am") is told apart as well (another time): a miss.
    core._table["set an alarm for 8 am"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    assert core.lookup(_req(core, "set an alarm for 8 am")) is None
    assert core.stats.contrast_vetoes == 1
    # Without learned keys only the nearest stored question is a candidate.
    core.config = core.config.model_copy(update={"learn_answer_keys": False})
    core._table["set the alarm for 7 am"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    assert core.lookup(_req(core, "set the alarm for 7 am")) is None
    assert core.stats.contrast_vetoes == 2


def _at(cos: float) -> list[float]:
    """A unit vector at cosine ``cos`` to the query vector ``[1, 0, 0]``."""
    return [cos, (1.0 - cos * cos) ** 0.5, 0.0]


QUERY = "set the alarm for 7 am"
CANDIDATE = "set an alarm for 7 am"


def _crowded(core: CacheCore, agreeing: list[str]) -> None:
    """The nearest stored question has the request's answer (key "seven", with two more of its
    key further out), but two stored questions in between ask for other times (keys of their own)."""
    rows = [
        (CANDIDATE, 0.99, "seven"),
        ("set the alarm for 8 am", 0.985, "eight"),
        ("set the alarm for 9 am", 0.984, "nine"),
        (agreeing[0], 0.98, "seven"),
        (agreeing[1], 0.97, "seven"),
    ]
    for q, cos, key in rows:
        core._table[q] = _at(cos)  # type: ignore[attr-defined]
        core.update(_req(core, q), f"answer of {key}", answer_key=key)
    core._table[QUERY] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]


def test_neighbours_told_apart_from_the_request_do_not_count_against_its_candidate() -> None:
    core = _keyed_core(lambda new, old: False)
    _crowded(core, ["set my alarm for 7 am", "set alarm for 7 am please"])
    # With them, the margin to another answer is too thin to serve; "8 am" and "9 am" have
    # other answers because of their times, which says nothing about "7 am".
    hit = core.lookup(_req(core, QUERY))
    assert hit is not None and hit.entry.query == CANDIDATE and hit.score >= core.config.default.threshold
    # Without learned keys the neighbourhood is taken as it is: a miss.
    core.config = core.config.model_copy(update={"learn_answer_keys": False})
    core._table["set the alarm for 7 am now"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    assert core.lookup(_req(core, "set the alarm for 7 am now")) is None


def test_neighbours_told_apart_are_dropped_whole_never_counted_as_agreeing() -> None:
    # The two other "seven" entries are told apart from the request too (a weekday it does not
    # name): once dropped, the candidate has no agreeing neighbour left and the request misses.
    core = _keyed_core(lambda new, old: False)
    _crowded(core, ["set an alarm for 7 am on Monday", "set an alarm for 7 am on Friday"])
    assert core.lookup(_req(core, QUERY)) is None


def test_a_class_whose_answer_was_checked_different_nearby_keeps_its_neighbourhood() -> None:
    core = _keyed_core(lambda new, old: False)  # every answer is checked different
    core._table[CANDIDATE] = _at(0.99)  # type: ignore[attr-defined]
    core.update(_req(core, CANDIDATE), "answer of seven", answer_key="seven")
    # A miss right next to the candidate whose answer the check calls different: the "seven"
    # class has been wrong at similarity 1.0, so it gets no help from dropping neighbours below it.
    core._table["set an alarm for 7 am please"] = _at(0.99)  # type: ignore[attr-defined]
    req = _req(core, "set an alarm for 7 am please")
    assert core.lookup(req) is None
    core.update(req, "another answer")
    assert core._class_floor[core._key_class("seven")] == pytest.approx(1.0)
    _crowded(core, ["set my alarm for 7 am", "set alarm for 7 am now"])
    assert core.lookup(_req(core, QUERY)) is None


def test_the_second_look_fetches_neighbours_a_backend_returns_without_their_entries() -> None:
    # Redis returns ids, similarities and answer keys only: the entries are fetched to be checked.
    from llm_cost_hooks.cache import Neighbor

    class IdsOnly(EmbeddedBackend):
        def search(self, partition, vec, k):  # type: ignore[no-untyped-def]
            return [
                Neighbor(n.entry_id, n.similarity, n.answer_key) for n in super().search(partition, vec, k)
            ]

    for crowd, served in (
        (["set my alarm for 7 am", "set alarm for 7 am please"], True),
        (["set an alarm for 7 am on Monday", "set an alarm for 7 am on Friday"], False),
    ):
        core = _keyed_core(lambda new, old: False)
        core.backend = IdsOnly()
        _crowded(core, crowd)
        hit = core.lookup(_req(core, QUERY))
        assert (hit is not None and hit.entry.query == CANDIDATE) if served else hit is None


def test_the_second_look_fetches_the_neighbours_in_one_call_where_the_backend_can() -> None:
    from llm_cost_hooks.cache import Neighbor

    calls: list[tuple[str, int]] = []

    class IdsOnlyBatched(EmbeddedBackend):
        fail = False

        def search(self, partition, vec, k):  # type: ignore[no-untyped-def]
            return [
                Neighbor(n.entry_id, n.similarity, n.answer_key) for n in super().search(partition, vec, k)
            ]

        def get(self, entry_id):  # type: ignore[no-untyped-def]
            calls.append(("get", 1))
            return super().get(entry_id)

        def get_many(self, entry_ids):  # type: ignore[no-untyped-def]
            calls.append(("get_many", len(entry_ids)))
            if self.fail:
                raise ConnectionError("down")
            return [super(IdsOnlyBatched, self).get(i) for i in entry_ids]

    core = _keyed_core(lambda new, old: False)
    core.backend = IdsOnlyBatched()
    _crowded(core, ["set my alarm for 7 am", "set alarm for 7 am please"])
    calls.clear()
    hit = core.lookup(_req(core, QUERY))
    assert hit is not None and hit.entry.query == CANDIDATE
    # The candidate, then its 4 neighbours in one call.
    assert calls == [("get", 1), ("get_many", 4)]
    # A failing batch fetch is a backend error: the neighbours stay counted, so no serve.
    core.backend.fail = True  # type: ignore[attr-defined]
    core._table["set the alarm for 7 am now"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    assert core.lookup(_req(core, "set the alarm for 7 am now")) is None
    assert core.stats.errors == 1


def test_learning_is_on_by_default_only_with_a_check_of_your_own() -> None:
    def core(judge=None, **cfg) -> CacheCore:  # type: ignore[no-untyped-def]
        return CacheCore(EmbeddedBackend(), config=CacheConfig(**cfg), equivalence=judge, semantic=False)

    def judge(new: str, old: str) -> bool:
        return new == old

    assert CacheConfig().learn_answer_keys is None
    assert not core().learning
    assert core(judge).learning  # a check of yours turns verification on (5 %)
    assert not core(judge, verify_share=0.0).learning  # a check but verification turned off
    assert not core(verify_share=0.1).learning  # verification with the default word-overlap check
    assert core(judge, verify_share=0.1).learning
    assert not core(judge, verify_share=0.1, learn_answer_keys=False).learning
    assert core(learn_answer_keys=True).learning
    c = core(verify_share=0.1)
    c.equivalence = judge  # set later, as the docs show
    assert c.learning


def _ring(core: CacheCore, cos: float, n: int = 4) -> None:
    """``n`` stored questions under one key, all at cosine ``cos`` to the query ``[1, 0, 0]``."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    for i, word in enumerate(words[:n]):
        ang, s = 0.3 * i, (1.0 - cos * cos) ** 0.5
        core._table[f"stored question {word}"] = [cos, s * math.cos(ang), s * math.sin(ang)]  # type: ignore[attr-defined]
        core.update(_req(core, f"stored question {word}"), "the answer", answer_key="k")
    core._table["the request"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]


def test_learned_keys_serve_only_above_their_own_similarity_bar() -> None:
    core = _keyed_core(lambda new, old: True)
    _ring(core, 0.76, n=10)  # the whole neighbourhood: without learning, fewer count as other answers
    bar = core.config.learned_min_similarity
    assert bar > 0.76
    assert core.lookup(_req(core, "the request")) is None
    # The same store without learning (keyed answers): under the neighbourhood path's own
    # floor (``settled_min_similarity``, 0.8) too; with that floor lowered, the neighbourhood serves it.
    core.config = core.config.model_copy(update={"learn_answer_keys": False})
    assert core.lookup(_req(core, "the request")) is None
    lowered = core.config.default.model_copy(update={"settled_min_similarity": 0.5})
    core.config = core.config.model_copy(update={"default": lowered})
    assert core.lookup(_req(core, "the request")) is not None
    core.config = core.config.model_copy(update={"learn_answer_keys": True, "learned_min_similarity": 0.7})
    assert core.lookup(_req(core, "the request")) is not None


def test_a_verified_answer_that_agrees_joins_the_class_it_was_checked_against() -> None:
    core = _keyed_core(lambda new, old: new.startswith("pin") and old == "the answer")
    core.config = core.config.model_copy(update={"verify_share": 1.0})
    _ring(core, 0.95)
    req = _req(core, "the request")
    assert core.lookup(req) is None and core.stats.verifications == 1  # sent to the model
    entry = core.update(req, "pin: the same answer in other words")
    assert req.verified == "agree" and entry is not None and core._key_class(entry.answer_key) == "k"
    # A disagreeing one keeps its own key.
    core._table["another request"] = [1.0, 0.0, 0.0]  # type: ignore[attr-defined]
    req2 = _req(core, "another request")
    assert core.lookup(req2) is None
    entry2 = core.update(req2, "something else")
    assert req2.verified == "disagree" and entry2 is not None and core._key_class(entry2.answer_key) != "k"


def test_the_cache_adapters_take_the_equivalence_check() -> None:
    from llm_cost_hooks.langchain import SemanticCache
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    def judge(new: str, old: str) -> bool:
        return new == old

    config = CacheConfig(verify_share=0.05)
    for cls in (SemanticCache, LiteLLMSemanticCache):
        with_check = cls(path=":memory:", config=config, equivalence=judge)
        assert with_check.core.equivalence is judge and with_check.core.learning
        assert not cls(path=":memory:", config=config).core.learning  # the default check only verifies
