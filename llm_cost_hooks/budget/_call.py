"""One guarded model call, framework-free: the loop every adapter runs.

Per attempt: check the circuit breaker, reserve the worst case on the spend guard (a
``downgrade`` policy switches the target and reserves again), perform the attempt, then
settle the real cost - or, on an error, release the hold (or settle what a stream had
already delivered, which the provider bills) and retry within the retry budget. Lease
renewal and over-spend accounting live on :class:`~llm_cost_hooks.budget.Reservation`.

An adapter describes the call (:class:`GuardedCall`) and supplies three callables:

* ``perform(attempt)``: run one attempt on ``attempt.target`` with ``attempt.cap`` as the
  output cap; an iterable of items (a stream's chunks, or the one result of a plain call);
* ``add(aggregate, item)``: fold the items delivered so far (e.g. message chunks);
* ``usage(aggregate, attempt)``: the :class:`~llm_cost_hooks.TokenUsage` of what was
  delivered (``None``: unknown; the hold is then settled at the worst case).

:func:`guarded_stream` / :func:`aguarded_stream` are the one sync and the one async body;
:func:`guarded_call` / :func:`aguarded_call` run a plain call through them as a stream of
one item. Nothing here imports a framework.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

from .._errors import BudgetExceeded, ConfigurationError, UnknownModelError
from .._records import TokenUsage
from .._tenancy import UnusableTenant, first_tenant
from ..dedup import CircuitBreaker, CircuitOpenError, RetryBudget, RetryState, idempotency_key
from ..dedup._keys import _quote, credentials_scope
from ._guard import Reservation, SpendGuard
from ._limits import Downgrade, DowngradeRequired, SpendRequest

# Where LangChain chat models keep their credentials (ChatOpenAI, ChatAnthropic, others).
_HANDLE_CREDENTIALS = ("openai_api_key", "anthropic_api_key", "api_key", "openai_api_base", "anthropic_api_url",
                       "base_url", "api_base", "openai_organization", "organization")  # fmt: skip

if TYPE_CHECKING:
    from ._context import TrimResult

__all__ = [
    "Attempt",
    "Attribution",
    "GuardedCall",
    "Target",
    "aguarded_call",
    "aguarded_stream",
    "ashared_call",
    "guarded_call",
    "guarded_stream",
    "pick_downgrade",
    "rewrap",
    "shared_call",
]

logger = logging.getLogger("llm_cost_hooks.budget")

T = TypeVar("T")
A = TypeVar("A")
M = TypeVar("M")
R = TypeVar("R")

_retry_usd_warned = False


def _warn_retry_usd_unpriced() -> None:
    # Attempts are priced with the guard's price book: without a guard they cost $0 here,
    # so the dollar cap never stops a retry. Once per process: it is a setup mistake.
    global _retry_usd_warned
    if not _retry_usd_warned:
        _retry_usd_warned = True
        logger.warning(
            "llm-cost-hooks: RetryBudget(max_retry_usd=...) needs a SpendGuard to price attempts; "
            "without a guard only max_attempts limits retries (pass guard=SpendGuard([...]), "
            "a guard with no limits is enough)."
        )


# Errors that end a call without the provider having failed: no breaker failure, no retry.
_OWN_REFUSALS = (BudgetExceeded, CircuitOpenError)
# The consumer went away: the hold is released (or the delivered part settled) at once.
_CANCELLED = (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _first(*values: Any) -> str | None:
    """The first value that names something: tenant id ``0`` is tenant ``"0"`` (as for the
    cache and the dedup key), not the pool of calls that name no tenant."""
    for value in values:
        if value is not None and value != "":
            return str(value)
    return None


def _tenant_of(metadata: Mapping[str, Any]) -> str | None:
    """The call's tenant as the cost record reads it (``_tenancy.first_tenant``): an
    unusable value (NaN, a dict...) names no tenant, so no pool the records do not show
    is charged."""
    try:
        return first_tenant(metadata)
    except UnusableTenant:
        return None


class Attribution(NamedTuple):
    """The :class:`SpendRequest` scope fields of a call."""

    tenant: str | None = None
    feature: str | None = None
    route: str | None = None
    user: str | None = None

    @classmethod
    def of(
        cls,
        metadata: Mapping[str, Any],
        route: str | None = None,
        *,
        run: Any = None,
        recorders: Iterable[Any] = (),
    ) -> Attribution:
        """Read from a call's metadata: ``tenant_id``/``tenant``, ``feature``, ``route``
        (else ``route``), ``user_id``/``user``; the fields of an enclosing
        ``cache_scope(...)`` win, as they do for the cache and the cost record.

        A call naming no usable tenant is charged to the tenant its cost record names
        (:func:`recorded_tenant`): ``recorders`` are the cost handlers or loggers recording
        it, or ``run`` an adapter's run whose ``handlers`` are (``run.run_id``: the run
        they started)."""
        get = metadata.get
        found = cls(
            _tenant_of(metadata),
            _text(get("feature")),
            _first(get("route"), route),
            _first(get("user_id"), get("user")),
        )
        # Loaded only if cache_scope was: no scope can be set before (importing the cache
        # here would load it for every guarded call).
        module = _modules.get("llm_cost_hooks.cache._scope")
        scope = module._scope_var.get() if module is not None else None
        if scope is not None:
            found = cls(
                found.tenant if scope.tenant is None else scope.tenant,
                found.feature if scope.feature is None else scope.feature,
                found.route if scope.route is None else scope.route,
                found.user if scope.user is None else scope.user,
            )
        if found.tenant is not None:
            return found
        if run is not None:
            recorders = getattr(run, "handlers", None) or ()
        tenant = recorded_tenant(metadata, recorders, getattr(run, "run_id", None))
        return found if tenant is None else found._replace(tenant=tenant)


_UNATTRIBUTED = Attribution()


def recorded_tenant(
    metadata: Mapping[str, Any], recorders: Iterable[Any] = (), run_id: Any = None
) -> str | None:
    """The tenant the cost record of a call naming no usable tenant carries: what the first
    of ``recorders`` (objects with a :class:`~llm_cost_hooks.CostTracker` as ``tracker``)
    records it under (its ``defaults`` tenant, else its settings' default tenant), else
    ``LLM_COST_HOOKS_DEFAULT_TENANT``; ``None`` when there is none (the pool of calls that
    name no tenant). One rule, so a budget on the default tenant sees the calls its records
    show.

    >>> recorded_tenant({}) is None  # no default tenant set
    True
    """
    for recorder in recorders:
        tenant_of = getattr(getattr(recorder, "tracker", None), "tenant_of", None)
        if tenant_of is not None:
            tenant: str | None = tenant_of(metadata, run_id)
            return tenant
    from .._settings import get_settings

    try:
        return get_settings().default_tenant
    except Exception as exc:  # a malformed LLM_COST_HOOKS_* variable: the call goes on
        global _settings_warned
        if not _settings_warned:
            _settings_warned = True
            logger.warning(
                "llm-cost-hooks: the settings cannot be read (%s); calls naming no tenant are charged "
                "to the no-tenant pool, not LLM_COST_HOOKS_DEFAULT_TENANT, until they can.",
                type(exc).__name__,
            )
        return None


_settings_warned = False
_modules = sys.modules


class Target(Generic[M]):
    """What an attempt calls: the model's priced name and provider, and the adapter's
    own handle on it (a chat model object, a model string...)."""

    __slots__ = ("handle", "model", "provider")

    def __init__(self, handle: M, model: str, provider: str | None = None) -> None:
        self.handle = handle
        self.model = model
        self.provider = provider

    def __repr__(self) -> str:
        return f"Target({self.model!r}, provider={self.provider!r})"


class Attempt(Generic[M]):
    """One attempt: its target, the reservation held for it (``None`` without a guard)
    and the output cap to send (the reservation's, possibly shrunk; else the request's)."""

    __slots__ = ("cap", "reservation", "target")

    def __init__(self, target: Target[M], reservation: Reservation | None, cap: int | None) -> None:
        self.target = target
        self.reservation = reservation
        self.cap = cap


class GuardedCall(Generic[M]):
    """The framework-free state of one guarded call: what to reserve, which breaker and
    retry budget apply, and the record tags gathered on the way (``budget.*``,
    ``breaker.state``, ``retry.*``, ``stream.*``) for the adapter to put on the cost record.

    ``input_tokens`` may be given, or counted on first use by ``count_input`` (only a
    guard or a reply without usage needs it). ``downgrade`` maps a :class:`Downgrade` to
    the cheaper target (``None`` or no callable: :class:`DowngradeRequired` is raised);
    one downgrade per call. ``unpriced="allow"`` lets a model without a price through,
    unguarded and warned about, instead of raising
    :class:`~llm_cost_hooks.UnknownModelError`.
    """

    __slots__ = (
        "_counted",
        "_current",
        "_downgrade",
        "breaker",
        "count_input",
        "downgraded_from",
        "guard",
        "max_tokens",
        "retry",
        "retry_state",
        "scope",
        "stream",
        "tags",
        "target",
        "unpriced",
    )

    def __init__(
        self,
        target: Target[M],
        *,
        guard: SpendGuard | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryBudget | None = None,
        task_id: str = "",
        input_tokens: int | None = None,
        count_input: Callable[[], int] | None = None,
        max_tokens: int | None = None,
        scope: Attribution = _UNATTRIBUTED,
        tags: dict[str, str] | None = None,
        downgrade: Callable[[Downgrade], Target[M] | None] | None = None,
        unpriced: Literal["raise", "allow"] = "raise",
        stream: bool = False,
    ) -> None:
        self.target = target
        self._current = target  # the downgraded target once a downgrade happened
        self.guard = guard
        self.breaker = breaker
        self.retry = retry
        # Per tenant: two tenants that reuse a task id do not spend each other's retries.
        # The tenant percent-encoded (no ':' left in it): tenant "a:b" with task "c" is not
        # tenant "a" with task "b:c".
        task = f"tenant={_quote(scope.tenant)}:{task_id}" if scope.tenant is not None else task_id
        self.retry_state: RetryState | None = retry.state(task) if retry is not None else None
        if retry is not None and retry.max_retry_usd is not None and guard is None:
            _warn_retry_usd_unpriced()
        self._counted = input_tokens
        self.count_input = count_input
        self.max_tokens = max_tokens
        self.scope = scope
        self.tags: dict[str, str] = tags if tags is not None else {}
        self._downgrade = downgrade
        self.downgraded_from: str | None = None
        self.unpriced = unpriced
        self.stream = stream

    @classmethod
    def for_messages(
        cls,
        target: Target[M],
        messages: Sequence[Mapping[str, Any]],
        *,
        trimmed: TrimResult | None = None,
        tools: Any = None,
        counter: Any = None,
        **options: Any,
    ) -> GuardedCall[M]:
        """The guarded call of a chat request: ``messages`` as sent (OpenAI-shaped; after a
        context budget's trim, ``trimmed`` is its result and gives the output cap, the
        ``budget.*`` tags and, without tools, the prompt's tokens already counted). Other
        input is counted with ``counter`` (default: the package's counter) when first
        needed, at once under a guard. ``options`` are :class:`GuardedCall`'s keywords."""
        tags = dict(options.pop("tags", None) or {})
        input_tokens = None
        if trimmed is not None:
            options["max_tokens"] = trimmed.max_tokens
            tags.update(trimmed.tags())
            if not tools:
                input_tokens = trimmed.prompt_tokens  # already counted, same recipe
        count_input = None
        if input_tokens is None:
            from ..tokens import default_counter

            count = counter if counter is not None else default_counter()
            # tool definitions, or one structured-output schema (a response_format)
            tool_list = tools if isinstance(tools, list) else [tools] if isinstance(tools, Mapping) else None

            def count_input() -> int:
                return int(count.count_messages(messages, target.model, tools=tool_list).tokens)

            if options.get("guard") is not None:
                input_tokens = count_input()
        return cls(target, input_tokens=input_tokens, count_input=count_input, tags=tags, **options)

    def dedup_key(
        self,
        metadata: Mapping[str, Any],
        messages: Any,
        stop: Any,
        params: Mapping[str, Any],
        *,
        derive: bool,
    ) -> str | None:
        """The single-flight key of this call: ``metadata['idempotency_key']``, else (when
        ``derive``) one derived from the exact request as sent, output cap included, and
        the target's own settings (a wrapped model's temperature...); scoped to the tenant."""
        model = self.target.model
        handle = self.target.handle
        request = {
            "model": model,
            "target": handle if isinstance(handle, str) else getattr(handle, "_identifying_params", None),
            "messages": messages,
            "stop": stop,
            "max_tokens": self.max_tokens,
            "params": params,
        }
        # The wrapped model's credentials (a digest): chat models with other API keys or
        # endpoints are other customers, even with equal identifying params.
        cred = credentials_scope(handle, fields=_HANDLE_CREDENTIALS) if not isinstance(handle, str) else ""
        return idempotency_key(metadata, request, namespace=f"{model}:{cred}", derive=derive)

    def shared(self, source: str, key: str) -> bool:
        """Note how single-flight served this call (tags ``dedup.source``, ``dedup.key``);
        True when the answer was another call's."""
        self.tags["dedup.source"] = source
        self.tags["dedup.key"] = key[:40]
        return source != "leader"

    def usage_or_counted(self, usage: TokenUsage | None, text: str, attempt: Attempt[M]) -> TokenUsage:
        """``usage`` as reported, else counted: the prompt's tokens and ``text``'s."""
        if usage is not None:
            return usage
        from ..tokens import default_counter

        out = default_counter().count_text(text, attempt.target.model).tokens if text else 0
        return TokenUsage(input_tokens=self.input_tokens, output_tokens=out)

    @property
    def input_tokens(self) -> int:
        # Counted on first use: counting a long prompt costs more than the rest of the call.
        if self._counted is None:
            self._counted = self.count_input() if self.count_input is not None else 0
        return self._counted

    def request(self, target: Target[M]) -> SpendRequest:
        """The :class:`SpendRequest` of an attempt on ``target``."""
        return SpendRequest(
            model=target.model,
            provider=target.provider,
            input_tokens=self.input_tokens,
            max_output_tokens=self.max_tokens,
            tenant=self.scope.tenant,
            feature=self.scope.feature,
            route=self.scope.route,
            user=self.scope.user,
        )

    # -- before an attempt ------------------------------------------------------------------
    def _check_breaker(self, model: str) -> None:
        if self.breaker is None:
            return
        try:
            self.tags["breaker.state"] = self.breaker.check(model).value
        except CircuitOpenError:
            self.tags["breaker.state"] = "open"
            raise

    def _downgraded(self, decision: Downgrade) -> Target[M]:
        target = None
        if self._downgrade is not None and self.downgraded_from is None:
            target = self._downgrade(decision)
        if target is None:
            raise DowngradeRequired(decision)
        self.downgraded_from = self.target.model
        self.tags["budget.downgraded_from"] = self.target.model
        self.tags["budget.downgrade_limit"] = decision.limit_name
        self._current = target
        return target

    def _held(self, target: Target[M], decision: Reservation | Downgrade | None) -> Attempt[M] | None:
        """The attempt a reserve decision allows; ``None`` after a downgrade (reserve again)."""
        if isinstance(decision, Downgrade):
            self._downgraded(decision)
            return None
        return Attempt(target, decision, decision.max_output_tokens if decision else self.max_tokens)

    def _unpriced(self, target: Target[M], error: UnknownModelError) -> Attempt[M]:
        if self.unpriced != "allow":
            raise error
        logger.warning("llm-cost-hooks: no price for %r; call not budget-checked", target.model)
        return Attempt(target, None, self.max_tokens)

    def _next_target(self) -> Target[M]:
        target = self._current
        self._check_breaker(target.model)
        return target

    def begin(self) -> Attempt[M]:
        """Breaker check and reservation (following a downgrade) for the next attempt."""
        attempt = None
        while attempt is None:  # None: a downgrade switched the target, reserve again
            target = self._next_target()
            try:
                guard = self.guard
                attempt = self._held(target, guard.try_reserve(self.request(target)) if guard else None)
            except UnknownModelError as exc:
                attempt = self._unpriced(target, exc)
        return attempt

    async def abegin(self) -> Attempt[M]:
        """Async :meth:`begin`."""
        attempt = None
        while attempt is None:
            target = self._next_target()
            try:
                guard = self.guard
                attempt = self._held(
                    target, await guard.atry_reserve(self.request(target)) if guard else None
                )
            except UnknownModelError as exc:
                attempt = self._unpriced(target, exc)
        return attempt

    # -- after an attempt -------------------------------------------------------------------
    def _cost(self, usage: TokenUsage, target: Target[M], fallback: float) -> float:
        if self.guard is None:
            return 0.0
        try:
            return self.guard.cost_of(usage, target.model, target.provider)
        except Exception:  # an unpriced usage field: keep the worst case held
            return fallback

    def _settled(self, attempt: Attempt[M], usage: TokenUsage | None) -> tuple[float, dict[str, Any]]:
        """The cost to settle and the settle keywords for ``usage`` (``None``: worst case)."""
        r = attempt.reservation
        worst = r.worst_usd if r is not None else 0.0
        if usage is None:
            return worst, {}
        cost = self._cost(usage, attempt.target, worst)
        return cost, {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}

    def _succeeded(self, attempt: Attempt[M], cost: float) -> None:
        if attempt.reservation is not None:
            self.tags.update(attempt.reservation.tags())
        if self.breaker is not None:
            self.breaker.record_success(attempt.target.model)
            self.tags["breaker.state"] = "closed"
        if self.retry is not None and self.retry_state is not None:
            self.retry.record(self.retry_state, cost)
            self.tags.update(self.retry_state.tags())

    def succeeded(self, attempt: Attempt[M], usage: TokenUsage | None) -> None:
        """Settle the attempt's hold with the real cost of ``usage``."""
        cost, counts = self._settled(attempt, usage)
        if attempt.reservation is not None:
            attempt.reservation.settle(cost, **counts)
        self._succeeded(attempt, cost)

    async def asucceeded(self, attempt: Attempt[M], usage: TokenUsage | None) -> None:
        """Async :meth:`succeeded`."""
        cost, counts = self._settled(attempt, usage)
        if attempt.reservation is not None:
            await attempt.reservation.asettle(cost, **counts)
        self._succeeded(attempt, cost)

    def _partial(
        self, attempt: Attempt[M], error: BaseException, delivered: TokenUsage | None
    ) -> float | None:
        """Tags and counts after a failed attempt; the cost to settle for what was delivered
        (``None``: release the hold)."""
        cancelled = isinstance(error, _CANCELLED)
        if self.stream:
            self.tags["stream.outcome"] = "cancelled" if cancelled else "error"
        r = attempt.reservation
        cost = None
        if r is not None and delivered is not None:
            # Tokens already delivered are billed by the provider: keep them, free the rest.
            cost = self._cost(delivered, attempt.target, r.worst_usd)
            if self.stream:
                self.tags["stream.partial_output_tokens"] = str(delivered.output_tokens)
        if self.breaker is not None and not cancelled and not isinstance(error, _OWN_REFUSALS):
            self.breaker.record_failure(attempt.target.model)
        return cost

    def _retry_in(self, attempt: Attempt[M], error: BaseException, delivered: bool) -> float | None:
        """Seconds to wait before retrying, or ``None`` to raise ``error``."""
        if attempt.reservation is not None:
            self.tags.update(attempt.reservation.tags())
        state = self.retry_state
        if (
            delivered  # items already reached the caller: a retry would repeat them
            or self.retry is None
            or state is None
            or not isinstance(error, Exception)
            or isinstance(error, _OWN_REFUSALS)
        ):
            return None
        # A failed attempt is counted at its prompt's price, like the tracker records it.
        billed = TokenUsage(input_tokens=self.input_tokens) if self.guard is not None else None
        self.retry.record(state, self._cost(billed, attempt.target, 0.0) if billed is not None else 0.0)
        self.tags.update(state.tags())
        worst = attempt.reservation.worst_usd if attempt.reservation is not None else 0.0
        return self.retry.delay(state) if self.retry.can_retry(state, worst) else None

    def failed(
        self, attempt: Attempt[M], error: BaseException, delivered: bool, usage: TokenUsage | None
    ) -> float | None:
        """Release the hold (or settle ``usage``, what was delivered) after ``error``;
        the delay before a retry, or ``None`` to raise."""
        cost = self._partial(attempt, error, usage)
        r = attempt.reservation
        if r is not None:
            if cost is None or usage is None:
                r.release()
            else:
                r.settle(cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        return self._retry_in(attempt, error, delivered)

    async def afailed(
        self, attempt: Attempt[M], error: BaseException, delivered: bool, usage: TokenUsage | None
    ) -> float | None:
        """Async :meth:`failed`; a cancelled call settles without awaiting (it may be
        cancelled again at any await)."""
        if isinstance(error, _CANCELLED):
            return self.failed(attempt, error, delivered, usage)
        cost = self._partial(attempt, error, usage)
        r = attempt.reservation
        if r is not None:
            if cost is None or usage is None:
                await r.arelease()
            else:
                await r.asettle(cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        return self._retry_in(attempt, error, delivered)


def _last(aggregate: object, item: T) -> T:
    return item


def guarded_stream(
    call: GuardedCall[M],
    perform: Callable[[Attempt[M]], Iterable[T]],
    add: Callable[[A | None, T], A | None],
    usage: Callable[[A | None, Attempt[M]], TokenUsage | None],
) -> Generator[T, None, None]:
    """Run ``call``, yielding the items of the attempt that succeeds. A failure before the
    first item is retried within the retry budget; after it, the delivered part is settled
    and the error raised (a consumer that stops early counts as a cancelled call)."""
    while True:
        attempt = call.begin()
        aggregate: A | None = None
        delivered = False
        try:
            for item in perform(attempt):
                aggregate = add(aggregate, item)
                delivered = True
                yield item
        except BaseException as exc:
            partial = usage(aggregate, attempt) if aggregate is not None else None
            delay = call.failed(attempt, exc, delivered, partial)
            if delay is None:
                raise
            time.sleep(delay)
            continue
        call.succeeded(attempt, usage(aggregate, attempt))
        return


async def aguarded_stream(
    call: GuardedCall[M],
    perform: Callable[[Attempt[M]], AsyncIterator[T]],
    add: Callable[[A | None, T], A | None],
    usage: Callable[[A | None, Attempt[M]], TokenUsage | None],
) -> AsyncGenerator[T, None]:
    """Async :func:`guarded_stream`. Close it (``aclose``) when the consumer stops early,
    so the delivered part is settled at once rather than when it is collected."""
    while True:
        attempt = await call.abegin()
        aggregate: A | None = None
        delivered = False
        try:
            async for item in perform(attempt):
                aggregate = add(aggregate, item)
                delivered = True
                yield item
        except BaseException as exc:
            partial = usage(aggregate, attempt) if aggregate is not None else None
            delay = await call.afailed(attempt, exc, delivered, partial)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            continue
        await call.asucceeded(attempt, usage(aggregate, attempt))
        return


def guarded_call(
    call: GuardedCall[M],
    perform: Callable[[Attempt[M]], T],
    usage: Callable[[T | None, Attempt[M]], TokenUsage | None],
) -> T:
    """Run a plain (non-streaming) call: :func:`guarded_stream` over its one result."""

    def once(attempt: Attempt[M]) -> tuple[T]:
        return (perform(attempt),)

    (result,) = guarded_stream(call, once, _last, usage)
    return result


async def aguarded_call(
    call: GuardedCall[M],
    perform: Callable[[Attempt[M]], Awaitable[T]],
    usage: Callable[[T | None, Attempt[M]], TokenUsage | None],
) -> T:
    """Async :func:`guarded_call` over :func:`aguarded_stream`."""

    async def once(attempt: Attempt[M]) -> AsyncIterator[T]:
        yield await perform(attempt)

    (result,) = [item async for item in aguarded_stream(call, once, _last, usage)]
    return result


def pick_downgrade(decision: Downgrade, choices: Mapping[str, T]) -> T | None:
    """The choice a downgrade switches to: its ``to_model``, else the only one configured;
    ``None`` when there is none (the call is refused)."""
    name = decision.to_model
    if name is None and len(choices) == 1:
        name = next(iter(choices))
    return choices.get(name) if name else None


def shared_call(
    call: GuardedCall[M], dedup: Any, key: str | None, upstream: Callable[[], T], **codec: Any
) -> tuple[T, bool]:
    """``upstream()`` run once for the callers with the same ``key`` through the single-flight
    ``dedup`` (``codec``: its ``dumps`` / ``loads``), or directly without a key. Returns the
    answer and whether it was another call's (:meth:`GuardedCall.shared`)."""
    if key is None or dedup is None:
        return upstream(), False
    flight = dedup.do(key, upstream, **codec)
    return flight.value, call.shared(flight.source, key)


async def ashared_call(
    call: GuardedCall[M], dedup: Any, key: str | None, upstream: Callable[[], Awaitable[T]], **codec: Any
) -> tuple[T, bool]:
    """Async :func:`shared_call`."""
    if key is None or dedup is None:
        return await upstream(), False
    flight = await dedup.ado(key, upstream, **codec)
    return flight.value, call.shared(flight.source, key)


def rewrap(chain: R, inner: Any, outer: Any) -> R:
    """``chain`` (what a method of ``inner`` such as ``bind_tools`` returned: a tree of
    pydantic runnables) with ``inner`` replaced by ``outer`` wherever it is called, keeping
    the bound arguments, so a wrapper serves the inner model's own recipe (its tool format,
    its structured-output method) through its guard. Duck-typed: imports no framework."""
    found = False

    def walk(x: Any) -> Any:
        nonlocal found
        if x is inner:
            found = True
            return outer
        if type(x) in (list, tuple):
            items = [walk(i) for i in x]
            return type(x)(items) if any(a is not b for a, b in zip(items, x)) else x
        if isinstance(x, dict):
            new = {k: walk(v) for k, v in x.items()}
            return new if any(new[k] is not v for k, v in x.items()) else x
        fields = getattr(type(x), "model_fields", None)
        if not fields or isinstance(x, type) or not hasattr(x, "invoke"):
            return x
        updates = {k: v for k in fields if (v := walk(getattr(x, k, None))) is not getattr(x, k, None)}
        return x.model_copy(update=updates) if updates else x

    out: R = walk(chain)
    if not found:  # the recipe calls another model: sending it on would skip the guard
        raise ConfigurationError(
            f"{type(inner).__name__}'s tools or structured output call another model than the "
            "wrapped one, so the wrapper cannot guard them; wrap the model they call instead."
        )
    return out
