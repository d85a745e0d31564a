"""The exception tree of llm-cost-hooks: every public exception class is defined here.

Every error the package raises on purpose derives from :class:`LLMCostHooksError`, so
``except LLMCostHooksError`` catches all of them. Errors caused by bad input also derive
from :class:`ValueError` (or :class:`ImportError` for a missing extra, :class:`KeyError`
for a missing key, :class:`RuntimeError` for a broken resource) so code that already
catches those keeps working. The subpackages re-export the errors of their area (e.g.
``llm_cost_hooks.dedup.CircuitOpenError``); they are the same classes.

::

    LLMCostHooksError
    ├── ConfigurationError (ValueError)
    │   ├── CacheScopeError
    │   ├── PriceOverrideError
    │   ├── SettingsError
    │   ├── OutcomeDataError
    │   └── RouterModelError
    ├── InvalidUsageError (ValueError)
    ├── UnknownModelError (KeyError)
    ├── ReplayMissError (KeyError)
    ├── LedgerError
    ├── PriceMapUpdateError
    ├── MissingExtraError (ImportError)
    ├── TokenizerUnavailableError (RuntimeError)
    ├── EmbeddingModelError
    ├── BudgetExceeded
    │   └── DowngradeRequired
    ├── SpendStoreUnavailable
    ├── CircuitOpenError
    ├── RetryBudgetExhausted
    ├── DeduplicatedCallFailed
    └── BatchError (RuntimeError)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a runtime import would load the budget package with every error
    from .budget._limits import Downgrade

__all__ = [
    "BatchError",
    "BudgetExceeded",
    "CacheScopeError",
    "CircuitOpenError",
    "ConfigurationError",
    "DeduplicatedCallFailed",
    "DowngradeRequired",
    "EmbeddingModelError",
    "InvalidUsageError",
    "LLMCostHooksError",
    "LedgerError",
    "MissingExtraError",
    "OutcomeDataError",
    "PriceMapUpdateError",
    "PriceOverrideError",
    "ReplayMissError",
    "RetryBudgetExhausted",
    "RouterModelError",
    "SettingsError",
    "SpendStoreUnavailable",
    "TokenizerUnavailableError",
    "UnknownModelError",
]


class LLMCostHooksError(Exception):
    """Base class of every error raised by llm-cost-hooks.

    >>> from llm_cost_hooks import PriceBook
    >>> try:
    ...     PriceBook(overrides={"my-llm": {"input_per_million": 1, "output_per_million": 2}}).lookup("my-lm")
    ... except LLMCostHooksError as exc:
    ...     print(type(exc).__name__)
    UnknownModelError
    """


class ConfigurationError(LLMCostHooksError, ValueError):
    """A setting, argument or metadata value has the wrong type or value.

    >>> from llm_cost_hooks.ledger import open_ledger
    >>> try:
    ...     open_ledger("ftp://costs.example.com/ledger")
    ... except ConfigurationError as exc:
    ...     print(exc)
    Unknown ledger URL ftp://...; use sqlite:///path.db, jsonl:///path.jsonl, postgresql://user@host/db or memory://.
    """


class CacheScopeError(ConfigurationError):
    """A cache scope value the cache cannot partition by (e.g. a tenant id given as a
    dict): pass a string or a number.

    >>> from llm_cost_hooks.cache import scope_from_metadata
    >>> try:
    ...     scope_from_metadata({"tenant_id": {"id": 7}})
    ... except CacheScopeError as exc:
    ...     print(exc)
    metadata['tenant_id'] is a dict; this call is treated as naming no tenant and bypasses the cache and dedup: pass the tenant id as text, e.g. metadata={'tenant_id': 'acme'}.
    """


class InvalidUsageError(LLMCostHooksError, ValueError):
    """Token counts that cannot be priced (negative, non-integer, inconsistent).

    >>> from llm_cost_hooks import TokenUsage
    >>> try:
    ...     TokenUsage(input_tokens=10, cache_read_tokens=20)
    ... except InvalidUsageError as exc:
    ...     print(exc)
    cache_read_tokens + cache_write_tokens (20 + 0) exceed input_tokens (10); cached tokens are counted inside input_tokens.
    """


class UnknownModelError(LLMCostHooksError, KeyError):
    """The price book has no price for a model.

    ``suggestions`` holds the closest known model names.

    >>> from llm_cost_hooks import PriceBook
    >>> try:
    ...     PriceBook.default().lookup("gpt-4o-mni")
    ... except UnknownModelError as exc:
    ...     print(exc.suggestions[0])
    gpt-4o-mini
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
    """A price override (dict, YAML or JSON file) is malformed; the message names the
    model, the field and the fix.

    >>> from llm_cost_hooks import PriceBook
    >>> try:
    ...     PriceBook(overrides={"my-model": {"input": 0.5}})
    ... except PriceOverrideError as exc:
    ...     print(str(exc)[:70])
    price overrides (dict), model 'my-model', field 'input': unknown field
    """


