"""The framework-free cache core: scope, exact and semantic tiers, TTL, LRU,
persistence, invalidation, audit, calibration and the CLI."""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

import pytest

from llm_cost_hooks.cache import (
    AuditLog,
    CacheConfig,
    CacheCore,
    CacheScope,
    DecisionPolicy,
    EmbeddedBackend,
    calibrate_intents,
    calibrate_pairs,
    normalize_query,
    operating_point,
)
from llm_cost_hooks.cache._cli import add_cache_commands
from llm_cost_hooks.cache._signals import wilson_lower_bound
from llm_cost_hooks.embeddings import default_embedder

SIM = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)


def core_with(policy: DecisionPolicy | None = None, backend=None, **cfg) -> CacheCore:
    config = CacheConfig(default=policy or SIM, audit_sample_rate=cfg.pop("audit_sample_rate", 0.0), **cfg)
    return CacheCore(backend or EmbeddedBackend(), embedder=default_embedder(), config=config)


def put(
    core: CacheCore, q: str, answer: str, scope: CacheScope | None = None, llm: str = "m", ctx: str = "", **kw
):
    req = core.request(q, llm_string=llm, context=ctx, scope=scope or CacheScope())
    return core.update(req, answer, **kw)


def get(core: CacheCore, q: str, scope: CacheScope | None = None, llm: str = "m", ctx: str = ""):
    return core.lookup(core.request(q, llm_string=llm, context=ctx, scope=scope or CacheScope()))


def test_normalize_query() -> None:
    assert normalize_query("  Where is\tMY   card?\n") == "where is my card?"
    assert normalize_query("ﬁne") == "fine"  # NFKC


def test_exact_tier_normalised_and_cost() -> None:
    core = core_with()
    put(core, "Where is my card?", "A1", cost_usd=0.002, model="gpt-4o")
    hit = get(core, "where is   my card?")
    assert hit is not None and hit.status == "exact" and hit.entry.answer == "A1"
    assert hit.saved_usd == pytest.approx(0.002)
    assert core.stats.exact_hits == 1 and core.stats.saved_usd == pytest.approx(0.002)


@pytest.mark.parametrize(
    "write, read",
    [
        (CacheScope(tenant="a"), CacheScope(tenant="b")),
        (CacheScope(tenant="a"), CacheScope()),
        (CacheScope(), CacheScope(tenant="a")),
        (CacheScope(tenant="a", prompt_version="v1"), CacheScope(tenant="a", prompt_version="v2")),
        (CacheScope(tenant="a", corpus_version="c1"), CacheScope(tenant="a", corpus_version="c2")),
        (CacheScope(tenant="a", route="faq"), CacheScope(tenant="a", route="billing")),
        (CacheScope(tenant="a", feature="chat"), CacheScope(tenant="a", feature="search")),
        (CacheScope(tenant="a", user="u1", per_user=True), CacheScope(tenant="a", user="u2", per_user=True)),
    ],
)
def test_scope_isolation_exact_and_semantic(write: CacheScope, read: CacheScope) -> None:
    core = core_with()
    put(core, "How do I reset my PIN?", "A", scope=write)
    assert get(core, "How do I reset my PIN?", scope=write).status == "exact"
    assert get(core, "How do I reset my PIN?", scope=read) is None
    assert get(core, "how can I reset my pin number?", scope=read) is None


def test_model_params_and_conversation_are_scope() -> None:
    core = core_with()
    put(core, "How do I reset my PIN?", "A", llm="model=x,temperature=0", ctx="system: bank bot")
    assert (
        get(core, "How do I reset my PIN?", llm="model=x,temperature=0", ctx="system: bank bot") is not None
    )
    assert get(core, "How do I reset my PIN?", llm="model=x,temperature=0.7", ctx="system: bank bot") is None
    assert get(core, "How do I reset my PIN?", llm="model=x,temperature=0", ctx="system: pirate bot") is None


def test_semantic_hit() -> None:
    core = core_with()
    put(core, "How do I reset my PIN?", "reset-pin")
    hit = get(core, "How can I reset my PIN?")
    assert hit is not None and hit.status == "semantic" and hit.entry.answer == "reset-pin"
    assert 0.8 <= hit.similarity < 1.0
    assert get(core, "What are your opening hours on Sunday?") is None
    assert (core.stats.semantic_hits, core.stats.misses, core.stats.rejected) == (1, 1, 1)


