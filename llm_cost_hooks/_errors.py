"""The exception tree of llm-cost-hooks.

Every error the package raises on purpose derives from :class:`LLMCostHooksError`, so
``except LLMCostHooksError`` catches all of them. Errors caused by bad input also derive
from :class:`ValueError` (or :class:`ImportError` for a missing extra) so code that
already catches those keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = [
    "BudgetExceeded",
    "CacheScopeError",
    "ConfigurationError",
    "InvalidUsageError",
    "LLMCostHooksError",
    "LedgerError",
    "MissingExtraError",
    "PriceMapUpdateError",
    "PriceOverrideError",
    "SettingsError",
    "UnknownModelError",
]


class LLMCostHooksError(Exception):
    """Base class of every error raised by llm-cost-hooks."""


class ConfigurationError(LLMCostHooksError, ValueError):
    """A setting, argument or metadata value has the wrong type or value."""


class CacheScopeError(ConfigurationError):
    """A cache scope value the cache cannot partition by (e.g. a tenant id given as a
    dict): pass a string or a number."""


class InvalidUsageError(LLMCostHooksError, ValueError):
    """Token counts that cannot be priced (negative, non-integer, inconsistent)."""


class UnknownModelError(LLMCostHooksError, KeyError):
    """The price book has no price for a model.

    ``suggestions`` holds the closest known model names.
    """

    def __init__(self, model: str, suggestions: Sequence[str] = ()) -> None:
        self.model = model
        self.suggestions = list(suggestions)
        hint = f" Closest known names: {', '.join(self.suggestions)}." if self.suggestions else ""
        message = (
            f"No price for model {model!r}.{hint} Give a price with "
            "PriceBook(overrides={...}) or LLM_COST_HOOKS_PRICE_OVERRIDES=path.yaml, "
            "or set a fallback price to record it as estimated."
        )
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PriceOverrideError(ConfigurationError):
    """A price override (dict, YAML or JSON file) is malformed."""


class LedgerError(LLMCostHooksError):
    """The ledger cannot be opened or written (bad path, not writable)."""


class PriceMapUpdateError(LLMCostHooksError):
    """``llm-cost prices update`` could not fetch a usable price map (network, HTTP
    status, not a LiteLLM price map); the map in use is left as it was."""


class MissingExtraError(LLMCostHooksError, ImportError):
    """An optional backend is used but its extra is not installed."""

    def __init__(self, extra: str, module: str, purpose: str) -> None:
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional dependency {module!r}. "
            f"Install it with: pip install 'llm-cost-hooks[{extra}]'",
            name=module,
        )


class BudgetExceeded(LLMCostHooksError):
    """A spend or token limit would be exceeded by a request.

    Carries which limit, how much is left and when the period resets.
    """

    def __init__(
        self,
        limit_name: str,
        *,
        limit: float,
        spent: float,
        requested: float,
        unit: str = "USD",
        resets_at: datetime | None = None,
    ) -> None:
        self.limit_name = limit_name
        self.limit = limit
        self.spent = spent
        self.requested = requested
        self.unit = unit
        self.resets_at = resets_at
        left = max(limit - spent, 0.0)
        reset = f"; resets at {resets_at.isoformat()}" if resets_at else ""
        super().__init__(
            f"Budget {limit_name!r} exceeded: this request needs {requested:g} {unit} "
            f"but only {left:g} of {limit:g} {unit} is left{reset}."
        )


class SettingsError(ConfigurationError):
    """An ``LLM_COST_HOOKS_*`` environment variable (or a :class:`Settings` argument) has a
    value that cannot be used. ``variable`` names it; the message gives the expected form."""

    def __init__(self, message: str, *, variable: str) -> None:
        self.variable = variable
        super().__init__(message)
