"""Learned answer keys: a class's own similarity bar under ``learned_min_similarity``.

A class may serve a little under the plain bar only where its own checks put it: two answers
checked "same" at that similarity or lower, and no "different" at or above it. Hand-made unit
vectors (no model) place every stored question exactly.
"""

from __future__ import annotations

import math

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
from llm_cost_hooks.embeddings import CallableEmbedder

REQUEST = [1.0, 0.0, 0.0, 0.0, 0.0]


def _core(verify_share: float = 0.0) -> CacheCore:
    table: dict[str, list[float]] = {}

    def vec(texts: list[str]) -> list[list[float]]:
        return [table[t] for t in texts]

    core = CacheCore(
        EmbeddedBackend(),
        embedder=CallableEmbedder(vec, name="table", dim=5),
        config=CacheConfig(audit_sample_rate=0.0, learn_answer_keys=True, verify_share=verify_share),
        equivalence=lambda new, old: new.startswith("the answer") and old.startswith("the answer"),
        seed=0,
    )
    core._table = table  # type: ignore[attr-defined]
    return core


def _req(core: CacheCore, text: str, v: list[float]):
    core._table[text] = v  # type: ignore[attr-defined]
    return core.request(text, llm_string="m", scope=CacheScope(tenant="t"))


def _ring(core: CacheCore, cos: float) -> list[list[float]]:
    """Four stored questions under one key at cosine ``cos`` to ``REQUEST`` (the first one a
    little nearer: it is the candidate)."""
    ring = []
    for i in range(4):
        c = cos + (0.002 if i == 0 else 0.0)
        s = math.sqrt(1.0 - c * c)
        ring.append([c, s * math.cos(0.3 * i), s * math.sin(0.3 * i), 0.0, 0.0])
    for i, v in enumerate(ring):
        core.update(_req(core, f"stored question {'abcd'[i]}", v), "the answer", answer_key="k")
    return ring


def _probe(core: CacheCore, near: list[float], cos: float, axis: int, answer: str) -> None:
    """A question at cosine ``cos`` to the stored vector ``near`` and far from other probes
    (``axis``: 1-4, its own direction): it misses, and the model's ``answer`` is checked against
    the stored answers next to it."""
    s = math.sqrt(1.0 - cos * cos)
    v = [cos * x for x in near[:3]] + [[s, 0.0], [-s, 0.0], [0.0, s], [0.0, -s]][axis - 1]
    req = _req(core, f"probe {'abcd'[axis - 1]}", v)
    assert core.lookup(req) is None
    core.update(req, answer)


def _two_sames(core: CacheCore, near: list[float], cos: float) -> None:
    """Two misses at cosine ``cos`` to ``near`` whose answers are checked the same as its."""
    _probe(core, near, cos, 1, "the answer, in other words")
    _probe(core, near, cos, 2, "the answer, once more")


def test_a_class_serves_under_the_plain_bar_only_once_checked_same_twice_there() -> None:
    core = _core()
    ring = _ring(core, 0.74)
    assert core.config.learned_min_similarity > 0.74
    assert core.lookup(_req(core, "the request", REQUEST)) is None  # no check says anything yet
    _probe(core, ring[0], 0.73, 1, "the answer, in other words")
    # One "same" is not enough: a check wrong once must not lower the bar on its own.
    assert core.lookup(_req(core, "the request", REQUEST)) is None
    _probe(core, ring[0], 0.73, 2, "the answer, once more")
    hit = core.lookup(_req(core, "the request", REQUEST))
    assert hit is not None and hit.entry.answer == "the answer"
    assert hit.similarity < core.config.learned_min_similarity


def test_checks_same_only_further_out_do_not_open_a_nearer_bar() -> None:
    core = _core()
    ring = _ring(core, 0.74)
    # Both answers checked the same at 0.76: the class has no evidence at 0.74.
    _two_sames(core, ring[0], 0.76)
    assert core.lookup(_req(core, "the request", REQUEST)) is None


def test_one_different_answer_at_or_above_the_request_outweighs_the_sames_under_it() -> None:
    core = _core()
    ring = _ring(core, 0.74)
    # A miss checked different from the class at a higher similarity than the request's (on the
    # far side of the candidate: it is no near neighbour of the request itself) ...
    c, s = ring[0][0], ring[0][1]
    away = [-s, c, 0.0, 0.0, 0.0]  # orthogonal to the candidate, away from the request
    v = [0.745 * x + math.sqrt(1.0 - 0.745**2) * y for x, y in zip(ring[0], away)]
    req = _req(core, "the question away", v)
    assert core.lookup(req) is None
    core.update(req, "another answer")
    # ... outweighs two checked the same under it.
    _two_sames(core, ring[0], 0.73)
    assert core.lookup(_req(core, "the request", REQUEST)) is None


def test_no_class_bar_goes_under_its_lowest_bound() -> None:
    core = _core()
    ring = _ring(core, 0.66)
    for axis in (1, 2, 3):
        _probe(core, ring[0], 0.6, axis, "the answer, in other words")
    assert core.lookup(_req(core, "the request", REQUEST)) is None


def test_a_verified_disagreement_under_the_plain_bar_closes_the_class_there_only() -> None:
    core = _core(verify_share=1.0)  # every would-be hit is verified
    ring = _ring(core, 0.74)
    _two_sames(core, ring[0], 0.73)
    threshold = core.config.default.threshold
    req = _req(core, "the request", REQUEST)
    assert core.lookup(req) is None and core.stats.verifications == 1  # a would-be hit, verified
    core.update(req, "something else entirely")
    assert req.verified == "disagree"
    # The class's own bar was wrong: it no longer serves there (not even a would-be hit) ...
    assert core.lookup(_req(core, "the request again", REQUEST)) is None
    assert core.stats.verifications == 1
    # ... while the route's thresholds, which the plain bar's hits rely on, stay.
    assert core.config.default.threshold == threshold


def test_a_stricter_plain_bar_moves_the_class_bars_up_with_it() -> None:
    core = _core()
    core.config = core.config.model_copy(update={"learned_min_similarity": 0.9})
    ring = _ring(core, 0.74)
    _two_sames(core, ring[0], 0.73)
    assert core.lookup(_req(core, "the request", REQUEST)) is None  # 0.742 is under 0.9 - 0.08