def test_combined_policy_uses_neighbourhood_agreement() -> None:
    """The neighbourhood model serves a paraphrase when the neighbourhood agrees on one
    answer, and refuses the same similarity when near neighbours disagree."""
    core = core_with(DecisionPolicy(kind="combined"))
    agree = [
        "When will my new card arrive?",
        "How long until my card arrives?",
        "My card has not arrived yet",
        "When should I expect my card?",
        "Is my card on its way?",
        "Where is my new card?",
        "How long does card delivery take?",
        "I am still waiting for my card",
        "Has my card been sent yet?",
        "When is my card going to get here?",
    ]  # ten: the whole neighbourhood (a sparser one counts its missing entries as other answers)
    for q in agree:
        put(core, q, "card_arrival", answer_key="card_arrival")
    hit = get(core, "When does my new card arrive?")
    assert hit is not None and hit.status == "semantic" and hit.entry.answer_key == "card_arrival"

    core2 = core_with(DecisionPolicy(kind="combined"))
    for i, q in enumerate(agree):
        put(core2, q, f"answer-{i}", answer_key=f"k{i}")  # every neighbour a different answer
    assert get(core2, "When does my new card arrive?") is None
    assert core2.stats.rejected == 1


def test_ttl_fixed_at_write_and_not_extended(cache_clock: Any) -> None:
    core = core_with(ttl_seconds=0.5)
    entry = put(core, "How do I reset my PIN?", "A")
    assert entry.expires_at == pytest.approx(entry.created_at + 0.5)
    cache_clock.now += 0.4
    assert get(core, "How do I reset my PIN?") is not None  # a hit ...
    assert core.backend.get(entry.id).expires_at == entry.expires_at  # ... does not extend it
    cache_clock.now += 0.2
    assert get(core, "How do I reset my PIN?") is None
    assert get(core, "How can I reset my PIN?") is None


def test_per_route_policy_and_ttl() -> None:
    cfg_routes = {
        "strict": DecisionPolicy(kind="similarity", threshold=0.999, min_similarity=0.999, ttl_seconds=60)
    }
    core = core_with(routes=cfg_routes)
    e = put(core, "How do I reset my PIN?", "A", scope=CacheScope(route="strict"))
    assert e.expires_at == pytest.approx(e.created_at + 60)
    # A paraphrase at about 0.94: clear of both bars (0.999 and 0.8), whatever CPU embeds it.
    assert get(core, "How do I reset my PIN code?", scope=CacheScope(route="strict")) is None
    put(core, "How do I reset my PIN?", "A", scope=CacheScope(route="loose"))
    assert get(core, "How do I reset my PIN code?", scope=CacheScope(route="loose")) is not None


def test_lru_eviction() -> None:
    core = core_with(backend=EmbeddedBackend(max_entries=3))
    for q in ["alpha question one", "beta question two", "gamma question three"]:
        put(core, q, q)
    assert get(core, "alpha question one") is not None  # alpha is now most recent
    put(core, "delta question four", "d")
    assert core.backend.count() == 3
    assert get(core, "beta question two") is None  # least recently used went
    assert get(core, "alpha question one") is not None


def test_persistence_survives_restart_and_skips_corrupt_rows(tmp_path) -> None:
    path = tmp_path / "cache.db"
    core = core_with(backend=EmbeddedBackend(path))
    put(core, "How do I reset my PIN?", "A", scope=CacheScope(tenant="t"))
    put(core, "What is the exchange rate?", "B", scope=CacheScope(tenant="t"))
    core.backend.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE entries SET data = '{broken' WHERE data LIKE '%exchange%'")
    db.commit()
    db.close()
    backend = EmbeddedBackend(path)
    assert backend.corrupt == 1 and backend.count() == 1
    core2 = core_with(backend=backend)
    assert get(core2, "How do I reset my PIN?", scope=CacheScope(tenant="t")).status == "exact"
    assert get(core2, "How can I reset my PIN?", scope=CacheScope(tenant="t")).status == "semantic"