class LedgerError(LLMCostHooksError):
    """The ledger cannot be opened or written (bad path, not writable).

    >>> from llm_cost_hooks.ledger import LedgerReports
    >>> try:
    ...     LedgerReports.open("no_such_ledger.db")
    ... except LedgerError as exc:
    ...     print(exc)
    No ledger file at 'no_such_ledger.db'.
    """


class PriceMapUpdateError(LLMCostHooksError):
    """``llm-cost prices update`` could not fetch a usable price map (network, HTTP
    status, not a LiteLLM price map); the map in use is left as it was.

    >>> from llm_cost_hooks.pricing._cli import update_price_map
    >>> try:
    ...     update_price_map("file:///no/such/map.json")
    ... except PriceMapUpdateError as exc:
    ...     print(str(exc)[-34:])
    the price map in use is unchanged.
    """


class MissingExtraError(LLMCostHooksError, ImportError):
    """An optional backend is used but its extra is not installed.

    It is an :class:`ImportError` whose message names the ``pip install`` line:

    >>> str(MissingExtraError("redis", "redis", "The Redis cache backend"))
    "The Redis cache backend needs the optional dependency 'redis'. Install it with: pip install 'llm-cost-hooks[redis]'"
    """

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
    value that cannot be used. ``variable`` names it; the message gives the expected form.

    >>> from llm_cost_hooks import Settings
    >>> try:
    ...     Settings(exit_timeout="soon")
    ... except SettingsError as exc:
    ...     print(exc.variable)
    exit_timeout
    """

    def __init__(self, message: str, *, variable: str) -> None:
        self.variable = variable
        super().__init__(message)


# --- budgets and reliability ---------------------------------------------------------


class DowngradeRequired(BudgetExceeded):
    """Raised by :meth:`SpendGuard.reserve` when a limit's policy is ``downgrade``;
    a router catches it (or calls ``try_reserve``) and uses ``downgrade.to_model``.

    An example is under :class:`~llm_cost_hooks.budget.Downgrade`. It is a
    :class:`BudgetExceeded`, so code that only stops on budgets needs no change:

    >>> issubclass(DowngradeRequired, BudgetExceeded)
    True
    """

    def __init__(self, downgrade: Downgrade) -> None:
        e = downgrade.error
        super().__init__(
            e.limit_name,
            limit=e.limit,
            spent=e.spent,
            requested=e.requested,
            unit=e.unit,
            resets_at=e.resets_at,
        )
        self.downgrade = downgrade
        target = downgrade.to_model or "a cheaper tier"
        self.args = (f"{self.args[0]} Policy: downgrade {downgrade.from_model!r} to {target}.",)


class SpendStoreUnavailable(LLMCostHooksError):
    """The shared spend store cannot be reached and the guard is fail-closed
    (``FailoverSpendStore(..., fail_mode="closed")``); the call was not made.

    >>> from llm_cost_hooks.budget import (AlertManager, FailoverSpendStore, Limit, RedisSpendStore,
    ...                                    SpendGuard, SpendRequest)
    >>> store = FailoverSpendStore(RedisSpendStore("redis://127.0.0.1:1"), fail_mode="closed", journal=None)
    >>> guard = SpendGuard([Limit.usd(10, per="day")], store=store, alerts=AlertManager(log=False))
    >>> try:  # nothing listens on port 1
    ...     guard.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=100, tenant="acme"))
    ... except SpendStoreUnavailable as exc:
    ...     print(exc)
    the shared spend store is unreachable and fail_mode='closed'; no call is made.
    """


class CircuitOpenError(LLMCostHooksError):
    """The model's circuit is open: the call was not made."""

    def __init__(self, model: str, retry_in: float) -> None:
        self.model = model
        self.retry_in = retry_in
        super().__init__(
            f"Circuit for model {model!r} is open after repeated failures; not calling it. "
            f"A probe is allowed in {max(retry_in, 0):.1f}s; route to another tier meanwhile."
        )


