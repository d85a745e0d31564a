"""Prompt and answer text stays out of our log lines: a user's judge or check that raises
with the request or answer in its message is logged by exception type only."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.routing import Answer, Cascade, RuleRouter, ShadowMode

PROMPT = "CANARY-PROMPT-7f3a"
ANSWER = "CANARY-ANSWER-91bc"


def _tiers() -> dict[str, FakeChatModelWithUsage]:
    return {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[f"ok {ANSWER}"] * 4),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"ok {ANSWER}"] * 4),
    }


def test_a_failing_shadow_judge_is_logged_without_the_request_or_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def judge(request: str, answers: dict[str, str]) -> dict[str, float]:
        raise ValueError(f"cannot judge {request!r}: {answers!r}")

    shadow = ShadowMode(judge, share=1.0, store=tmp_path / "s.db", seed=0)
    llm = RoutedChatModel(tiers=_tiers(), strategy=RuleRouter([], default="small"), shadow=shadow)
    with caplog.at_level(logging.DEBUG):
        llm.invoke(f"route {PROMPT}")
    assert shadow.stats["judge_errors"] == 1
    assert "shadow judge failed (ValueError)" in caplog.text
    assert PROMPT not in caplog.text and ANSWER not in caplog.text


@pytest.mark.parametrize("run", ["invoke", "ainvoke"])
def test_a_raising_check_is_logged_without_the_answer(run: str, caplog: pytest.LogCaptureFixture) -> None:
    def quoting_check(answer: Answer) -> bool:
        raise ValueError(f"unparseable answer {answer.text!r}")

    llm = RoutedChatModel(tiers=_tiers(), strategy=Cascade(), checks=[quoting_check])
    with caplog.at_level(logging.DEBUG):
        if run == "invoke":
            llm.invoke(f"route {PROMPT}")
        else:
            asyncio.run(llm.ainvoke(f"route {PROMPT}"))
    assert "raised ValueError; counted as failed" in caplog.text
    assert PROMPT not in caplog.text and ANSWER not in caplog.text


class _QuotingEmbedder:
    """A user's embedder whose error quotes the text it was given."""

    name = "quoting"
    dim = 8

    def embed(self, texts: list[str]) -> None:
        raise RuntimeError(f"cannot embed {list(texts)!r}")

    def embed_one(self, text: str) -> None:
        raise RuntimeError(f"cannot embed {text!r}")


def test_a_failing_embedder_is_logged_without_the_query(caplog: pytest.LogCaptureFixture) -> None:
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import SemanticCache

    llm = FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"ok {ANSWER}"] * 4)
    set_llm_cache(SemanticCache(path=":memory:", embedder=_QuotingEmbedder()))
    try:
        with caplog.at_level(logging.DEBUG):
            first = llm.invoke(f"embed {PROMPT}")
            again = llm.invoke(f"embed {PROMPT}")
    finally:
        set_llm_cache(None)
    assert first.content == again.content == f"ok {ANSWER}"  # the chain is not broken
    assert "the embedder 'quoting' failed (RuntimeError)" in caplog.text  # lookup and write
    assert "cache embedder failed (RuntimeError)" in caplog.text
    assert PROMPT not in caplog.text and ANSWER not in caplog.text


def test_a_failing_equivalence_check_is_logged_without_the_answers(caplog: pytest.LogCaptureFixture) -> None:
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.cache import CacheConfig
    from llm_cost_hooks.langchain import CostCallbackHandler, SemanticCache

    def equivalence(new: str, old: str) -> bool:
        raise ValueError(f"cannot compare {new!r} with {old!r}")

    llm = FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"ok {ANSWER}"] * 4)
    cache = SemanticCache(path=":memory:", config=CacheConfig(verify_share=1.0), equivalence=equivalence)
    set_llm_cache(cache)
    try:
        with caplog.at_level(logging.DEBUG):
            # a paraphrase: a would-be semantic hit, verified against a fresh answer
            for q in (f"Tell me about {PROMPT} please", f"Please tell me about {PROMPT}"):
                llm.invoke(q, config={"callbacks": [CostCallbackHandler(ledger="memory://")]})
    finally:
        set_llm_cache(None)
    assert "cache equivalence check failed (ValueError)" in caplog.text
    assert PROMPT not in caplog.text and ANSWER not in caplog.text


def test_litellm_cache_failures_are_logged_without_the_messages(caplog: pytest.LogCaptureFixture) -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    cache = LiteLLMSemanticCache(path=":memory:", embedder=_QuotingEmbedder())
    kwargs = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"card {PROMPT}"}]}
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
        assert cache.get_cache(**kwargs) is None
    assert "the embedder 'quoting' failed (RuntimeError)" in caplog.text
    assert PROMPT not in caplog.text


def _content_made_invalid(o: object) -> object:
    """The stored message's content turned into a mapping: the message no longer validates."""
    if isinstance(o, dict):
        return {
            k: {"x": v} if k == "content" and isinstance(v, str) and ANSWER in v else _content_made_invalid(v)
            for k, v in o.items()
        }
    if isinstance(o, list):
        return [_content_made_invalid(v) for v in o]
    return o


def test_a_corrupt_cache_entry_is_logged_without_its_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import sqlite3

    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import SemanticCache

    db = tmp_path / "cache.db"
    llm = FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"ok {ANSWER}"] * 4)
    set_llm_cache(SemanticCache(path=str(db), semantic=False))
    try:
        llm.invoke(f"card {PROMPT}")
        with sqlite3.connect(db) as con:
            entry_id, data = con.execute("select id, data from entries").fetchone()
            entry = json.loads(data)
            answer = json.loads(entry["answer"])
            answer["native"]["langchain"] = json.dumps(
                _content_made_invalid(json.loads(answer["native"]["langchain"]))
            )
            entry["answer"] = json.dumps(answer)
            con.execute("update entries set data = ? where id = ?", (json.dumps(entry), entry_id))
        set_llm_cache(SemanticCache(path=str(db), semantic=False))  # reads the entry back from the file
        with caplog.at_level(logging.DEBUG):
            assert llm.invoke(f"card {PROMPT}").content == f"ok {ANSWER}"  # a miss: the model answers
    finally:
        set_llm_cache(None)
    assert "is corrupt (ValidationError); removed" in caplog.text
    assert PROMPT not in caplog.text and ANSWER not in caplog.text