def test_invalidate_and_clear_by_scope() -> None:
    core = core_with()
    e1 = put(
        core, "q one about cards", "1", scope=CacheScope(tenant="a", prompt_version="v1", corpus_version="c1")
    )
    put(
        core, "q two about loans", "2", scope=CacheScope(tenant="a", prompt_version="v2", corpus_version="c1")
    )
    put(
        core,
        "q three about fees",
        "3",
        scope=CacheScope(tenant="b", prompt_version="v1", corpus_version="c2"),
    )
    put(
        core, "q four about atms", "4", scope=CacheScope(tenant="b", prompt_version="v1", corpus_version="c3")
    )
    assert core.invalidate(entry_id=e1.id) == 1
    assert core.invalidate(prompt_version="v2") == 1
    assert core.invalidate(corpus_version="c2") == 1
    assert core.backend.count() == 1
    assert core.clear(tenant="b") == 1
    assert core.backend.count() == 0
    with pytest.raises(ValueError, match="invalidate"):
        core.invalidate()


def test_report_bad_hit_removes_entry_and_tightens_route() -> None:
    core = core_with(audit_sample_rate=1.0)
    put(core, "How do I reset my PIN?", "A", scope=CacheScope(route="faq"))
    hit = get(core, "How can I reset my PIN?", scope=CacheScope(route="faq"))
    assert hit.status == "semantic"
    rec = core.audit.records[-1]
    assert rec["entry_id"] == hit.entry.id and rec["similarity"] == pytest.approx(hit.similarity, abs=1e-4)
    assert rec["query"].startswith("sha256:")  # no text unless the user opted in
    before = core.config.policy_for("faq").threshold
    new = core.report_bad_hit(rec["hit_id"])
    assert new.threshold > before and core.config.policy_for("faq").threshold == new.threshold
    assert core.config.default.threshold == before  # other routes untouched
    assert core.backend.get(hit.entry.id) is None


def test_audit_log_captures_text_when_opted_in(tmp_path) -> None:
    audit = AuditLog(sample_rate=1.0, path=tmp_path / "audit.jsonl", capture_text=True)
    core = CacheCore(
        EmbeddedBackend(), embedder=default_embedder(), config=CacheConfig(default=SIM), audit=audit
    )
    put(core, "How do I reset my PIN?", "A")
    get(core, "How can I reset my PIN?")
    line = (tmp_path / "audit.jsonl").read_text().strip()
    assert "How can I reset my PIN?" in line and "How do I reset my PIN?" in line


def test_bypass_scope() -> None:
    core = core_with()
    put(core, "hello there", "A")
    assert get(core, "hello there", scope=CacheScope(bypass=True)) is None
    assert put(core, "other", "B", scope=CacheScope(bypass=True)) is None


class Boom:
    shared = True

    def __getattr__(self, name):
        def fail(*a, **k):
            raise ConnectionError("down")

        return fail


def test_backend_failure_is_a_miss_and_opens_the_breaker(caplog) -> None:
    core = CacheCore(Boom(), embedder=default_embedder(), config=CacheConfig(default=SIM), breaker_failures=2)
    for _ in range(4):
        assert get(core, "How do I reset my PIN?") is None
    put(core, "How do I reset my PIN?", "A")  # a failed write does not raise either
    assert core.stats.errors == 2 and core.stats.skipped_while_open >= 2
    assert any("uncached" in r.message for r in caplog.records)


def test_a_backend_outage_is_one_warning_naming_it_and_its_end_is_logged(caplog) -> None:
    """A backend that stays down is retried every breaker_reset_s: one warning for the whole
    outage (naming the backend without its password and saying what happens meanwhile),
    not one per circuit opening; a backend that answers again says so, and a new outage
    warns again."""
    import time

    class Flaky(EmbeddedBackend):
        down = True
        redis_url = "redis://:s3cret@cache.internal:6379/0"

        def get_exact(self, key):  # type: ignore[no-untyped-def]
            if self.down:
                raise ConnectionError("Error 111 connecting to cache.internal:6379. Connection refused.")
            return super().get_exact(key)

    backend = Flaky()
    core = CacheCore(
        backend, embedder=default_embedder(), config=CacheConfig(default=SIM, semantic=False),
        breaker_failures=2, breaker_reset_s=0.01,
    )  # fmt: skip
    with caplog.at_level("INFO", logger="llm_cost_hooks"):
        for _ in range(4):  # four openings of the circuit, each retried after its reset
            for _ in range(3):
                assert get(core, "How do I reset my PIN?") is None
            time.sleep(0.02)

        def warnings_here() -> list[str]:
            # Those naming this backend: not a line another test's thread logs meanwhile.
            said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            return [m for m in said if "cache.internal" in m]

        warnings = warnings_here()
        assert len(warnings) == 1, warnings
        assert "redis://:***@cache.internal:6379/0" in warnings[0] and "s3cret" not in warnings[0]
        assert "Connection refused" in warnings[0] and "uncached" in warnings[0]
        backend.down = False
        assert get(core, "How do I reset my PIN?") is None  # answered: a plain miss
        assert any("answers again" in r.getMessage() for r in caplog.records)
        backend.down = True
        assert get(core, "How do I reset my PIN?") is None
        assert len(warnings_here()) == 2