class RetryBudgetExhausted(LLMCostHooksError):
    """A task's retry budget (attempts or dollars) is used up; ``__cause__`` is the last error.

    :class:`~llm_cost_hooks.RetryBudget` only answers ``can_retry``; your retry loop raises
    this when it says no:

    >>> from llm_cost_hooks import RetryBudget
    >>> budget = RetryBudget(max_attempts=2)
    >>> state = budget.state("task-7")
    >>> try:
    ...     for attempt in range(5):
    ...         if attempt and not budget.can_retry(state):
    ...             raise RetryBudgetExhausted(f"task-7: {state.attempts} attempts") from TimeoutError()
    ...         budget.record(state, 0.001)  # the attempt, which timed out
    ... except RetryBudgetExhausted as exc:
    ...     print(exc, type(exc.__cause__).__name__)
    task-7: 2 attempts TimeoutError
    """


class DeduplicatedCallFailed(LLMCostHooksError):
    """The shared call this request waited on (in another process) failed.

    >>> exc = DeduplicatedCallFailed("llmch:req:3f9a", "RateLimitError", "429 Too Many Requests")
    >>> print(exc)
    The deduplicated call 'llmch:req:3f9a' failed upstream: RateLimitError: 429 Too Many Requests
    >>> exc.error_type
    'RateLimitError'
    """

    def __init__(self, key: str, error_type: str, message: str) -> None:
        self.key = key
        self.error_type = error_type
        super().__init__(f"The deduplicated call {key[:24]!r} failed upstream: {error_type}: {message}")


class BatchError(LLMCostHooksError, RuntimeError):
    """A batch-level error recorded on a result (not raised to the caller); a failed
    :class:`~llm_cost_hooks.batch.BatchResult` carries its text in ``error``.

    >>> issubclass(BatchError, RuntimeError)
    True
    """


# --- resources, data and models -------------------------------------------------------


class TokenizerUnavailableError(LLMCostHooksError, RuntimeError):
    """The bundled tokenizer files are missing or damaged.

    >>> from llm_cost_hooks.tokens import TokenCounter
    >>> try:
    ...     TokenCounter(bundled_dir="empty_dir").count_text("Hello", model="gpt-4o")
    ... except TokenizerUnavailableError as exc:
    ...     print(str(exc)[:32])
    Tokenizer file for o200k_base no
    """


class EmbeddingModelError(LLMCostHooksError):
    """The embedding model file is missing, altered or does not match its tokenizer.

    >>> from llm_cost_hooks.embeddings import OnnxEmbedder
    >>> try:
    ...     OnnxEmbedder("missing.onnx")
    ... except EmbeddingModelError as exc:
    ...     print(str(exc)[:44])
    embedding model file 'missing.onnx' does not
    """


class OutcomeDataError(ConfigurationError):
    """An outcomes file is malformed: names the file, row and column to fix."""


class RouterModelError(ConfigurationError):
    """A saved router cannot be loaded (missing/corrupt files, different embedder).

    >>> from llm_cost_hooks.routing import TrainedRouter
    >>> try:
    ...     TrainedRouter.load("no_router_here")
    ... except RouterModelError as exc:
    ...     print(exc)
    no_router_here/router.json is missing; train one with `llm-cost route train DATA --out no_router_here`.
    """


class ReplayMissError(LLMCostHooksError, KeyError):
    """The request's prompt is not in the outcomes file (a
    :class:`~llm_cost_hooks.langchain.ReplayChatModel` replays only recorded prompts). It is
    a :class:`KeyError`:

    >>> try:
    ...     raise ReplayMissError("prompt not in the outcomes: 'What is 2+2?'...")
    ... except KeyError as exc:
    ...     print(exc)
    prompt not in the outcomes: 'What is 2+2?'...
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])
