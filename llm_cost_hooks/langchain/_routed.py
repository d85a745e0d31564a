"""RoutedChatModel: one LangChain chat model over several real ones of different prices.

Decisions and the run loop are the routing core's (``routing._tiers``, ``routing._run``);
this module calls the tiers, each as a child run with metadata ``route=<tier>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from ..routing import RouteDecision
from ..routing._run import RoutedRun, arun_tiers, astream_tiers, run_tiers, stream_tiers, structured_output
from ..routing._tiers import TierPlan, check_call_options, check_tiers, keyed_binding, shadow_run, tier_run
from ..tracking._usage import model_name_of
from ._budget import TierGuardedChatModel
from ._context import StreamRunChatModel
from ._routed_run import (
    PARSED_KEY,
    STRUCT_KW,
    TOOLS_KW,
    answer_of,
    as_chunks,
    child_config,
    prepare_call,
    read_answer,
    route_request,
    with_route,
)

__all__ = ["RoutedChatModel"]


class RoutedChatModel(StreamRunChatModel):
    """Sends each request to the cheapest tier that will answer it well enough.

    ``tiers`` maps names to real chat models (a model the price book does not know needs
    ``prices[tier]``); ``strategy`` picks the tier (default: a cascade from the cheapest).
    Every answer carries ``response_metadata["llm_cost_hooks_route"]``; the other options
    are described in docs/routing.md.

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
    # Standard chat-model parameters: temperature, max_tokens and stop are the tiers' call
    # defaults; timeout and max_retries stay each tier's own (reported in traces only).
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
    cache: Any = Field(default=False, exclude=True)  # tiers cache their own calls, keyed by the tier chosen

    _plan: TierPlan = PrivateAttr()
    _guarded: dict[str, BaseChatModel] = PrivateAttr(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Checked here, not in a validator: callers get our ConfigurationError, not a ValidationError.
        self._setup()

    def _setup(self) -> None:
        check_tiers("RoutedChatModel", self.tiers, BaseChatModel, "a LangChain chat model (BaseChatModel)")
        self._plan = TierPlan.priced(
            {tier: model_name_of(model) for tier, model in self.tiers.items()},
            prices=self.prices,
            replay_prices={tier: getattr(model, "blended_price", None) for tier, model in self.tiers.items()},
            price_book=self.price_book,
            strategy=self.strategy,
            quality_floor=self.quality_floor,
            checks=self.checks,
            builtin_checks=self.builtin_checks,
            shadow=self.shadow,
        )
        self.strategy = self._plan.strategy
        check_call_options(self.prompt_cache, self.context_budget, self.guard, self.cache)
        self._guarded = {}
        if self.context_budget is not None or self.guard is not None:
            self._guarded = {name: self._wrap(name, model) for name, model in self.tiers.items()}

    def _wrap(self, tier: str, model: BaseChatModel) -> BaseChatModel:
        """The tier behind the context budget and spend guard, with the route = tier."""
        if self.context_budget is None and self.guard is None:
            return model
        cheaper = {t: self.tiers[t] for t in self._plan.order[: self._plan.order.index(tier)]}
        return TierGuardedChatModel(
            inner=model, guard=self.guard, context_budget=self.context_budget, route=tier, downgrades=cheaper
        )

    def _ask(self, messages: list[BaseMessage], stop: list[str] | None, parent: Any, method: str) -> Any:
        """Shadow mode's call of another tier (``method``: invoke or ainvoke), behind the same
        spend guard and context budget as an answering call: its spend counts on the limits."""
        stop = stop if stop is not None else self.stop
        return lambda other: getattr(self._guarded.get(other, self.tiers[other]), method)(
            messages, config=child_config(shadow_run(other), parent), stop=stop
        )

    # -- LangChain plumbing -------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "llm-cost-hooks-routed"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        strategy = type(self.strategy).__name__
        return {"model_name": self.model_name, "tiers": self.tier_order, "strategy": strategy}

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
        return list(self._plan.order)

    @property
    def tier_prices(self) -> dict[str, Any]:
        """The :class:`~llm_cost_hooks.pricing.ModelPrice` of each tier."""
        return dict(self._plan.prices)

    def price_overrides(self) -> dict[str, dict[str, float]]:
        """Prices given in ``prices``, as price-book overrides keyed by model name (pass them
        to the handler's ``PriceBook(overrides=...)`` so its records use the same prices)."""
        return self._plan.price_overrides(self.prices or {})

    # -- tools and structured output: bound here, applied to the chosen tier ----------------
    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; at call time they are bound to the tier that answers."""
        tool_kwargs = {**kwargs, "tool_choice": tool_choice} if tool_choice is not None else dict(kwargs)
        return self.bind(**{TOOLS_KW: keyed_binding(list(tools), tool_kwargs, convert_to_openai_tool)})

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output from the chosen tier's own ``with_structured_output``.

        A cascade escalates when the answer does not parse as ``schema``.
        """
        bound = self.bind(**{STRUCT_KW: keyed_binding(schema, dict(kwargs), convert_to_openai_tool)})

        def extract(message: BaseMessage) -> Any:
            payload = (message.additional_kwargs or {}).get(PARSED_KEY) or {}
            extra = {k: v for k, v in message.additional_kwargs.items() if k != PARSED_KEY}
            raw = message.model_copy(update={"additional_kwargs": extra}) if include_raw else None
            return structured_output(payload, raw, include_raw=include_raw)

        return bound | RunnableLambda(extract, name="RoutedStructuredOutput")

    # -- routing ---------------------------------------------------------------------------
    def route(
        self,
        messages: Sequence[BaseMessage],
        metadata: Mapping[str, Any] | None = None,
        *,
        structured: bool = False,
    ) -> RouteDecision:
        """The decision for these messages (without calling any tier)."""
        return self._plan.route(route_request(messages, metadata, structured=structured))

    @staticmethod
    def _result(message: Any, route: Mapping[str, Any]) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=with_route(message, route))])

    # -- run plumbing for streaming ---------------------------------------------------------
    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # invoke() paths keep _generate (it gets the run manager, so tier calls are child
        # runs); the tier itself still streams to streaming callbacks.
        if run_manager is not None:
            return False
        return super()._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    # -- calls: each tier call is a child run; the loop is routing._run's -----------------------
    def _start(
        self, messages: list[BaseMessage], stop: list[str] | None, parent: Any, kwargs: Mapping[str, Any]
    ) -> tuple[RoutedRun, Any]:
        """The routed run and its tier calls: ``(tier, attempt) -> (runnable, messages,
        call kwargs, structured?)``, each a child run of ``parent``."""
        check_call_options(False, None, None, self.cache)  # a cache set past __init__ (model_copy, setattr)
        structured = STRUCT_KW in kwargs or TOOLS_KW in kwargs
        metadata = getattr(parent, "metadata", None) or {}
        request = route_request(messages, metadata, structured=structured)
        run = RoutedRun(self._plan, request, structured=structured, read=read_answer)
        stop = stop if stop is not None else self.stop

        def call(tier: str, attempt: int) -> tuple[Any, list[BaseMessage], dict[str, Any], bool]:
            model, msgs, params, schema = prepare_call(self, tier, kwargs, messages, run.extras)
            call_kwargs = {} if schema is not None else {"stop": stop, **params}
            config = child_config(tier_run(tier, attempt), parent)
            return model, msgs, {"config": config, **call_kwargs}, schema is not None

        return run, call

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run, tier_call = self._start(messages, stop, run_manager, kwargs)

        def perform(tier: str, attempt: int) -> Any:
            model, msgs, call_kwargs, structured = tier_call(tier, attempt)
            return answer_of(tier, model.invoke(msgs, **call_kwargs), structured, call_kwargs, run)

        return self._result(*run_tiers(run, perform, self._ask(messages, stop, run_manager, "invoke")))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run, tier_call = self._start(messages, stop, run_manager, kwargs)

        async def perform(tier: str, attempt: int) -> Any:
            model, msgs, call_kwargs, structured = tier_call(tier, attempt)
            return answer_of(tier, await model.ainvoke(msgs, **call_kwargs), structured, call_kwargs, run)

        return self._result(
            *await arun_tiers(run, perform, self._ask(messages, stop, run_manager, "ainvoke"))
        )

    # -- streaming ----------------------------------------------------------------------------
    # Without escalation the chosen tier's chunks stream straight through. With a cascade
    # an answer must pass its checks before the caller sees it, so it is answered whole and
    # replayed as a chunk (documented latency trade-off).
    def _stream_start(
        self, messages: list[BaseMessage], stop: list[str] | None, run_manager: Any, kwargs: dict[str, Any]
    ) -> tuple[Any, bool, Any, RoutedRun]:
        """The stream's run (manager or stand-in), whether it is answered whole, its tier
        calls and the routed run."""
        parent = self._run_of(run_manager, kwargs)
        run, tier_call = self._start(messages, stop, parent, kwargs)
        return parent, self._plan.buffers_stream(run.decision, STRUCT_KW in kwargs), tier_call, run

    @staticmethod
    def _chunk(piece: Any, route: dict[str, Any] | None) -> ChatGenerationChunk:
        return ChatGenerationChunk(message=with_route(piece, route) if route else piece)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        parent, whole, tier_call, run = self._stream_start(messages, stop, run_manager, kwargs)

        def open_stream(tier: str, attempt: int) -> Iterator[Any]:
            model, msgs, call_kwargs, _ = tier_call(tier, attempt)
            return iter(model.stream(msgs, **call_kwargs))

        def deliver(piece: Any, route: dict[str, Any] | None) -> ChatGenerationChunk:
            chunk = self._chunk(piece, route)
            if run_manager:  # stream() reports our tokens
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            return chunk

        if whole:
            pieces: Any = as_chunks(self._generate(messages, stop, parent, **kwargs))
            yield from (deliver(piece, None) for piece in pieces)
        else:
            yield from stream_tiers(run, open_stream, deliver, self._ask(messages, stop, parent, "invoke"))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        parent, whole, tier_call, run = self._stream_start(messages, stop, run_manager, kwargs)

        def open_stream(tier: str, attempt: int) -> AsyncIterator[Any]:
            model, msgs, call_kwargs, _ = tier_call(tier, attempt)
            return model.astream(msgs, **call_kwargs)  # type: ignore[no-any-return]

        async def deliver(piece: Any, route: dict[str, Any] | None) -> ChatGenerationChunk:
            chunk = self._chunk(piece, route)
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            return chunk

        if whole:
            for piece in as_chunks(await self._agenerate(messages, stop, parent, **kwargs)):
                yield await deliver(piece, None)
        else:
            async for chunk in astream_tiers(
                run, open_stream, deliver, self._ask(messages, stop, parent, "ainvoke")
            ):
                yield chunk
