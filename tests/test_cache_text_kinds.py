"""Text the English dev sets lack: other languages and scripts, short replies, code, data,
long messages and Unicode forms. The exact tier must not merge texts that say different
things, and the semantic tier must not decide where the English embedder and contrast
checks are blind (hand-written pairs: bench/data/cache_text_kinds.tsv)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm_cost_hooks.cache import (
    CacheConfig,
    CacheCore,
    CacheScope,
    DecisionPolicy,
    EmbeddedBackend,
    normalize_query,
)
from llm_cost_hooks.embeddings import default_embedder
from llm_cost_hooks.langchain import SemanticCache, cache_scope

# Texts that differ in meaning although NFKC, case folding or whitespace collapsing made
# them one key.
EXACT_DIFFER = [
    ("What is 2³?", "What is 23?"),
    ("What is x²?", "What is x2?"),
    ("Is H₂O safe?", "Is H2O safe?"),
    ("Is the code AbC123 valid?", "Is the code abc123 valid?"),
    ("const userName = getUser(id); explain", "const username = getUser(id); explain"),
    ("Welche Masse hat das Paket?", "Welche Maße hat das Paket?"),
    (
        "if user.is_admin:\n    delete(user)\nreturn ok\nIs this safe?",
        "if user.is_admin:\n    delete(user)\n    return ok\nIs this safe?",
    ),
]

# Texts that say the same thing in other code points.
EXACT_SAME = [
    ("What is the status of order 1234?", "What is the status of order １２３４?"),
    ("What is the status of order 1234?", "WHAT IS THE STATUS OF ORDER 1234?"),
    ("Qu'est-ce qu'un café ?", "Qu'est-ce qu'un cafe\u0301 ?"),
    ("Where is my card?", "Where is my\u00a0card?"),
    ("Where is my card?", "Where is my car\u200bd?\u200b"),
    ("Where is my card?", "\ufeffWhere  is my card?\n"),
    ("Where is my card?", "  Where is\tMY   card?"),
    ("ﬁne print", "fine print"),
]


@pytest.mark.parametrize(("a", "b"), EXACT_DIFFER)
def test_exact_key_keeps_what_changes_the_meaning(a: str, b: str) -> None:
    assert normalize_query(a) != normalize_query(b)


@pytest.mark.parametrize(("a", "b"), EXACT_SAME)
def test_exact_key_folds_what_does_not(a: str, b: str) -> None:
    assert normalize_query(a) == normalize_query(b)


class DistinctAnswers(BaseChatModel):
    """Answers every conversation with its own text, as an LLM app stores its replies."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "distinct-answers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": "gpt-4o-mini"}

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        self.calls += 1
        text = f"answer {self.calls} to {messages[-1].content!r}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


@pytest.fixture
def exact_cache() -> Any:
    cache = SemanticCache(path=":memory:", semantic=False)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


def test_exact_tier_through_langchain_keeps_superscripts_and_code_apart(exact_cache: Any) -> None:
    model = DistinctAnswers()
    with cache_scope(tenant="t"):
        for a, b in [EXACT_DIFFER[0], EXACT_DIFFER[-1]]:
            first = model.invoke(a)
            second = model.invoke(b)
            assert second.content != first.content, b
        same = model.invoke("WHAT IS 2³?")
    assert model.calls == 4
    assert same.response_metadata["llm_cost_hooks_cache"]["status"] == "exact"


def test_follow_ups_of_other_conversations_are_not_served(exact_cache: Any) -> None:
    # "yes" means what the turns before it asked: they are part of the key.
    model = DistinctAnswers()
    sys = SystemMessage("You are a bank assistant.")
    a = [
        sys,
        HumanMessage("Can I get a refund for order 1234?"),
        AIMessage("Yes, within 30 days."),
        HumanMessage("yes"),
    ]
    b = [sys, HumanMessage("Is my card blocked?"), AIMessage("Yes, since yesterday."), HumanMessage("yes")]
    with cache_scope(tenant="t"):
        model.invoke(a)
        got = model.invoke(b)
    assert model.calls == 2
    assert "llm_cost_hooks_cache" not in got.response_metadata


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("如何冻结我的银行卡？", "script"),
        ("Как заблокировать мою карту?", "script"),
        ("¿Cómo bloqueo mi tarjeta?", "language"),
        ("Wie sperre ich meine Karte?", "language"),
        ("Comment bloquer ma carte ?", "language"),
        ("yes", "no words"),
        ("👍", "no words"),
        ("2", "no words"),
        ("SELECT * FROM users WHERE age > 30", "code"),
        ('{"amount": 100} is this valid?', "code"),
        ("def f(r):\n    return r\nWhy?", "code"),
        ("https://example.com/orders/1234", "code"),
        ("Add anna.smith@example.com to my contacts", "code"),
        ("How do I block my card?", None),
        ("Convert current time from IST to EST", None),
        ("Is the bank the only place I can change my PIN>", None),
        ("Where is my transfer from [country]?", None),
        ("Set an alarm for <insert time>", None),
        ("Why is x<y false here?", "code"),
        ("switch to Los Angeles time", None),
        # Latin-script languages past Spanish, German and French, English brands among them
        # (bench/results/langid-2026-12-07f/foreign.tsv).
        ("Hoe reset ik mijn iPhone wachtwoord?", "language"),
        ("Jak zmienić adres dostawy?", "language"),
        ("Kan jag betala med Swish?", "language"),
        ("Voinko maksaa MobilePaylla?", "language"),
        ("Di mana saya bisa lihat invoice saya?", "language"),
        ("Hindi gumagana ang app sa phone ko", "language"),
        ("Naweza kulipa kwa M-Pesa?", "language"),
        ("Hóa đơn của tôi ở đâu?", "language"),
        ("Hoa don cua toi o dau?", "language"),
        ("Magaza pazar gunu acik mi?", "language"),
        ("Die app werk nie op my foon nie", "language"),
        # English full of names, loanwords, quoted phrases or typos stays semantic.
        ("flights from Kraków to Göteborg", None),
        ("Call Zoë Østergaard", None),
        ("Find a recipe for crème brûlée", None),
        ('What does "je ne sais quoi" mean?', None),
        ("hw do i rset my pw", None),
        ("The bottle holds 2 ½ servings", None),
    ],
)
def test_semantic_refusal_kinds(text: str, kind: str | None) -> None:
    from llm_cost_hooks.cache._textkind import semantic_refusal

    assert semantic_refusal(text) == kind


