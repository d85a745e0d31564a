"""llm-cost-hooks: attribute and cut the cost of LangChain and LiteLLM applications.

The framework-free core lives here; the adapters are ``llm_cost_hooks.langchain`` and
``llm_cost_hooks.litellm``. Public names are loaded on first use, so ``import
llm_cost_hooks`` stays cheap (no price map, tokenizer, LangChain or LiteLLM import).

>>> import llm_cost_hooks
>>> llm_cost_hooks.TokenUsage(input_tokens=10, output_tokens=2).total_tokens
12
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._lazy import install_lazy_exports as _install_lazy_exports

__version__ = "0.1.0"

# name -> private module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "LLMCostHooksError": "._errors",
    "ConfigurationError": "._errors",
    "InvalidUsageError": "._errors",
    "UnknownModelError": "._errors",
    "PriceOverrideError": "._errors",
    "PriceMapUpdateError": "._errors",
    "SettingsError": "._errors",
    "LedgerError": "._errors",
    "MissingExtraError": "._errors",
    "BudgetExceeded": "._errors",
    "CacheScopeError": "._errors",
    # records
    "CacheStatus": "._records",
    "CostBreakdown": "._records",
    "CostRecord": "._records",
    "TokenUsage": "._records",
    # settings
    "Settings": "._settings",
    "get_settings": "._settings",
    # tracking
    "CostTracker": ".tracking",
    "RunInfo": ".tracking",
    "RunKind": ".tracking",
    "RunObserver": ".tracking",
    "TaskState": ".tracking",
    # ledger
    "Ledger": ".ledger",
    "SQLiteLedger": ".ledger",
    "MemoryLedger": ".ledger",
    "JSONLLedger": ".ledger",
    "LedgerReports": ".ledger",
    "LedgerStats": ".ledger",
    "TaskOutcome": ".ledger",
    "open_ledger": ".ledger",
    # pricing and tokens
    "PriceBook": ".pricing",
    "ModelPrice": ".pricing",
    "TokenCounter": ".tokens",
    "TokenCount": ".tokens",
    "count_tokens": ".tokens",
    "count_message_tokens": ".tokens",
    # capabilities (framework-free cores)
    "OTelObserver": ".telemetry",
    "configure_otel": ".telemetry",
    "TelemetryStats": ".telemetry",
    "CacheConfig": ".cache",
    "CacheScope": ".cache",
    "ContextBudget": ".budget",
    "SegmentBudgets": ".budget",
    "SpendGuard": ".budget",
    "Limit": ".budget",
    "SpendRequest": ".budget",
    "Downgrade": ".budget",
    "DowngradeRequired": ".budget",
    "SpendStoreUnavailable": ".budget",
    "AlertManager": ".budget",
    "SingleFlight": ".dedup",
    "RedisSingleFlight": ".dedup",
    "RetryBudget": ".dedup",
    "CircuitBreaker": ".dedup",
    "CircuitOpenError": ".dedup",
    "BatchQueue": ".batch",
    "is_deferrable": ".batch",
}

__all__ = sorted([*_EXPORTS, "__version__"])


_install_lazy_exports(globals(), _EXPORTS)

if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._errors import (
        BudgetExceeded,
        CacheScopeError,
        ConfigurationError,
        InvalidUsageError,
        LedgerError,
        LLMCostHooksError,
        MissingExtraError,
        PriceOverrideError,
        SettingsError,
        UnknownModelError,
    )
    from ._records import CacheStatus, CostBreakdown, CostRecord, TokenUsage
    from ._settings import Settings, get_settings
    from .ledger import (
        JSONLLedger,
        Ledger,
        LedgerReports,
        LedgerStats,
        MemoryLedger,
        SQLiteLedger,
        TaskOutcome,
        open_ledger,
    )
    from .pricing import ModelPrice, PriceBook
    from .tokens import TokenCount, TokenCounter, count_message_tokens, count_tokens
    from .tracking import CostTracker, RunInfo, RunKind, RunObserver, TaskState
