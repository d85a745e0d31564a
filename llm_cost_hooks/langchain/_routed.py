"""RoutedChatModel: one LangChain chat model over several real ones of different prices.

Each request goes to the tier a :mod:`llm_cost_hooks.routing` strategy picks (rules, a
trained router, a cascade), under an optional per-feature quality floor. The chosen
tier runs as a *child* model run (metadata ``route=<tier>``), so
:class:`~llm_cost_hooks.langchain.CostCallbackHandler` records it with its real model
and price; the router's own run is marked ``delegated`` in ``response_metadata`` and
the handler writes no record for it (no double counting). Failed cascade attempts are
child runs too, so their cost stays in the task's cost.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, ensure_config
from pydantic import ConfigDict, Field, PrivateAttr

from .._errors import BudgetExceeded, ConfigurationError, UnknownModelError
from ..routing._checks import BUILTIN_CHECKS, Answer, Check, arun_cascade, run_cascade
from ..routing._strategies import Cascade, QualityFloor, RouteDecision, RouteRequest, RoutingStrategy
from ._callback import ROUTE_MARKER_KEY

__all__ = ["RoutedChatModel"]

logger = logging.getLogger("llm_cost_hooks.routing")

_TOOLS_KW = "_llm_cost_hooks_tools"
_STRUCT_KW = "_llm_cost_hooks_structured"
_PARSED_KEY = "llm_cost_hooks_parsed"
_PROMPT_CACHE_OPTIONS = frozenset({"ttl", "max_breakpoints", "min_tokens", "cache_documents", "price_book"})


def _tier_model_name(model: BaseChatModel) -> tuple[str, str | None]:
    try:
        params = model._get_ls_params()
    except Exception:
        params = {}
    name = params.get("ls_model_name") or getattr(model, "model_name", None) or getattr(model, "model", None)
    return (str(name) if name else type(model).__name__), params.get("ls_provider")


def _text(message: BaseMessage) -> str:
    try:
        return message.text if isinstance(message.text, str) else str(message.text())  # type: ignore[operator]
    except Exception:
        return str(message.content)


def _child_manager(run_manager: Any) -> Any:
    """Callbacks for a child run of a model run (LLM run managers have no get_child();
    this mirrors ParentRunManager.get_child)."""
    if isinstance(run_manager, _StreamParent):
        return run_manager.child()
    cls = AsyncCallbackManager if isinstance(run_manager, AsyncCallbackManagerForLLMRun) else CallbackManager
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


class _RunCapture(BaseCallbackHandler):
    """Learns the run id of the router's own run when streaming: langchain_core's
    ``stream()`` does not hand ``_stream`` its run manager, so tier calls would otherwise
    not be child runs (and the cost handler would not see them)."""

    run_inline = True

    def __init__(self) -> None:
        self.run_id: Any = None

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any) -> None:
        if self.run_id is None:
            self.run_id = run_id


class _StreamParent:
    """What ``_stream`` needs of the router's run: its metadata and child callbacks."""

    def __init__(self, config: RunnableConfig, capture: _RunCapture, async_: bool) -> None:
        self.config = config
        self.capture = capture
        self.async_ = async_
        self.metadata = dict(config.get("metadata") or {})

    def child(self) -> Any:
        cls = AsyncCallbackManager if self.async_ else CallbackManager
        manager = cls.configure(
            self.config.get("callbacks"),
            None,
            False,
            self.config.get("tags"),
            None,
            self.config.get("metadata"),
            None,
        )
        manager.parent_run_id = self.capture.run_id
        return manager

    async def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:  # stream() reports tokens itself
        return None


_STREAM_PARENT: contextvars.ContextVar[_StreamParent | None] = contextvars.ContextVar(
    "llm_cost_hooks_stream_parent", default=None
)


def _with_capture(config: RunnableConfig) -> tuple[RunnableConfig, _RunCapture]:
    capture = _RunCapture()
    cbs = config.get("callbacks")
    if cbs is None:
        new: Any = [capture]
    elif isinstance(cbs, list):
        new = [*cbs, capture]
    else:
        new = cbs.copy()
        new.add_handler(capture, inherit=False)
    return {**config, "callbacks": new}, capture


