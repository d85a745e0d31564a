"""Near-misses next to a neighbourhood of agreeing entries: the case the default policy
serves semantically (keyed answers, several wordings of one stored question), where a
question about something else must still miss."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.embeddings import default_embedder

FIXTURES = Path(__file__).resolve().parents[1] / "bench" / "data"

# Wordings that only pad a question: five entries sharing one answer key.
PADDINGS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, dialect="excel-tab"))


@pytest.fixture(scope="module")
def embedder():
    return default_embedder()


def _keyed_core(embedder, stored: list[str]) -> CacheCore:
    core = CacheCore(EmbeddedBackend(), embedder=embedder, config=CacheConfig(audit_sample_rate=0.0), seed=0)
    for i, q in enumerate(stored):
        for pad in PADDINGS:
            text = pad.format(q=q)
            core.update(
                core.request(text, llm_string="m", scope=CacheScope(tenant="t", answer_key=f"faq-{i}")), text
            )
    return core


def _get(core: CacheCore, q: str):
    return core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant="t")))


@pytest.mark.parametrize(
    ("query", "stored"),
    [
        ("How do I reset my password for my child's account?", "How do I reset my password?"),
        ("How do I close my account on behalf of my late father?", "How do I close my account?"),
        ("Can I get a refund for a gift card?", "Can I get a refund?"),
        ("How do I change my address for my business account?", "How do I change my address?"),
        ("How do I send money to my friend for her birthday party?", "How do I send money to my friend?"),
    ],
)
def test_short_added_qualifier_is_a_scope_contrast(query: str, stored: str) -> None:
    """A question that is another plus a short phrase naming whose or what it is about
    asks about something else, even with only two words added."""
    assert "scope" in contrast_flags(query, stored)
    assert "scope" in contrast_flags(stored, query)


@pytest.mark.parametrize(
    ("query", "stored"),
    [
        (
            "How long do I have to wait for a transfer from abroad?",
            "How long does a transfer from abroad take?",
        ),
        ("How do I reset my password?", "How can I reset my password?"),
        ("Where can I find my PIN?", "Where is my PIN?"),
    ],
)
def test_rewordings_raise_no_scope_contrast(query: str, stored: str) -> None:
    assert "scope" not in contrast_flags(query, stored)


def test_keyed_neighbourhood_refuses_an_added_qualifier(embedder) -> None:
    core = _keyed_core(embedder, ["How do I reset my password?"])
    assert _get(core, "How do I reset my password for my child's account?") is None
    # the control: another padding of the stored question is served, so the refusal is the check's
    hit = _get(core, "Hey, How do I reset my password?")
    assert hit is not None and hit.status == "semantic"


def test_fixture_near_misses_never_served_next_to_agreeing_entries(embedder) -> None:
    rows = [(r["kind"], r["stored"], r["query"]) for r in _tsv(FIXTURES / "cache_near_misses.tsv")]
    core = _keyed_core(embedder, [s for _, s, _ in rows])
    served = [(k, q) for k, _, q in rows if _get(core, q) is not None]
    assert served == []
