"""Near-misses that keep the words and change what is asked: the tense or modality ("was I
charged" / "will I be charged", "can I" / "should I"), the question word ("when" / "how"),
the quantifier ("one of my cards" / "all my cards", "each" / "total") and a condition turned
into an exception ("if I cancel" / "unless I cancel"). Each must be refused; rewordings of
the same questions, and loosely worded support questions that share an answer, must not be.
Pairs from bench/data/cache_nearmiss_kinds3.jsonl (the fix half)."""

from __future__ import annotations

import pytest

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.embeddings import default_embedder

NEAR_MISSES = [
    # (stored, request, kind flagged)
    ("Can I cancel a pending transfer?", "Should I cancel a pending transfer?", "question"),
    (
        "Was I charged a foreign transaction fee on this purchase?",
        "Will I be charged a foreign transaction fee on this purchase?",
        "question",
    ),
    ("Did my order ship yet?", "When will my order ship?", "question"),
    ("Has my flight been delayed?", "Will my flight be delayed?", "question"),
    ("Do I need to return the item to get a refund?", "Can I return the item to get a refund?", "question"),
    ("When will my refund arrive?", "How will my refund arrive?", "question"),
    ("Who approves my expense report?", "When is my expense report approved?", "question"),
    ("Who pays for return shipping?", "How do I pay for return shipping?", "question"),
    ("Can I delete a single message in a channel?", "Can I delete every message in a channel?", "scope"),
    ("What is the shipping fee for each item?", "What is the total shipping fee?", "scope"),
    ("Is the data allowance per line?", "Is the data allowance shared across all lines?", "scope"),
    (
        "Will I be charged if I cancel before the trial ends?",
        "Will I be charged unless I cancel before the trial ends?",
        "negation",
    ),
    (
        "Does the laptop lock when I close the lid?",
        "Does the laptop lock unless I close the lid?",
        "negation",
    ),
]

PARAPHRASES = [
    ("Has my flight been delayed?", "Is my flight delayed?"),
    ("Did my claim get paid?", "Has my claim been paid?"),
    ("Do I need to return the item to get a refund?", "Do I have to return the item to get a refund?"),
    ("Can I change the name on my ticket?", "Is it possible to change the name on my ticket?"),
    ("When should I file a claim?", "When do I need to file a claim?"),
    ("What is the shipping fee for each item?", "How much is the shipping fee per item?"),
    ("How do I sign out of all devices?", "How can I log out of every device?"),
    ("Is support available every day except weekends?", "Is support open every day apart from weekends?"),
    (
        "Will I be charged if I cancel before the trial ends?",
        "If I cancel before the trial ends, will I be charged?",
    ),
    # Support questions word these loosely: a question word inside a clause, "where ... come
    # from" asking why, "won't" refusing rather than telling the future, "all of a sudden".
    (
        "Who pays return shipping when the item is damaged?",
        "When the item is damaged, who pays for return shipping?",
    ),
    (
        "How do I accept the job offer in the candidate portal?",
        "Where do I accept the job offer in the candidate portal?",
    ),
    ("Why is there an extra fee on my statement?", "Where did the extra fee on my statement come from?"),
    ("Why won't my card work?", "How do I find out why my card won't work?"),
    ("The ATM did not give me my card back", "The ATM won't give back my card"),
    ("What should I do if I lost my card?", "What can I do if I lost my card?"),
]


@pytest.mark.parametrize(("stored", "query", "kind"), NEAR_MISSES)
def test_near_miss_is_told_apart(stored: str, query: str, kind: str) -> None:
    assert kind in contrast_flags(query, stored)
    assert kind in contrast_flags(stored, query)


@pytest.mark.parametrize(("stored", "query"), PARAPHRASES)
def test_rewording_is_not_told_apart(stored: str, query: str) -> None:
    assert contrast_flags(query, stored) == []
    assert contrast_flags(stored, query) == []


PADDINGS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]


def test_keyed_neighbourhood_refuses_the_near_misses() -> None:
    # Five wordings under one answer key: the neighbourhood the default policy serves from.
    stored = sorted({s for s, _, _ in NEAR_MISSES})
    core = CacheCore(
        EmbeddedBackend(), embedder=default_embedder(), config=CacheConfig(audit_sample_rate=0.0), seed=0
    )
    for i, q in enumerate(stored):
        for pad in PADDINGS:
            scope = CacheScope(tenant="t", answer_key=f"faq-{i}")
            core.update(core.request(pad.format(q=q), llm_string="m", scope=scope), f"answer {i}")

    def answer(q: str) -> str | None:
        hit = core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant="t")))
        return None if hit is None else str(hit.entry.answer)

    served = [r for s, r, _ in NEAR_MISSES if answer(r) == f"answer {stored.index(s)}"]
    assert served == []
    # A rewording of a stored question is still served from the same neighbourhood.
    assert answer("Has my flight been delayed?") == f"answer {stored.index('Has my flight been delayed?')}"


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("Does v2.1 support single sign-on?", "Does v2.10 support single sign-on?"),
        ("Is the SDK compatible with Python 3.1?", "Is the SDK compatible with Python 3.10?"),
        ("What changed in release 4.20?", "What changed in release 4.2?"),
    ],
)
def test_a_trailing_zero_in_a_version_is_another_number(stored: str, asked: str) -> None:
    # 2.10 and 2.1 are one amount but two versions: the number is compared as written.
    assert "number" in contrast_flags(asked, stored)


def test_the_same_amount_written_with_thousands_separators_still_matches() -> None:
    assert contrast_flags("Can I send 1,500 euros abroad?", "Can I send 1500 euros abroad?") == []
