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
    # errors: the whole tree (llm_cost_hooks._errors)
    "LLMCostHooksError": "._errors",
    "ConfigurationError": "._errors",
    "CacheScopeError": "._errors",
    "InvalidUsageError": "._errors",
    "UnknownModelError": "._errors",
    "PriceOverrideError": "._errors",
    "PriceMapUpdateError": "._errors",
    "SettingsError": "._errors",
    "LedgerError": "._errors",
    "MissingExtraError": "._errors",
    "BudgetExceeded": "._errors",
    "DowngradeRequired": "._errors",
    "SpendStoreUnavailable": "._errors",
    "CircuitOpenError": "._errors",
    "RetryBudgetExhausted": "._errors",
    "DeduplicatedCallFailed": "._errors",
    "BatchError": "._errors",
    "TokenizerUnavailableError": "._errors",
    "EmbeddingModelError": "._errors",
    "OutcomeDataError": "._errors",
    "RouterModelError": "._errors",
    "ReplayMissError": "._errors",
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
    "AlertManager": ".budget",
    "SingleFlight": ".dedup",
    "RedisSingleFlight": ".dedup",
    "RetryBudget": ".dedup",
    "CircuitBreaker": ".dedup",
    "BatchQueue": ".batch",
}

__all__ = sorted([*_EXPORTS, "__version__"])


_install_lazy_exports(globals(), _EXPORTS)

if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs: every name of _EXPORTS
    # "X as X": an explicit re-export, since mypy cannot read the computed __all__
    from ._errors import BatchError as BatchError
    from ._errors import BudgetExceeded as BudgetExceeded
    from ._errors import CacheScopeError as CacheScopeError
    from ._errors import CircuitOpenError as CircuitOpenError
    from ._errors import ConfigurationError as ConfigurationError
    from ._errors import DeduplicatedCallFailed as DeduplicatedCallFailed
    from ._errors import DowngradeRequired as DowngradeRequired
    from ._errors import EmbeddingModelError as EmbeddingModelError
    from ._errors import InvalidUsageError as InvalidUsageError
    from ._errors import LedgerError as LedgerError
    from ._errors import LLMCostHooksError as LLMCostHooksError
    from ._errors import MissingExtraError as MissingExtraError
    from ._errors import OutcomeDataError as OutcomeDataError
    from ._errors import PriceMapUpdateError as PriceMapUpdateError
    from ._errors import PriceOverrideError as PriceOverrideError
    from ._errors import ReplayMissError as ReplayMissError
    from ._errors import RetryBudgetExhausted as RetryBudgetExhausted
    from ._errors import RouterModelError as RouterModelError
    from ._errors import SettingsError as SettingsError
    from ._errors import SpendStoreUnavailable as SpendStoreUnavailable
    from ._errors import TokenizerUnavailableError as TokenizerUnavailableError
    from ._errors import UnknownModelError as UnknownModelError
    from ._records import CacheStatus as CacheStatus
    from ._records import CostBreakdown as CostBreakdown
    from ._records import CostRecord as CostRecord
    from ._records import TokenUsage as TokenUsage
    from ._settings import Settings as Settings
    from ._settings import get_settings as get_settings
    from .batch import BatchQueue as BatchQueue
    from .budget import AlertManager as AlertManager
    from .budget import ContextBudget as ContextBudget
    from .budget import Downgrade as Downgrade
    from .budget import Limit as Limit
    from .budget import SegmentBudgets as SegmentBudgets
    from .budget import SpendGuard as SpendGuard
    from .budget import SpendRequest as SpendRequest
    from .cache import CacheConfig as CacheConfig
    from .cache import CacheScope as CacheScope
    from .dedup import CircuitBreaker as CircuitBreaker
    from .dedup import RedisSingleFlight as RedisSingleFlight
    from .dedup import RetryBudget as RetryBudget
    from .dedup import SingleFlight as SingleFlight
    from .ledger import JSONLLedger as JSONLLedger
    from .ledger import Ledger as Ledger
    from .ledger import LedgerReports as LedgerReports
    from .ledger import LedgerStats as LedgerStats
    from .ledger import MemoryLedger as MemoryLedger
    from .ledger import SQLiteLedger as SQLiteLedger
    from .ledger import TaskOutcome as TaskOutcome
    from .ledger import open_ledger as open_ledger
    from .pricing import ModelPrice as ModelPrice
    from .pricing import PriceBook as PriceBook
    from .telemetry import OTelObserver as OTelObserver
    from .telemetry import TelemetryStats as TelemetryStats
    from .telemetry import configure_otel as configure_otel
    from .tokens import TokenCount as TokenCount
    from .tokens import TokenCounter as TokenCounter
    from .tokens import count_message_tokens as count_message_tokens
    from .tokens import count_tokens as count_tokens
    from .tracking import CostTracker as CostTracker
    from .tracking import RunInfo as RunInfo
    from .tracking import RunKind as RunKind
    from .tracking import RunObserver as RunObserver
    from .tracking import TaskState as TaskState