class _StreamPlan:
    """Which tier streams next: the decision's tier, then (on an error before the
    first chunk) the others; a spend-limit downgrade moves to a cheaper tier."""

    def __init__(self, owner: RoutedChatModel, decision: RouteDecision, stop: list[str] | None) -> None:
        self.owner = owner
        self.decision = decision
        self.stop = owner._stop(stop)
        self.pending = [decision.tier] + [t for t in owner._order if t != decision.tier]
        self.attempts: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {"prompt_cache": {}, "downgrades": []}
        self.attempt = 0

    def next(self) -> str | None:
        if not self.pending:
            return None
        self.attempt += 1
        return self.pending.pop(0)

    def first_chunk(self, tier: str, piece: AIMessageChunk) -> AIMessageChunk:
        self.attempts.append({"tier": tier, "ok": True})
        failed = [a for a in self.attempts if not a["ok"]]
        route = {
            "tier": tier,
            "reason": self.decision.reason
            if not failed
            else f"{self.decision.reason};fallback after {failed[0]['tier']} errored",
            "attempts": list(self.attempts),
            "checks_passed": True,
            "delegated": True,
            **self.owner._extra_route(tier, self.extra),
        }
        piece = piece.model_copy()
        piece.response_metadata = {**(piece.response_metadata or {}), ROUTE_MARKER_KEY: route}
        return piece

    def failed(self, tier: str, exc: Exception, started: bool) -> BaseException | None:
        """None to try the next tier, else the error to raise."""
        if started:
            return self.owner._mark_delegated(exc)
        if isinstance(exc, BudgetExceeded):
            try:
                cheaper = self.owner._downgrade(tier, exc, self.extra)
            except BudgetExceeded as breach:
                return self.owner._mark_delegated(breach)
            self.pending = [cheaper] + [t for t in self.pending if t != cheaper]
            self.attempt -= 1  # a downgrade is the same attempt on a cheaper tier
            return None
        if not self.pending:
            return self.owner._mark_delegated(exc)
        self.attempts.append({"tier": tier, "ok": False, "reason": f"error:{type(exc).__name__}"})
        return None


_TIER_GUARD: type | None = None


def _tier_guard_class() -> type:
    """GuardedChatModel whose downgrade requests are marked as not sent: the router moves
    the call to a cheaper tier, so the refused tier's run must write no (failed) cost record."""
    global _TIER_GUARD
    if _TIER_GUARD is None:
        from ..budget import DowngradeRequired
        from ._budget import GuardedChatModel

        class _TierGuard(GuardedChatModel):
            def _pick_downgrade(self, d: Any, ctx: Any) -> Any:
                error = DowngradeRequired(d)
                error.llm_cost_hooks_delegated = True  # type: ignore[attr-defined]
                raise error

        _TIER_GUARD = _TierGuard
    return _TIER_GUARD


