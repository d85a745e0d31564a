"""The mistakes a user makes first with the options the docs show (a typo, a negative number,
a wrong type, an empty environment variable) end in the package's own error saying what to
fix, at construction, not in pydantic's error, a crash at the first call or a silent default."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import ConfigurationError, LLMCostHooksError, Settings, SettingsError, get_settings
from llm_cost_hooks.budget import (
    AlertManager,
    AnomalyRule,
    Limit,
    SegmentBudgets,
    SpendGuard,
    SpendRequest,
    WebhookSink,
)
from llm_cost_hooks.dedup import CircuitBreaker, RedisSingleFlight, RetryBudget, SingleFlight
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.routing import Rule

OPTION_MISTAKES: dict[str, tuple[Callable[[], object], str]] = {
    "negative history budget": (lambda: SegmentBudgets(history=-10), "history"),
    "misspelt segment": (lambda: SegmentBudgets(histroy=100), "did you mean 'history'"),
    "anomaly baseline typo": (lambda: AnomalyRule(baseline="cycles"), "'cycle'"),
    "anomaly factor below 1": (lambda: AnomalyRule(factor=-1), "factor"),
    "no attempts": (lambda: RetryBudget(max_attempts=0), "max_attempts"),
    "negative retry dollars": (lambda: RetryBudget(max_retry_usd=-1), "max_retry_usd"),
    "negative input tokens": (
        lambda: SpendRequest(model="gpt-4o-mini", input_tokens=-5, max_output_tokens=10),
        "input_tokens",
    ),
    "rule feature as a string": (lambda: Rule(tier="small", feature="faq"), "feature"),
    "misspelt rule condition": (lambda: Rule(tier="small", featur=["faq"]), "did you mean 'feature'"),
}


@pytest.mark.parametrize("mistake", sorted(OPTION_MISTAKES))
def test_option_models_raise_a_configuration_error_naming_the_field(mistake: str) -> None:
    build, named = OPTION_MISTAKES[mistake]
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert named in str(caught.value)
    assert str(caught.value).startswith("invalid ")


def test_prompt_cache_options_from_a_dict_raise_a_configuration_error() -> None:
    from llm_cost_hooks.budget._requests import coerce_prompt_cache

    with pytest.raises(ConfigurationError, match="ttl"):
        coerce_prompt_cache({"ttl": "2h"})


def test_a_misspelt_fail_mode_is_refused_with_the_in_process_store() -> None:
    # The typo showed only once the guard moved to Redis: on a laptop it was accepted.
    with pytest.raises(ConfigurationError, match="fail_mode must be 'open' or 'closed'"):
        SpendGuard([Limit.usd(25, per="day")], fail_mode="opn")  # type: ignore[arg-type]


def test_cache_require_tenant_says_it_takes_auto_true_or_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_CACHE_REQUIRE_TENANT", "sometimes")
    with pytest.raises(SettingsError) as caught:
        get_settings(reload=True)
    message = str(caught.value)
    assert caught.value.variable == "LLM_COST_HOOKS_CACHE_REQUIRE_TENANT"
    assert "'auto', true or false" in message
    assert message.count("LLM_COST_HOOKS_CACHE_REQUIRE_TENANT=") == 1  # said once, not per member
    monkeypatch.delenv("LLM_COST_HOOKS_CACHE_REQUIRE_TENANT")
    get_settings(reload=True)


def test_a_ledger_url_of_unknown_form_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", "sqlit:///costs.db")
    get_settings(reload=True)
    try:
        with pytest.raises(SettingsError) as caught:
            CostCallbackHandler()
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_LEDGER")
        get_settings(reload=True)
    assert caught.value.variable == "LLM_COST_HOOKS_LEDGER"
    assert "sqlite:///path.db" in str(caught.value)
    with pytest.raises(ConfigurationError) as given:  # an argument stays the argument's error
        CostCallbackHandler(ledger="sqlit:///costs.db")
    assert not isinstance(given.value, SettingsError)


def test_an_empty_default_tenant_names_no_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    # A blank .env line: the record's tenant is none, not a tenant called "".
    monkeypatch.setenv("LLM_COST_HOOKS_DEFAULT_TENANT", "")
    try:
        assert get_settings(reload=True).default_tenant is None
        handler = CostCallbackHandler(ledger="memory://")
        FakeChatModelWithUsage(model_name="gpt-4o-mini").invoke("hi", config={"callbacks": [handler]})
        handler.flush()
        assert [r.tenant for r in handler.records()] == [None]
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_DEFAULT_TENANT")
        get_settings(reload=True)
    assert Settings(default_tenant="").default_tenant is None


def test_an_empty_cache_path_variable_persists_to_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite takes "" as a throwaway file: the cache was lost at every restart.
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import SemanticCache

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_COST_HOOKS_CACHE_PATH", "")
    cache = SemanticCache(semantic=False)
    set_llm_cache(cache)
    try:
        model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["first", "second"])
        assert [model.invoke("hi").content, model.invoke("hi").content] == ["first", "first"]
    finally:
        set_llm_cache(None)
    assert (tmp_path / "llm_cache.db").exists()


def test_handler_defaults_must_be_a_mapping_and_open_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "costs.db"
    with pytest.raises(ConfigurationError, match="defaults must be a mapping"):
        CostCallbackHandler(ledger=f"sqlite:///{ledger}", defaults="acme")  # type: ignore[arg-type]
    assert not ledger.exists()


def test_a_misspelt_defaults_key_is_warned_naming_the_key_read(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_idd": "acme"})
    assert "'tenant_idd'" in caplog.text and "did you mean 'tenant_id'" in caplog.text
    handler.ledger.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [("guard", Limit.usd(1, per="day")), ("context_budget", SegmentBudgets(history=100))],
)
def test_litellm_logger_refuses_an_option_its_hooks_cannot_use(option: str, value: Any) -> None:
    # Before: accepted, then an AttributeError raised into every acompletion.
    from llm_cost_hooks.litellm import CostHooksLogger

    with pytest.raises(ConfigurationError, match=f"{option} must be a"):
        CostHooksLogger(ledger="memory://", **{option: value})


def test_every_error_above_is_in_the_package_tree() -> None:
    assert issubclass(ConfigurationError, LLMCostHooksError)


def _proxy_logger(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from llm_cost_hooks.litellm import proxy

    for name in [n for n in os.environ if n.startswith("LLM_COST_HOOKS_PROXY_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", "memory://")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings(reload=True)
    return proxy._from_environment()


LIMITS = '[{"metric": "usd", "amount": 25, "period": "day", "scope": "tenant"}]'


@pytest.mark.parametrize(
    ("variable", "value", "env"),
    [
        # a misspelt `true` left the protection off without a word
        ("LLM_COST_HOOKS_PROXY_REQUIRE_TENANT", "ture", {}),
        ("LLM_COST_HOOKS_PROXY_DEDUP_DERIVE", "enabled", {}),
        ("LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE", "opn", {"LLM_COST_HOOKS_PROXY_LIMITS": LIMITS}),
        ("LLM_COST_HOOKS_PROXY_LIMITS", LIMITS.replace("25", "-25"), {}),
        ("LLM_COST_HOOKS_PROXY_DEDUP_TTL", "1m", {"LLM_COST_HOOKS_PROXY_DEDUP": "memory"}),
    ],
)
def test_a_proxy_setting_of_the_wrong_form_stops_it_naming_the_variable(
    litellm_clean: Any, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, env: dict[str, str]
) -> None:
    try:
        with pytest.raises(ConfigurationError, match=variable):
            _proxy_logger(monkeypatch, **env, **{variable: value})
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_LEDGER")
        get_settings(reload=True)


def test_proxy_require_tenant_true_still_turns_it_on(
    litellm_clean: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        logger = _proxy_logger(monkeypatch, LLM_COST_HOOKS_PROXY_REQUIRE_TENANT="Yes")
        assert logger.require_bound_tenant is True
        from llm_cost_hooks.litellm import uninstall

        uninstall(logger)
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_LEDGER")
        get_settings(reload=True)


def test_a_cache_config_file_with_a_misspelt_option_names_the_file_and_the_option(tmp_path: Path) -> None:
    from llm_cost_hooks import CacheConfig

    path = tmp_path / "cache_config.json"
    path.write_text('{"ttl_secondz": 5}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"cache_config\.json.*did you mean 'ttl_seconds'"):
        CacheConfig.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not JSON"):
        CacheConfig.load(path)
    saved = CacheConfig(ttl_seconds=60)
    saved.save(path)
    assert CacheConfig.load(path) == saved


def test_an_embedding_model_path_that_does_not_load_is_said_once_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: only "cache lookup failed (EmbeddingModelError)" on every call, no path or variable.
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.embeddings import _onnx
    from llm_cost_hooks.langchain import SemanticCache

    missing = tmp_path / "model.onnx"
    monkeypatch.setenv("LLM_COST_HOOKS_EMBEDDING_MODEL_PATH", str(missing))
    monkeypatch.setattr(_onnx, "_defaults", {})  # as in a process that has not loaded one yet
    set_llm_cache(SemanticCache(path=str(tmp_path / "cache.db")))
    try:
        model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["a", "b", "c"])
        with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
            answers = [model.invoke("When will my card arrive?").content for _ in range(3)]
    finally:
        set_llm_cache(None)
    assert answers == ["a", "a", "a"]  # the chain goes on, exact hits too (no embedding needed)
    said = [r for r in caplog.records if r.levelno == logging.ERROR and str(missing) in r.getMessage()]
    assert len(said) == 1
    assert "LLM_COST_HOOKS_EMBEDDING_MODEL_PATH" in said[0].getMessage()
    assert "card" not in caplog.text


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: WebhookSink("https://x.test/h", retries=-1), "retries"),
        (lambda: WebhookSink("https://x.test/h", timeout=0), "timeout"),
        (lambda: AlertManager(sink_timeout=-1), "sink_timeout"),
    ],
)
def test_alert_delivery_numbers_out_of_range_are_refused(build: Callable[[], object], named: str) -> None:
    # Before: accepted; WebhookSink(retries=-1) then made no attempt at all.
    with pytest.raises(ConfigurationError, match=named):
        build()


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: SingleFlight(result_ttl=-1), "result_ttl"),
        (lambda: SingleFlight(result_ttl=float("nan")), "result_ttl"),
        (lambda: SingleFlight(max_results=0), "max_results"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", result_ttl=-5), "result_ttl"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", lock_ttl=0), "lock_ttl"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", error_ttl=0), "error_ttl"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", poll_interval=0), "poll_interval"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", max_poll_interval=0.001), "max_poll_interval"),
        (lambda: RedisSingleFlight("redis://127.0.0.1:1", wait_timeout=-1), "wait_timeout"),
        (lambda: CircuitBreaker(window_seconds=0), "window_seconds"),
        (lambda: CircuitBreaker(window_seconds=-60), "window_seconds"),
        (lambda: CircuitBreaker(reset_seconds=-1), "reset_seconds"),
        (lambda: RetryBudget(max_tasks=0), "max_tasks"),
        (lambda: RetryBudget(backoff_seconds=-1), "backoff_seconds"),
    ],
)
def test_dedup_numbers_out_of_range_are_refused_saying_what_to_pass(
    build: Callable[[], object], named: str
) -> None:
    # Before: SingleFlight(result_ttl=-1) was accepted and kept no result, as 0 does;
    # CircuitBreaker(window_seconds=0) never opened.
    with pytest.raises(ConfigurationError, match=named) as caught:
        build()
    assert "must be" in str(caught.value) or "greater than" in str(caught.value)


def test_dedup_numbers_at_their_bounds_are_accepted() -> None:
    assert SingleFlight(result_ttl=0).do("k", lambda: 1).source == "leader"
    assert CircuitBreaker(reset_seconds=0, window_seconds=float("inf")).allow("gpt-4o")
    assert RedisSingleFlight("redis://127.0.0.1:1", result_ttl=0, wait_timeout=0).result_ttl == 0


def test_invalidate_with_a_misspelt_keyword_names_the_ones_it_takes() -> None:
    from llm_cost_hooks.cache import CacheCore

    core = CacheCore(semantic=False)
    # Before: a plain TypeError ("unexpected keyword argument 'entry'").
    with pytest.raises(ConfigurationError, match=r"did you mean entry_id") as caught:
        core.invalidate(entry="abc")  # type: ignore[call-arg]
    assert "tenant" in str(caught.value) and "prompt_version" in str(caught.value)
    assert core.invalidate(entry_id="abc") == 0


def test_a_guard_reserving_for_a_model_with_no_price_names_it_and_the_fix() -> None:
    # What docs/budgets.md says of a model with no known price.
    from llm_cost_hooks import UnknownModelError

    guard = SpendGuard([Limit.usd(1, per="day", scope="tenant")])
    request = SpendRequest(model="my-finetune-7b", input_tokens=100, max_output_tokens=50, tenant="acme")
    with pytest.raises(UnknownModelError) as caught:
        guard.reserve(request)
    said = str(caught.value)
    assert (
        "my-finetune-7b" in said
        and "PriceBook(overrides=" in said
        and "LLM_COST_HOOKS_PRICE_OVERRIDES" in said
    )
    assert guard.spent("usd_per_day_per_tenant", "acme") == 0