def test_wilson_and_operating_point() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert 0.95 < wilson_lower_bound(990, 1000) < 0.99
    scores = [0.9, 0.8, 0.7, 0.6]
    correct = [True, True, True, False]
    best, curve = operating_point(scores, correct, target=0.99, rule="point")
    assert best.hits == 3 and best.threshold == 0.7 and best.precision == 1.0
    best, _ = operating_point(scores, correct, target=0.99, rule="bound")
    assert best is None  # 3 hits cannot bound precision above 0.99


def _intents() -> tuple[list[str], list[str]]:
    data = {
        "card_arrival": [
            "When will my card arrive?",
            "Where is my new card?",
            "My card has not come yet",
            "How long for my card to arrive?",
            "Is my card on its way?",
            "Still waiting on my card",
            "When do I get my card?",
            "Card not delivered yet",
        ],
        "exchange_rate": [
            "What is the exchange rate?",
            "How much is a euro in dollars?",
            "Current exchange rates?",
            "What rate do you use for currency?",
            "Exchange rate for pounds?",
            "Rate to convert USD",
            "How do you calculate exchange rates?",
            "What's today's FX rate?",
        ],
        "lost_card": [
            "I lost my card",
            "My card was stolen",
            "Can't find my card anywhere",
            "Someone took my card",
            "I misplaced my bank card",
            "Card lost, what now?",
            "My wallet and card are gone",
            "Please block my lost card",
        ],
    }
    texts = [t for v in data.values() for t in v]
    labels = [k for k, v in data.items() for _ in v]
    return texts, labels


def test_calibrate_intents_and_pairs() -> None:
    texts, labels = _intents()
    split = calibrate_intents(texts, labels, target_precision=0.9, rule="point", cache_fraction=0.5)
    # each query also asked with its label left out of the cache
    assert split.n_cache == 12 and split.n_queries == 24 and split.n_new_questions == 12
    res = calibrate_intents(texts, labels, target_precision=0.9, rule="point")  # leave-one-out
    assert res.n_queries == 48 and res.n_cache == 23 and res.n_new_questions == 24
    assert res.policy.kind == "verified" and res.holdout is not None
    assert res.curve and 0.0 <= res.point.hit_rate <= 1.0
    if res.met:
        assert res.point.precision >= 0.9
    pairs = calibrate_pairs(
        ["When will my card arrive?", "What is the exchange rate?", "I lost my card", "Where is my card?"],
        [
            "Where is my new card?",
            "How much is a euro in dollars?",
            "What is the exchange rate?",
            "I lost my card",
        ],
        [1, 1, 0, 0],
        target_precision=0.9,
        rule="point",
    )
    assert pairs.policy.kind == "verified"
    assert "threshold" in pairs.summary() and "held-out" in pairs.summary()


def test_cli_calibrate(tmp_path, capsys) -> None:
    texts, labels = _intents()
    f = tmp_path / "intents.csv"
    f.write_text("text,label\n" + "\n".join(f'"{t}",{lab}' for t, lab in zip(texts, labels)))
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_cache_commands(parser.add_subparsers(dest="command"))
    out = tmp_path / "cfg.json"
    args = parser.parse_args(
        [
            "cache",
            "calibrate",
            str(f),
            "--target",
            "0.8",
            "--rule",
            "point",
            "--route",
            "faq",
            "--out",
            str(out),
        ]
    )
    code = args.func(args)
    printed = capsys.readouterr().out
    assert "hit rate" in printed and "curve" in printed
    cfg = CacheConfig.load(out)
    assert "faq" in cfg.routes and code in (0, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    args = parser.parse_args(["cache", "calibrate", str(bad)])
    with pytest.raises(ValueError, match="expected text_a,text_b,label"):
        args.func(args)