class RoutedChatModel(BaseChatModel):
    """Sends each request to the cheapest tier that will answer it well enough.

    ``tiers`` maps names to real chat models; they are ordered cheapest first by their
    price-book price (a tier the price book does not know needs ``prices[tier]``, e.g.
    ``{"input_per_million": 0.2, "output_per_million": 0.6}``). ``strategy`` picks the
    tier (default: a :class:`~llm_cost_hooks.routing.Cascade` from the cheapest tier);
    ``quality_floor`` maps a run-metadata ``feature`` to its cheapest allowed tier;
    ``checks`` are extra answer checks (sync or async) run with the built-in ones
    (not empty, not truncated, not a refusal, parses as the requested JSON/schema) when
    a decision has tiers to escalate to. Tool binding and structured output are
    delegated to the chosen tier at call time.

    Call parameters (``temperature``, ``max_tokens``, ``stop``, any other kwargs) are
    forwarded to the chosen tier; this model's own ``temperature`` / ``max_tokens`` /
    ``stop`` are defaults that call-time values override. Once the tier is chosen:
    ``prompt_cache=True`` (or a dict of ``ttl``, ``max_breakpoints``, ``min_tokens``,
    ``cache_documents``, ``price_book``) places provider prompt-cache breakpoints for
    that tier's model; ``context_budget`` (a :class:`~llm_cost_hooks.budget.ContextBudget`)
    trims the request to the route's budgets and clamps ``max_tokens``; ``guard`` (a
    :class:`~llm_cost_hooks.budget.SpendGuard`) reserves and settles the call, and a
    limit with ``on_breach="downgrade"`` moves it to the next cheaper tier (or the
    limit's ``downgrade_to``) instead of raising. Both run through
    :class:`~llm_cost_hooks.langchain.GuardedChatModel` with route = tier.

    Every answer carries ``response_metadata["llm_cost_hooks_route"]``:
    ``{"tier", "reason", "attempts", "checks_passed", "delegated": True}`` plus
    ``downgrades`` and ``prompt_cache`` when those were used.

    ``shadow`` (a :class:`~llm_cost_hooks.routing.ShadowMode`) also asks another tier for
    a budgeted share of plain chat requests, after the answer is ready (the caller waits
    for that second call), judges the pair and records it for ``llm-cost route train
    --from-ledger``; that call runs as route ``shadow:<tier>``.

    >>> from llm_cost_hooks.langchain import FakeChatModelWithUsage
    >>> llm = RoutedChatModel(tiers={
    ...     "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."]),
    ...     "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["Paris!"])})
    >>> llm.invoke("Capital of France?").response_metadata["llm_cost_hooks_route"]["tier"]
    'small'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tiers: dict[str, Any]
    strategy: Any = None
    quality_floor: Any = None
    checks: list[Any] = Field(default_factory=list)
    builtin_checks: bool = True
    prices: dict[str, Any] | None = None
    price_book: Any = None
    model_name: str = "routed"
    # Standard chat-model parameters. temperature, max_tokens and stop are forwarded to
    # the chosen tier as call defaults (call-time kwargs win); timeout and max_retries
    # are client settings each tier keeps (accepted and reported in traces only).
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    timeout: float | None = None
    max_retries: int | None = None
    streaming: bool = False
    prompt_cache: bool | dict[str, Any] = False
    context_budget: Any = None
    guard: Any = None
    shadow: Any = None

    _order: list[str] = PrivateAttr(default_factory=list)
    _tier_prices: dict[str, Any] = PrivateAttr(default_factory=dict)
    _floor: QualityFloor | None = PrivateAttr(default=None)
    _guarded: dict[str, BaseChatModel] = PrivateAttr(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Checked here, not in a pydantic validator, so callers get our typed
        # ConfigurationError rather than a ValidationError wrapping it.
        self._setup()

    def _setup(self) -> RoutedChatModel:
        if not self.tiers:
            raise ConfigurationError("RoutedChatModel needs at least one tier: tiers={'small': model, ...}.")
        for name, model in self.tiers.items():
            if not isinstance(model, BaseChatModel):
                raise ConfigurationError(
                    f"tier {name!r} must be a LangChain chat model (BaseChatModel), got {type(model).__name__}."
                )
        unknown = set(self.prices or {}) - set(self.tiers)
        if unknown:
            raise ConfigurationError(
                f"prices given for unknown tiers {sorted(unknown)}; tiers are {list(self.tiers)}."
            )
        self._tier_prices = {name: self._price_of(name, model) for name, model in self.tiers.items()}
        position = {n: i for i, n in enumerate(self.tiers)}
        self._order = sorted(
            self.tiers,
            key=lambda n: (
                self._tier_prices[n].input_per_token + self._tier_prices[n].output_per_token,
                position[n],
            ),
        )
        if self.strategy is None:
            self.strategy = Cascade()
        if not isinstance(self.strategy, RoutingStrategy):
            raise ConfigurationError(
                f"strategy must be a llm_cost_hooks.routing strategy (RuleRouter, TrainedRouter, Cascade, ...), "
                f"got {type(self.strategy).__name__}."
            )
        self.strategy.check_tiers(self._order)
        if self.quality_floor is None:
            self._floor = None
        elif isinstance(self.quality_floor, QualityFloor):
            self._floor = self.quality_floor
        elif isinstance(self.quality_floor, Mapping):
            self._floor = QualityFloor(dict(self.quality_floor))
        else:
            raise ConfigurationError("quality_floor must be a QualityFloor or a dict {feature: tier}.")
        if self._floor is not None:
            self._floor.check_tiers(self._order)
        if self.shadow is not None:
            from ..routing._shadow import ShadowMode

            if not isinstance(self.shadow, ShadowMode):
                raise ConfigurationError(
                    f"shadow must be a llm_cost_hooks.routing.ShadowMode, got {type(self.shadow).__name__}."
                )
            if self.shadow.tier is not None and self.shadow.tier not in self.tiers:
                raise ConfigurationError(
                    f"ShadowMode tier {self.shadow.tier!r} is not one of the tiers {self._order}."
                )
        for check in self.checks:
            if not callable(check):
                raise ConfigurationError(f"checks must be callables taking an Answer, got {check!r}.")
        if isinstance(self.prompt_cache, Mapping):
            unknown = set(self.prompt_cache) - _PROMPT_CACHE_OPTIONS
            if unknown:
                raise ConfigurationError(
                    f"prompt_cache options {sorted(unknown)} are unknown; use {sorted(_PROMPT_CACHE_OPTIONS)}."
                )
        self._guarded = {}
        if self.context_budget is not None or self.guard is not None:
            from ..budget import ContextBudget, SpendGuard

            if self.context_budget is not None and not isinstance(self.context_budget, ContextBudget):
                raise ConfigurationError(
                    f"context_budget must be a llm_cost_hooks.budget.ContextBudget, got {type(self.context_budget).__name__}."
                )
            if self.guard is not None and not isinstance(self.guard, SpendGuard):
                raise ConfigurationError(
                    f"guard must be a llm_cost_hooks.budget.SpendGuard, got {type(self.guard).__name__}."
                )
            self._guarded = {name: self._wrap(name, model) for name, model in self.tiers.items()}
        return self

    def _wrap(self, tier: str, model: BaseChatModel) -> BaseChatModel:
        """The tier behind the context budget and spend guard, with the route = tier
        (GuardedChatModel trims, clamps max_tokens, reserves and settles; its downgrade
        requests reach us as DowngradeRequired and move the call to a cheaper tier)."""
        if self.context_budget is None and self.guard is None:
            return model
        return _tier_guard_class()(
            inner=model, guard=self.guard, context_budget=self.context_budget, route=tier
        )

    def _price_of(self, tier: str, model: BaseChatModel) -> Any:
        from ..pricing import PriceBook

        name, provider = _tier_model_name(model)
        given = (self.prices or {}).get(tier)
        if given is not None:
            if hasattr(given, "input_per_token"):
                return given
            if not isinstance(given, Mapping):
                raise ConfigurationError(
                    f"prices[{tier!r}] must be a mapping like {{'input_per_million': 0.2, 'output_per_million': 0.6}}."
                )
            return PriceBook(overrides={name: {**dict(given), "replace": True}}).lookup(name)
        replay_price = getattr(model, "blended_price", None)
        if callable(replay_price):
            return replay_price()
        book = self.price_book or PriceBook.default()
        try:
            return book.lookup(name, provider)
        except UnknownModelError:
            raise ConfigurationError(
                f"tier {tier!r} (model {name!r}) has no price in the price book; give one with "
                f"prices={{{tier!r}: {{'input_per_million': ..., 'output_per_million': ...}}}} "
                "or add the model to the price overrides."
            ) from None

    # -- LangChain plumbing -------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "llm-cost-hooks-routed"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "tiers": list(self._order),
            "strategy": type(self.strategy).__name__,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="llm_cost_hooks",
            ls_model_name=str(kwargs.get("model") or self.model_name),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        stop = stop or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    @property
    def tier_order(self) -> list[str]:
        """Tier names, cheapest first."""
        return list(self._order)

    @property
    def tier_prices(self) -> dict[str, Any]:
        """The :class:`~llm_cost_hooks.pricing.ModelPrice` of each tier."""
        return dict(self._tier_prices)

    def price_overrides(self) -> dict[str, dict[str, float]]:
        """Prices given in ``prices``, as price-book overrides keyed by model name (pass them
        to the handler's ``PriceBook(overrides=...)`` so its records use the same prices)."""
        out = {}
        for tier in self.prices or {}:
            name, _ = _tier_model_name(self.tiers[tier])
            p = self._tier_prices[tier]
            out[name] = {
                "input_cost_per_token": p.input_per_token,
                "output_cost_per_token": p.output_per_token,
            }
        return out

    # -- tools and structured output: bound here, applied to the chosen tier ----------------
    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; at call time they are bound to the tier that answers."""
        tool_kwargs = dict(kwargs)
        if tool_choice is not None:
            tool_kwargs["tool_choice"] = tool_choice
        return self.bind(**{_TOOLS_KW: (list(tools), tool_kwargs)})

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output from the chosen tier's own ``with_structured_output``.

        A cascade escalates when the answer does not parse as ``schema``.
        """
        bound = self.bind(**{_STRUCT_KW: (schema, dict(kwargs))})

        def extract(message: BaseMessage) -> Any:
            payload = (message.additional_kwargs or {}).get(_PARSED_KEY) or {}
            parsed, error = payload.get("parsed"), payload.get("parsing_error")
            if include_raw:
                raw = message.model_copy()
                raw.additional_kwargs = {k: v for k, v in raw.additional_kwargs.items() if k != _PARSED_KEY}
                return {"raw": raw, "parsed": parsed, "parsing_error": error}
            if error is not None:
                raise error if isinstance(error, BaseException) else ValueError(str(error))
            return parsed

        return bound | RunnableLambda(extract, name="RoutedStructuredOutput")

    # -- routing ---------------------------------------------------------------------------
    @staticmethod
    def _query(messages: Sequence[BaseMessage], texts: Sequence[str] | None = None) -> str | None:
        texts = [_text(m) for m in messages] if texts is None else texts
        return next(
            (t for m, t in zip(reversed(messages), reversed(texts)) if isinstance(m, HumanMessage)), None
        )

    @staticmethod
    def _context(messages: Sequence[BaseMessage], texts: Sequence[str]) -> str | None:
        """The turn before the last user message (what a short follow-up refers to)."""
        last = next(
            (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), None
        )
        return texts[last - 1] if last is not None and last > 0 else None

    def route(
        self,
        messages: Sequence[BaseMessage],
        metadata: Mapping[str, Any] | None = None,
        *,
        structured: bool = False,
    ) -> RouteDecision:
        """The decision for these messages (without calling any tier)."""
        texts = [_text(m) for m in messages]
        query = self._query(messages, texts)
        request = RouteRequest(
            text="\n".join(texts),
            metadata=dict(metadata or {}),
            structured=structured,
            query=query,
            context=self._context(messages, texts),
        )
        decision = self.strategy.route(request, self._order)
        if decision.tier not in self.tiers:
            raise ConfigurationError(
                f"strategy chose unknown tier {decision.tier!r}; tiers are {self._order}."
            )
        if self._floor is not None:
            decision = self._floor.apply(decision, request, self._order)
        return decision

    def _all_checks(self) -> list[Check]:
        return [*(BUILTIN_CHECKS if self.builtin_checks else ()), *self.checks]

    def _params(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Call parameters for the tier: this model's defaults, then call-time kwargs."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        params.update(kwargs)
        return params

    def _stop(self, stop: list[str] | None) -> list[str] | None:
        return stop if stop is not None else self.stop

    def _prepare(
        self, tier: str, kwargs: dict[str, Any], messages: list[BaseMessage], cache_info: dict[str, Any]
    ) -> tuple[Runnable[Any, Any], list[BaseMessage], dict[str, Any], Any]:
        """(runnable to call, messages to send, call kwargs, structured-output schema)."""
        kwargs = dict(kwargs)
        tools = kwargs.pop(_TOOLS_KW, None)
        structured = kwargs.pop(_STRUCT_KW, None)
        params = self._params(kwargs)
        base = self.tiers[tier]
        if structured is not None and params:
            # with_structured_output returns a chain that takes no call kwargs: set the
            # parameters the tier declares as fields on a copy of it instead.
            fields = type(base).model_fields
            base = base.model_copy(update={k: v for k, v in params.items() if k in fields})
            model: Runnable[Any, Any] = self._wrap(tier, base)
        else:
            model = self._guarded.get(tier, base)
        chat = model
        if tools is not None:
            model = chat.bind_tools(tools[0], **tools[1])  # type: ignore[attr-defined]
        schema = None
        if structured is not None:
            schema = structured[0]
            model = chat.with_structured_output(structured[0], include_raw=True, **structured[1])  # type: ignore[attr-defined]
            params = {}
        messages = self._place_breakpoints(tier, messages, tools, cache_info)
        return model, messages, params, schema

    def _place_breakpoints(
        self, tier: str, messages: list[BaseMessage], tools: Any, cache_info: dict[str, Any]
    ) -> list[BaseMessage]:
        """Provider prompt-cache breakpoints for the chosen tier's model (none for
        providers that cache implicitly). A failure here never breaks the call."""
        if not self.prompt_cache:
            return messages
        options = dict(self.prompt_cache) if isinstance(self.prompt_cache, Mapping) else {}
        name, provider = _tier_model_name(self.tiers[tier])
        try:
            from ._prompt_cache import add_breakpoints_to_messages, anthropic_tools_with_cache

            tool_dicts = anthropic_tools_with_cache(tools[0], mark=False) if tools else None
            placed, report = add_breakpoints_to_messages(
                messages, name, provider=provider, tools=tool_dicts, **options
            )
        except Exception as exc:
            logger.warning(
                "llm-cost-hooks routing: no prompt-cache breakpoints for tier %r (%s): %r", tier, name, exc
            )
            cache_info[tier] = {"breakpoints": 0, "error": type(exc).__name__}
            return messages
        cache_info[tier] = {
            "breakpoints": len(report.breakpoints),
            "cacheable_tokens": report.cacheable_tokens,
            "mode": str(getattr(report.mode, "value", report.mode)),
        }
        return placed

    def _cheaper(self, tier: str, error: BudgetExceeded) -> str:
        """The tier a spend guard's ``downgrade`` policy moves a call to: the limit's
        ``downgrade_to`` (a tier or its model name) when cheaper, else the next cheaper
        tier. Re-raises the breach when there is none."""
        i = self._order.index(tier)
        target = getattr(getattr(error, "downgrade", None), "to_model", None)
        if target:
            for j, name in enumerate(self._order[:i]):
                if target in (name, _tier_model_name(self.tiers[name])[0]):
                    return self._order[j]
        if i == 0:
            raise error
        return self._order[i - 1]

    def _config(self, tier: str, attempt: int, run_manager: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "metadata": {"route": tier, "llm_cost_hooks_attempt": attempt},
            "run_name": f"route:{tier}",
        }
        if attempt > 1:
            config["tags"] = [f"retry:attempt:{attempt}"]
        if run_manager is not None:
            config["callbacks"] = _child_manager(run_manager)
        return config

    @staticmethod
    def _answer(
        tier: str, out: Any, structured: bool, kwargs: Mapping[str, Any], request: str | None = None
    ) -> tuple[AIMessage, Answer]:
        parsed = error = None
        if structured:
            message = out["raw"]
            parsed, error = out.get("parsed"), out.get("parsing_error")
            message = message.model_copy()
            message.additional_kwargs = {
                **message.additional_kwargs,
                _PARSED_KEY: {"parsed": parsed, "parsing_error": error},
            }
            if parsed is None and error is None:
                error = "no structured output"
        else:
            message = out
        rm = message.response_metadata or {}
        fmt = kwargs.get("response_format")
        expects_json = isinstance(fmt, Mapping) and str(fmt.get("type", "")).startswith("json")
        answer = Answer(
            text=_text(message),
            tier=tier,
            finish_reason=rm.get("finish_reason") or rm.get("stop_reason"),
            tool_calls=list(getattr(message, "tool_calls", None) or []),
            expects_json=expects_json or structured,
            parsed=parsed,
            parse_error=None if error is None else str(error),
            raw=message,
            request=request,
        )
        return message, answer

    def _finish(self, decision: RouteDecision, outcome: Any, extra: Mapping[str, Any]) -> ChatResult:
        message: AIMessage = outcome.result
        route = {
            "tier": outcome.tier,
            "reason": outcome.route_reason(decision),
            "attempts": [
                {"tier": a.tier, "ok": a.ok, **({"reason": a.reason} if a.reason else {})}
                for a in outcome.attempts
            ],
            "checks_passed": outcome.checks_passed,
            "delegated": True,
        }
        route.update(self._extra_route(outcome.tier, extra))
        message = message.model_copy()
        message.response_metadata = {**(message.response_metadata or {}), ROUTE_MARKER_KEY: route}
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _extra_route(tier: str, extra: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if extra.get("downgrades"):
            out["downgrades"] = list(extra["downgrades"])
        cache = (extra.get("prompt_cache") or {}).get(tier)
        if cache is not None:
            out["prompt_cache"] = cache
        return out

    @staticmethod
    def _mark_delegated(error: BaseException) -> BaseException:
        try:
            error.llm_cost_hooks_delegated = True  # type: ignore[attr-defined]
        except Exception:
            pass
        return error

    def _metadata(self, run_manager: Any) -> dict[str, Any]:
        return dict(getattr(run_manager, "metadata", None) or {})

    # -- run plumbing for streaming ---------------------------------------------------------
    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # invoke() paths keep _generate (it gets the run manager, so tier calls are child
        # runs); the tier itself still streams to streaming callbacks.
        if run_manager is not None:
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        config = ensure_config(config)
        wrapped, capture = _with_capture(config)
        token = _STREAM_PARENT.set(_StreamParent(config, capture, async_=False))
        try:
            yield from super().stream(input, wrapped, stop=stop, **kwargs)
        finally:
            try:
                _STREAM_PARENT.reset(token)
            except ValueError:  # iterated from another context
                _STREAM_PARENT.set(None)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        config = ensure_config(config)
        wrapped, capture = _with_capture(config)
        token = _STREAM_PARENT.set(_StreamParent(config, capture, async_=True))
        try:
            async for chunk in super().astream(input, wrapped, stop=stop, **kwargs):
                yield chunk
        finally:
            try:
                _STREAM_PARENT.reset(token)
            except ValueError:
                _STREAM_PARENT.set(None)

    # -- sync -------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        structured = _STRUCT_KW in kwargs
        decision = self.route(
            messages, self._metadata(run_manager), structured=structured or _TOOLS_KW in kwargs
        )
        checks = (
            self._all_checks() if decision.escalation else [c for c in self._all_checks() if c in self.checks]
        )
        extra: dict[str, Any] = {"prompt_cache": {}, "downgrades": []}
        stop = self._stop(stop)

        def call(tier: str, attempt: int) -> tuple[AIMessage, Answer]:
            while True:
                model, msgs, params, schema = self._prepare(tier, kwargs, messages, extra["prompt_cache"])
                cfg = self._config(tier, attempt, run_manager)
                try:
                    out = (
                        model.invoke(msgs, config=cfg)
                        if schema is not None
                        else model.invoke(msgs, config=cfg, stop=stop, **params)
                    )
                except BudgetExceeded as exc:
                    tier = self._downgrade(tier, exc, extra)
                    continue
                return self._answer(tier, out, schema is not None, params, self._query(messages))

        try:
            outcome = run_cascade(decision, self._order, call, checks)
        except Exception as exc:
            raise self._mark_delegated(exc) from None
        other = self._shadow_tier(outcome, kwargs)
        if other is not None:
            try:
                out = self.tiers[other].invoke(
                    messages, config=self._shadow_config(other, run_manager), stop=stop
                )
            except Exception as exc:
                self.shadow.call_failed(other, exc)
            else:
                self._shadow_record(messages, outcome, other, out)
        return self._finish(decision, outcome, extra)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        structured = _STRUCT_KW in kwargs
        decision = self.route(
            messages, self._metadata(run_manager), structured=structured or _TOOLS_KW in kwargs
        )
        checks = (
            self._all_checks() if decision.escalation else [c for c in self._all_checks() if c in self.checks]
        )
        extra: dict[str, Any] = {"prompt_cache": {}, "downgrades": []}
        stop = self._stop(stop)

        async def call(tier: str, attempt: int) -> tuple[AIMessage, Answer]:
            while True:
                model, msgs, params, schema = self._prepare(tier, kwargs, messages, extra["prompt_cache"])
                cfg = self._config(tier, attempt, run_manager)
                try:
                    out = await (
                        model.ainvoke(msgs, config=cfg)
                        if schema is not None
                        else model.ainvoke(msgs, config=cfg, stop=stop, **params)
                    )
                except BudgetExceeded as exc:
                    tier = self._downgrade(tier, exc, extra)
                    continue
                return self._answer(tier, out, schema is not None, params, self._query(messages))

        try:
            outcome = await arun_cascade(decision, self._order, call, checks)
        except Exception as exc:
            raise self._mark_delegated(exc) from None
        other = self._shadow_tier(outcome, kwargs)
        if other is not None:
            try:
                out = await self.tiers[other].ainvoke(
                    messages, config=self._shadow_config(other, run_manager), stop=stop
                )
            except Exception as exc:
                self.shadow.call_failed(other, exc)
            else:
                self._shadow_record(messages, outcome, other, out)
        return self._finish(decision, outcome, extra)

    # -- shadow mode ------------------------------------------------------------------------
    def _shadow_tier(self, outcome: Any, kwargs: Mapping[str, Any]) -> str | None:
        if self.shadow is None or _STRUCT_KW in kwargs or _TOOLS_KW in kwargs:
            return None
        return self.shadow.pick(outcome.tier, self._order)  # type: ignore[no-any-return]

    def _shadow_config(self, tier: str, run_manager: Any) -> dict[str, Any]:
        config: dict[str, Any] = {"metadata": {"route": f"shadow:{tier}"}, "run_name": f"shadow:{tier}"}
        if run_manager is not None:
            config["callbacks"] = _child_manager(run_manager)
        return config

    def _call_cost(self, tier: str, message: Any) -> float:
        usage = getattr(message, "usage_metadata", None) or {}
        price = self._tier_prices[tier]
        return (
            int(usage.get("input_tokens", 0)) * price.input_per_token
            + int(usage.get("output_tokens", 0)) * price.output_per_token
        )

    def _shadow_record(self, messages: Sequence[BaseMessage], outcome: Any, other: str, out: Any) -> None:
        try:
            self._shadow_record_unsafe(messages, outcome, other, out)
        except Exception as exc:
            self.shadow.call_failed(other, exc)

    def _shadow_record_unsafe(
        self, messages: Sequence[BaseMessage], outcome: Any, other: str, out: Any
    ) -> None:
        texts = [_text(m) for m in messages]
        query = self._query(messages, texts) or "\n".join(texts)
        chosen = outcome.tier
        answers = {chosen: _text(outcome.result), other: _text(out)}
        # The chosen tier's cost counts every attempt of the cascade that reached it.
        costs = {chosen: self._call_cost(chosen, outcome.result), other: self._call_cost(other, out)}
        models = {t: _tier_model_name(self.tiers[t])[0] for t in answers}
        self.shadow.record(query, self._context(messages, texts), answers, costs, models, explored=other)

    def _downgrade(self, tier: str, error: BudgetExceeded, extra: dict[str, Any]) -> str:
        """Next tier after a spend-limit breach: only a ``downgrade`` policy moves the
        call (to a cheaper tier); any other breach is raised."""
        if not hasattr(error, "downgrade"):
            raise error
        cheaper = self._cheaper(tier, error)
        extra["downgrades"].append({"from": tier, "to": cheaper, "limit": error.downgrade.limit_name})  # type: ignore[attr-defined]
        return cheaper

    # -- streaming ----------------------------------------------------------------------------
    # Without escalation the chosen tier's chunks stream straight through. With a cascade
    # an answer must pass its checks before the caller sees it, so each attempt is
    # buffered and the accepted one is replayed as chunks (documented latency trade-off).
    @staticmethod
    def _as_chunks(result: ChatResult) -> list[ChatGenerationChunk]:
        msg = result.generations[0].message
        chunk = AIMessageChunk(
            content=msg.content,
            id=msg.id,
            response_metadata=dict(msg.response_metadata or {}),
            additional_kwargs=dict(msg.additional_kwargs or {}),
            usage_metadata=getattr(msg, "usage_metadata", None),
            tool_call_chunks=[
                {
                    "name": tc["name"],
                    "args": __import__("json").dumps(tc["args"]),
                    "id": tc.get("id"),
                    "index": i,
                }
                for i, tc in enumerate(getattr(msg, "tool_calls", []) or [])
            ],
        )
        return [ChatGenerationChunk(message=chunk)]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        parent: Any = run_manager if run_manager is not None else _STREAM_PARENT.get()
        notify = run_manager  # stream() reports the router's own tokens itself
        structured = _STRUCT_KW in kwargs
        decision = self.route(messages, self._metadata(parent), structured=structured or _TOOLS_KW in kwargs)
        if decision.escalation or structured or self.checks:
            for chunk in self._as_chunks(self._generate(messages, stop, parent, **kwargs)):
                if notify:
                    notify.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        yield from self._stream_tier(decision, messages, stop, parent, notify, kwargs)

    def _stream_tier(
        self,
        decision: RouteDecision,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: Any,
        notify: Any,
        kwargs: dict[str, Any],
    ) -> Iterator[ChatGenerationChunk]:
        plan = _StreamPlan(self, decision, stop)
        while (tier := plan.next()) is not None:
            model, msgs, params, _ = self._prepare(tier, kwargs, messages, plan.extra["prompt_cache"])
            started = False
            try:
                for piece in model.stream(
                    msgs, config=self._config(tier, plan.attempt, run_manager), stop=plan.stop, **params
                ):
                    if not started:
                        started = True
                        piece = plan.first_chunk(tier, piece)
                    chunk = ChatGenerationChunk(message=piece)
                    if notify:
                        notify.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
                return
            except Exception as exc:
                error = plan.failed(tier, exc, started)
                if error is not None:
                    raise error from None

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        notify = run_manager
        if run_manager is None:
            run_manager = _STREAM_PARENT.get()  # type: ignore[assignment]
        structured = _STRUCT_KW in kwargs
        decision = self.route(
            messages, self._metadata(run_manager), structured=structured or _TOOLS_KW in kwargs
        )
        if decision.escalation or structured or self.checks:
            for chunk in self._as_chunks(await self._agenerate(messages, stop, run_manager, **kwargs)):
                if notify:
                    await notify.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        plan = _StreamPlan(self, decision, stop)
        while (tier := plan.next()) is not None:
            model, msgs, params, _ = self._prepare(tier, kwargs, messages, plan.extra["prompt_cache"])
            started = False
            try:
                async for piece in model.astream(
                    msgs, config=self._config(tier, plan.attempt, run_manager), stop=plan.stop, **params
                ):
                    if not started:
                        started = True
                        piece = plan.first_chunk(tier, piece)
                    chunk = ChatGenerationChunk(message=piece)
                    if notify:
                        await notify.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
                return
            except Exception as exc:
                error = plan.failed(tier, exc, started)
                if error is not None:
                    raise error from None
