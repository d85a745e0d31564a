"""Keep the public surface honest: every exported name exists, is documented, and the
cheap-import promises hold."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import llm_cost_hooks

PUBLIC_PACKAGES = [
    "llm_cost_hooks",
    "llm_cost_hooks.langchain",
    "llm_cost_hooks.ledger",
    "llm_cost_hooks.pricing",
    "llm_cost_hooks.tokens",
    "llm_cost_hooks.telemetry",
    "llm_cost_hooks.cache",
    "llm_cost_hooks.embeddings",
    "llm_cost_hooks.routing",
    "llm_cost_hooks.budget",
    "llm_cost_hooks.dedup",
    "llm_cost_hooks.batch",
    "llm_cost_hooks.prompt_cache",
    "llm_cost_hooks.prompts",
    "llm_cost_hooks.litellm",
]

# The curated public surface: every package's ``__all__``. A name added or removed here is
# an API decision (document it; see docs/layout.md). CLI plumbing and metric helpers live
# in private modules and are imported from there.
SURFACE: dict[str, str] = {
    "llm_cost_hooks": (
        "AlertManager BatchError BatchQueue BudgetExceeded CacheConfig CacheScope CacheScopeError "
        "CacheStatus CircuitBreaker CircuitOpenError ConfigurationError ContextBudget CostBreakdown "
        "CostRecord CostTracker DeduplicatedCallFailed Downgrade DowngradeRequired EmbeddingModelError "
        "InvalidUsageError JSONLLedger LLMCostHooksError Ledger LedgerError LedgerReports LedgerStats "
        "Limit MemoryLedger MissingExtraError ModelPrice OTelObserver OutcomeDataError PriceBook "
        "PriceMapUpdateError PriceOverrideError RedisSingleFlight ReplayMissError RetryBudget "
        "RetryBudgetExhausted RouterModelError RunInfo RunKind RunObserver SQLiteLedger SegmentBudgets "
        "Settings SettingsError SingleFlight SpendGuard SpendRequest SpendStoreUnavailable TaskOutcome "
        "TaskState TelemetryStats TokenCount TokenCounter TokenUsage TokenizerUnavailableError "
        "UnknownModelError __version__ configure_otel count_message_tokens count_tokens get_settings "
        "open_ledger "
    ),
    "llm_cost_hooks.langchain": (
        "CACHE_MARKER_KEY ContextBudgetRunnable CostCallbackHandler FakeChatModelWithUsage "
        "GuardedChatModel LangChainEmbedder PromptCacheBreakpoints ReplayChatModel ReplayMissError "
        "RoutedChatModel SemanticCache add_breakpoints_to_messages anthropic_tools_with_cache cache_scope "
        "install trim_messages uninstall "
    ),
    "llm_cost_hooks.litellm": (
        "CACHE_MARKER_KEY CostAwareRouting CostComparison CostHooksLogger DeferredResponse "
        "LiteLLMBatchClient LiteLLMSemanticCache PromptCacheOptions adeduplicated_completion "
        "aguarded_completion completion_or_defer deduplicated_completion guarded_completion install "
        "prepare_request proxy_refusal uninstall usage_from_litellm "
    ),
    "llm_cost_hooks.ledger": (
        "JSONLLedger Ledger LedgerReports LedgerStats MemoryLedger PostgresLedger SQLiteLedger "
        "TaskOutcome format_rows open_ledger render_html_report replay_dead_letters savings_waterfall "
    ),
    "llm_cost_hooks.pricing": (
        "ModelPrice OffPeakPricing OffPeakWindow PRICE_MAP_ENV PRICE_OVERRIDES_ENV PriceBook PriceSource "
        "PricedCost RangeTier ResolvedPrice ThresholdTier TokenRates "
    ),
    "llm_cost_hooks.tokens": (
        "TokenCount TokenCounter TokenizerUnavailableError count_message_tokens count_tokens default_counter "
    ),
    "llm_cost_hooks.telemetry": (
        "AttributeLimiter OTelObserver OTelProviders TelemetryStats configure_otel "
    ),
    "llm_cost_hooks.cache": (
        "AnnIndexConfig AuditLog CONTRAST_KINDS CacheBackend CacheConfig CacheCore CacheEntry CacheHit "
        "CacheRequest CacheScope CacheScopeError CacheStats CalibrationPoint CalibrationResult ChatKey "
        "DEFAULT_TENANT DecisionPolicy EmbeddedBackend HoldoutCheck Neighbor PairVerifier RedisBackend "
        "StoredAnswer UNKNOWN_SCOPE answers_equivalent cache_scope calibrate_file calibrate_intents "
        "calibrate_pairs canonical_chat contrast_flags current_scope decode_answer encode_answer "
        "normalize_query operating_point scope_from_metadata "
    ),
    "llm_cost_hooks.embeddings": (
        "CallableEmbedder DEFAULT_MODEL_NAME Embedder EmbeddingModelError OnnxEmbedder default_embedder "
        "normalize_rows "
    ),
    "llm_cost_hooks.routing": (
        "Answer AnswerScorer Attempt BUILTIN_CHECKS BudgetTarget Cascade CascadeOutcome CascadePoint "
        "Check CurvePoint EvalReport FixedTier HashingEmbedder OperatingPoint OutcomeDataError "
        "OutcomeDataset QualityFloor QualityTarget RouteDecision RouteRequest RouterCascade RouterModel "
        "RouterModelError RoutingStrategy Rule RuleRouter ShadowMode ShadowStore StrategyResult "
        "TextSelector TrainedRouter arithmetic_consistent arun_cascade calibrate_router_cascade "
        "check_arithmetic choose_tiers evaluate evaluate_router load_long load_mtbench load_outcomes "
        "load_routellm load_routerbench not_empty not_refusal not_truncated outcomes_from_ledger parses "
        "pick_tiers run_cascade simulate_shadow train_router write_long "
    ),
    "llm_cost_hooks.budget": (
        "AlertEvent AlertKind AlertManager AlertSink AnomalyRule BudgetExceeded CallbackSink "
        "ContextBudget Downgrade DowngradeRequired Fact FailoverSpendStore InProcessSpendStore Limit "
        "LoggingSink MetricHook RedisSpendStore Reservation ReserveOutcome SEGMENTS SegmentBudgets "
        "SpanEventSink SpendGuard SpendJournal SpendRequest SpendStore SpendStoreUnavailable TrimResult "
        "WebhookSink extract_facts fact_clauses segment_of "
    ),
    "llm_cost_hooks.dedup": (
        "BreakerState CircuitBreaker CircuitOpenError DeduplicatedCallFailed Flight IDEMPOTENCY_KEY "
        "RedisSingleFlight RetryBudget RetryBudgetExhausted RetryState SingleFlight idempotency_key "
        "request_key "
    ),
    "llm_cost_hooks.batch": (
        "Backoff BatchBackend BatchError BatchJob BatchQueue BatchRequest BatchResult "
        "DEFERRABLE_KEY JobStatus ResultStatus is_deferrable to_jsonl "
    ),
    "llm_cost_hooks.prompt_cache": (
        "ANTHROPIC_MAX_BREAKPOINTS BreakpointEconomics BreakpointInfo BreakpointReport "
        "CACHE_WRITE_PREMIUM_TAG CacheMode CacheRule ContentCapture DEFAULT_CACHE_RULES "
        "DuplicateInstruction ExportSummary FewShotExample FineTuneBreakEven LexicalEmbedder "
        "PrefixReportRow PromptAudit PromptStability ResolvedCacheRule SelfHostBreakEven "
        "TRAINING_USD_PER_MTOK TrafficProfile add_cache_breakpoints analyze_prompt analyze_request "
        "audit_prompt audit_prompts breakpoint_economics export_finetune fine_tune_breakeven "
        "prefix_cache_savings prefix_report redact_pii resolve_cache_rule self_host_breakeven "
        "traffic_from_records "
    ),
    "llm_cost_hooks.prompts": (
        "PromptCostChange PromptCostEstimate PromptPart PromptRegistry RegisteredPrompt default_registry "
        "discover_prompts estimate_pr_cost prompt_tokens register_prompt "
    ),
}


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_names_resolve_and_are_documented(package: str) -> None:
    mod = importlib.import_module(package)
    assert mod.__all__ == sorted(mod.__all__) or package != "llm_cost_hooks"
    assert len(set(mod.__all__)) == len(mod.__all__), "duplicates in __all__"
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{package}.{name} has no docstring"
            assert obj.__module__.startswith("llm_cost_hooks"), f"{package}.{name} is not ours"


def test_top_level_reexports_are_the_same_objects() -> None:
    from llm_cost_hooks import _errors, _records, ledger, pricing, tokens

    assert llm_cost_hooks.CostRecord is _records.CostRecord
    assert llm_cost_hooks.PriceBook is pricing.PriceBook
    assert llm_cost_hooks.SQLiteLedger is ledger.SQLiteLedger
    assert llm_cost_hooks.TokenCounter is tokens.TokenCounter
    for name in _errors.__all__:
        assert name in llm_cost_hooks.__all__


def test_public_names_not_in_all_are_private() -> None:
    public = {n for n in dir(llm_cost_hooks) if not n.startswith("_")}
    submodules = {
        "ledger",
        "pricing",
        "tokens",
        "langchain",
        "cli",
        "telemetry",
        "cache",
        "routing",
        "budget",
        "dedup",
        "batch",
        "prompt_cache",
        "litellm",
        "embeddings",
        "annotations",
        "prompts",
        "tracking",
    }
    assert public - submodules <= set(llm_cost_hooks.__all__)
    with pytest.raises(AttributeError):
        llm_cost_hooks.NoSuchThing  # noqa: B018


def test_exception_tree() -> None:
    from llm_cost_hooks import _errors

    for name in _errors.__all__:
        assert issubclass(getattr(_errors, name), _errors.LLMCostHooksError), name
    # secondary bases are part of the contract: code that catches these keeps working
    secondary = {
        "ConfigurationError": ValueError,
        "InvalidUsageError": ValueError,
        "OutcomeDataError": ValueError,
        "RouterModelError": ValueError,
        "UnknownModelError": KeyError,
        "ReplayMissError": KeyError,
        "MissingExtraError": ImportError,
        "TokenizerUnavailableError": RuntimeError,
        "BatchError": RuntimeError,
    }
    for name, base in secondary.items():
        assert issubclass(getattr(_errors, name), base), (name, base)
    assert issubclass(_errors.DowngradeRequired, _errors.BudgetExceeded)
    err = _errors.MissingExtraError("redis", "redisvl", "The Redis cache backend")
    assert "pip install 'llm-cost-hooks[redis]'" in str(err)
    assert str(_errors.ReplayMissError("not in the outcomes")) == "not in the outcomes"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_public_exception_lives_in_errors(package: str) -> None:
    """One exception module: a subpackage re-exports its errors, it does not define them."""
    from llm_cost_hooks import _errors

    mod = importlib.import_module(package)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert obj.__module__ == "llm_cost_hooks._errors", (
                f"{package}.{name} is defined in {obj.__module__}"
            )
            assert getattr(_errors, name) is obj
            assert name in _errors.__all__
            assert getattr(llm_cost_hooks, name) is obj, f"{name} is not exported by llm_cost_hooks"


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_curated_surface(package: str) -> None:
    mod = importlib.import_module(package)
    expected = set(SURFACE[package].split())
    added = sorted(set(mod.__all__) - expected)
    removed = sorted(expected - set(mod.__all__))
    assert not added and not removed, f"{package}: public names added {added}, removed {removed}"


def _type_checking_names(init: Path) -> dict[str, str]:
    """``name -> module`` imported under ``if TYPE_CHECKING`` in a package ``__init__``."""
    tree = ast.parse(init.read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and "TYPE_CHECKING" in node.test.id:
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.ImportFrom):
                    for alias in stmt.names:
                        names[alias.asname or alias.name] = "." * stmt.level + (stmt.module or "")
    return names


LAZY_PACKAGES = [
    p
    for p in PUBLIC_PACKAGES
    if "install_lazy_exports(" in Path(str(importlib.util.find_spec(p).origin)).read_text()
]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_type_checking_block_names_every_lazy_export(package: str) -> None:
    """Editors and mypy see lazy names only through the ``TYPE_CHECKING`` block: it must
    name every exported name, from the module the name really comes from."""
    mod = importlib.import_module(package)
    seen = _type_checking_names(Path(mod.__file__))
    missing = sorted(set(mod.__all__) - set(seen) - {"__version__"})
    assert not missing, f"{package}: TYPE_CHECKING block misses {missing}"
    for name, module in seen.items():
        target = importlib.import_module(module, package) if module.strip(".") else mod
        assert getattr(target, name) is getattr(mod, name), (
            f"{package}.{name}: TYPE_CHECKING imports another object"
        )


def _fresh_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    return set(json.loads(out.strip().splitlines()[-1]))


def test_core_import_is_light() -> None:
    mods = _fresh_modules("import llm_cost_hooks")
    for heavy in (
        "litellm",
        "langchain_core",
        "tiktoken",
        "pydantic_settings",
        "opentelemetry",
        "redis",
        "onnxruntime",
    ):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in mods), heavy


def test_adapter_never_imports_litellm() -> None:
    mods = _fresh_modules(
        "from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage\n"
        "h = CostCallbackHandler(ledger='memory://')\n"
        "FakeChatModelWithUsage().invoke('hi', config={'callbacks': [h]})\n"
        "assert h.records()[0].cost_usd > 0"
    )
    assert "litellm" not in mods
    assert "langchain_core" in mods
