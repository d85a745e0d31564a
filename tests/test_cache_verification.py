"""Online verification end to end: a would-be semantic hit answered by the model anyway, its
outcome on the cost record, and ``llm-cost report --show cache`` estimating hit precision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks._records import CacheStatus, CostRecord
from llm_cost_hooks.cache import CacheConfig, DecisionPolicy
from llm_cost_hooks.cli import main
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache
from llm_cost_hooks.ledger import LedgerReports, MemoryLedger
from llm_cost_hooks.ledger._reports import wilson_interval

PROMPT = ChatPromptTemplate.from_messages([("system", "You are a bank assistant."), ("human", "{q}")])
# A plain cosine rule makes would-be hits predictable; every one is verified.
VERIFY_ALL = CacheConfig(
    default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8),
    verify_share=1.0,
    audit_sample_rate=0.0,
)
RESET = "Open Settings, then Security, then Reset PIN."


@pytest.fixture
def cache():
    c = SemanticCache(path=":memory:", config=VERIFY_ALL)
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def test_verified_outcomes_reach_the_ledger_and_the_cli_report(
    cache: SemanticCache, tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "costs.db"
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}")
    request.addfinalizer(handler.tracker.close)  # its ledger's writer ends with the test
    # The model's answers, in call order: the stored answer, then what each verification gets.
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=[RESET, RESET, "Call us on 0800 123."])
    chain = PROMPT | model | StrOutputParser()
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "route": "faq"}}

    assert chain.invoke({"q": "How do I reset my PIN?"}, config=cfg) == RESET  # miss: stored
    # Would-be hit, answered by the model to verify: it agrees with the stored answer.
    assert chain.invoke({"q": "How can I reset my PIN?"}, config=cfg) == RESET
    # Would-be hit whose verification disagrees: the user gets the model's (fresh) answer.
    assert chain.invoke({"q": "How can I reset my PIN number?"}, config=cfg) == "Call us on 0800 123."
    assert (cache.stats.verified_agree, cache.stats.verified_disagree) == (1, 1)
    cache.core.config = cache.core.config.model_copy(update={"verify_share": 0.0})
    served = chain.invoke({"q": "How can I reset my PIN?"}, config=cfg)  # exact repeat of a stored one
    assert served == RESET
    handler.flush()

    recs = handler.records()
    assert [r.cache_status for r in recs] == [CacheStatus.MISS] * 3 + [CacheStatus.EXACT]
    assert [r.tags.get("cache.verified") for r in recs] == [None, "agree", "disagree", None]
    assert recs[1].cost_usd > 0  # a verification is a paid call, recorded as one

    assert main(["report", str(db), "--show", "cache", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["cache_precision"]
    low, high = wilson_interval(1, 2)
    assert row == {
        "semantic_hits": 0,
        "verified": 2,
        "agreed": 1,
        "precision": 0.5,
        "precision_low": pytest.approx(low),
        "precision_high": pytest.approx(high),
    }

    assert main(["report", str(db), "--show", "cache", "--by", "route"]) == 0
    text = capsys.readouterr().out
    assert "Precision of served semantic hits" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("faq"))
    assert line.split() == ["faq", "0", "2", "1", "0.500", f"{low:.3f}", f"{high:.3f}"]

    pytest.importorskip("matplotlib")
    page = tmp_path / "report.html"
    assert main(["report", str(db), "--show", "cache", "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Precision of served semantic hits" in html and f"{low:.3f}" in html


def test_served_semantic_hits_are_counted_beside_the_verified_sample(cache: SemanticCache) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=[RESET, RESET])
    chain = PROMPT | model | StrOutputParser()
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    chain.invoke({"q": "How do I reset my PIN?"}, config=cfg)
    chain.invoke({"q": "How can I reset my PIN?"}, config=cfg)  # verified, agrees
    cache.core.config = cache.core.config.model_copy(update={"verify_share": 0.0})
    assert chain.invoke({"q": "How could I reset my PIN?"}, config=cfg) == RESET
    assert handler.records()[-1].cache_status is CacheStatus.SEMANTIC
    handler.flush()
    (row,) = handler.ledger.reports().cache_precision(by="tenant")
    assert (row["tenant"], row["semantic_hits"], row["verified"], row["agreed"]) == ("acme", 1, 1, 1)
    assert row["precision"] == 1.0 and row["precision_low"] < 1.0 and row["precision_high"] == 1.0


def _rec(status: CacheStatus, verified: str | None = None, route: str = "faq") -> CostRecord:
    tags = {"cache.verified": verified} if verified else {}
    return CostRecord(model="gpt-4o", route=route, cache_status=status, tags=tags)


def test_cache_precision_report_counts_and_interval() -> None:
    ledger = MemoryLedger()
    spec = (
        [(CacheStatus.SEMANTIC, None, "faq")] * 40
        + [(CacheStatus.MISS, "agree", "faq")] * 19
        + [
            (CacheStatus.MISS, "disagree", "faq"),
            (CacheStatus.MISS, None, "faq"),
            (CacheStatus.EXACT, None, "faq"),
        ]
        + [(CacheStatus.SEMANTIC, None, "chat")] * 3
    )
    for status, verified, route in spec:
        ledger.write(_rec(status, verified, route))
    reports = LedgerReports.from_ledger(ledger)
    rows = {r["route"]: r for r in reports.cache_precision(by="route")}
    assert rows["faq"]["semantic_hits"] == 40 and rows["faq"]["verified"] == 20
    assert rows["faq"]["precision"] == pytest.approx(0.95)
    assert (rows["faq"]["precision_low"], rows["faq"]["precision_high"]) == pytest.approx(
        wilson_interval(19, 20)
    )
    # Hits never verified: the count is there, the precision is unknown (not 1.0).
    assert rows["chat"]["semantic_hits"] == 3 and rows["chat"]["verified"] == 0
    assert rows["chat"]["precision"] is None and rows["chat"]["precision_low"] is None
    (total,) = reports.cache_precision()
    assert (total["semantic_hits"], total["verified"], total["agreed"]) == (43, 20, 19)


def test_cache_precision_report_is_empty_without_semantic_traffic_and_checks_input() -> None:
    ledger = MemoryLedger()
    ledger.write(_rec(CacheStatus.EXACT))
    reports = LedgerReports.from_ledger(ledger)
    assert reports.cache_precision() == []
    with pytest.raises(ConfigurationError):
        reports.cache_precision(by="cache_status")
    with pytest.raises(ConfigurationError):
        reports.cache_precision(confidence=1.5)


def test_wilson_interval_matches_known_values() -> None:
    # Reference values of the Wilson score interval at 95 % (z = 1.95996).
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    lo, hi = wilson_interval(10, 10)
    assert (round(lo, 4), hi) == (0.7225, 1.0)
    lo99, hi99 = wilson_interval(8, 10, 0.99)
    assert lo99 < 0.4902 and hi99 > 0.9433


def test_verify_share_defaults_on_only_with_a_check_of_yours() -> None:
    """verify_share=None: one would-be hit in twenty is verified when the cache has an
    equivalence check of the user's (and answer keys are learned), none with the built-in check,
    which cannot judge freely worded answers; an explicit share always wins."""
    from llm_cost_hooks.cache import CacheCore, EmbeddedBackend

    def check(new: str, old: str) -> bool:
        return new == old

    plain = CacheCore(EmbeddedBackend(), semantic=False)
    assert plain.config.verify_share is None
    assert plain.verify_share == 0.0 and not plain.learning

    checked = CacheCore(EmbeddedBackend(), semantic=False, equivalence=check)
    assert checked.verify_share == 0.05 and checked.learning

    plain.equivalence = check  # a check given later counts too
    assert plain.verify_share == 0.05 and plain.learning

    off = CacheCore(
        EmbeddedBackend(), config=CacheConfig(verify_share=0.0), semantic=False, equivalence=check
    )
    assert off.verify_share == 0.0 and not off.learning
    every = CacheCore(EmbeddedBackend(), config=CacheConfig(verify_share=1.0), semantic=False)
    assert every.verify_share == 1.0 and not every.learning