@pytest.mark.parametrize(
    "text", ["Hoe reset ik mijn wachtwoord?", "如何冻结我的银行卡？", "¿Cómo bloqueo mi tarjeta?"]
)
def test_a_multilingual_embedder_judges_other_languages(text: str) -> None:
    from llm_cost_hooks.cache._textkind import semantic_refusal
    from llm_cost_hooks.embeddings import CallableEmbedder

    def vectors(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    english = CallableEmbedder(vectors, name="fake", dim=2)
    multilingual = CallableEmbedder(vectors, name="fake", dim=2, english_only=False)
    assert semantic_refusal(text, english) in ("language", "script")
    assert semantic_refusal(text, multilingual) is None
    english.english_only = False  # the attribute on an embedder built elsewhere (LangChainEmbedder)
    assert semantic_refusal(text, english) is None
    # The other refusals do not depend on the language.
    assert semantic_refusal("ja", multilingual) == "no words"
    assert semantic_refusal(f"{text} x = a * b", multilingual) == "code"


def test_pair_path_serves_other_languages_only_for_a_multilingual_embedder() -> None:
    from llm_cost_hooks.embeddings import CallableEmbedder

    def vectors(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]  # every text the same vector: the cosine always serves

    served = []
    for english_only in (True, False):
        e = CallableEmbedder(vectors, name="fake", dim=2, english_only=english_only)
        served.append(
            _served(_pair_core(e), "Hoe reset ik mijn wachtwoord?", "Hoe kan ik mijn wachtwoord resetten?")
        )
    assert served == [False, True]


@pytest.fixture(scope="module")
def embedder() -> Any:
    return default_embedder()


def _pair_core(embedder: Any) -> CacheCore:
    # The documented opt-in pair path: the one that serves on a single stored question.
    cfg = CacheConfig(default=DecisionPolicy(pair_threshold=0.95), audit_sample_rate=0.0)
    return CacheCore(EmbeddedBackend(), embedder=embedder, config=cfg, seed=0)


def _served(core: CacheCore, stored: str, query: str) -> bool:
    scope = CacheScope(tenant="t")
    core.update(core.request(stored, llm_string="m", scope=scope), f"answer to {stored}")
    return core.lookup(core.request(query, llm_string="m", scope=scope)) is not None


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Почему с меня взяли комиссию?", "Как сварить белый рис?"),  # unrelated: a fee / cooking rice
        ("可以用支付宝付款吗？", "昨天的比赛谁赢了？"),  # unrelated
        ("Как заблокировать мою карту?", "Как разблокировать мою карту?"),  # block / unblock
        ("Comment bloquer ma carte ?", "Comment débloquer ma carte ?"),
        ("¿Cómo convierto euros a dólares?", "¿Cómo convierto dólares a euros?"),
        ("👍", "👎"),
        (
            "def area(r):\n    return 3.14 * r * r\nWhy is this slow?",
            "def area(r):\n    return 3.14 * r + r\nWhy is this slow?",
        ),
        ("SELECT * FROM users WHERE age > 30", "SELECT * FROM users WHERE age < 30"),
    ],
)
def test_pair_path_refuses_text_the_embedder_cannot_judge(embedder: Any, stored: str, query: str) -> None:
    assert not _served(_pair_core(embedder), stored, query)


def test_text_past_the_embedder_window_is_not_compared(embedder: Any) -> None:
    words = "the delivery was late and the box was damaged when it arrived so the customer asks".split()
    base = " ".join(words[i % len(words)] for i in range(400))
    stored, query = f"{base}. Should we refund it?", f"{base}. Should we replace it?"
    assert (embedder.embed_one(stored) @ embedder.embed_one(query)) > 0.9999  # the endings are never read
    assert not _served(_pair_core(embedder), stored, query)


def test_english_paraphrase_is_still_served_on_the_pair_path(embedder: Any) -> None:
    assert _served(_pair_core(embedder), "How do I reset my PIN?", "How can I reset my PIN?")


def test_codes_in_another_case_are_not_served_on_the_pair_path(embedder: Any) -> None:
    # The exact tier keeps AbC123 and abc123 apart; the uncased embedder sees one text.
    assert not _served(_pair_core(embedder), "Is the code AbC123 valid?", "Is the code abc123 valid?")


@pytest.mark.parametrize(
    ("a", "b", "differs"),
    [
        ("Is the code AbC123 valid?", "Is the code abc123 valid?", True),
        # One word typed two ways: Banking77 questions the keyed cache served right.
        ("are both visa and mastercard available to me?", "Visa and MasterCard, can I get them both?", False),
        ("At what ATMS am I able to use the card?", "At which ATMs can I use this card?", False),
        ("HOw do I get my card back?", "How do I get my card back?", False),
    ],
)
def test_case_tells_codes_apart_not_words(a: str, b: str, differs: bool) -> None:
    from llm_cost_hooks.cache._textkind import case_differs

    assert case_differs(a, b) is differs
