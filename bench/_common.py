"""Shared helpers for benchmarks: timing and the results table.

Every benchmark module ``bench/bench_*.py`` defines ``run(quick: bool) -> list[Row]``.
A row compares a measurement with an anchor measured in the same run, so the ratio
means something on any machine.
"""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the table. ``target`` is a human-readable goal, ``ok`` whether met."""

    bench: str
    metric: str
    value: float
    unit: str
    anchor_name: str = ""
    anchor_value: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.anchor_value in (None, 0):
            return None
        return self.value / self.anchor_value


def time_per_call(fn: Callable[[], object], *, number: int, repeat: int = 5, warmup: int = 50) -> float:
    """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
    for _ in range(warmup):
        fn()
    rounds = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            rounds.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(rounds)


@dataclass
class CallCost:
    """Seconds per call of one configuration, one value per round, on three clocks:
    ``wall`` and ``thread`` (the caller's thread CPU) over the calls, as the caller sees
    them; ``process`` (CPU of every thread of the process: the ledger's writer, span
    processors, collectors) over the calls and the drain of the work they queued."""

    wall: list[float] = field(default_factory=list)
    thread: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)

    def median(self, clock: str) -> float:
        return statistics.median(getattr(self, clock))

    def over(self, other: CallCost, clock: str) -> float:
        """Median of the per-round differences (self - other): paired rounds, same load."""
        return statistics.median(a - b for a, b in zip(getattr(self, clock), getattr(other, clock)))

    def mean(self, clock: str) -> float:
        return statistics.fmean(getattr(self, clock))

    def excess(self, other: CallCost, clock: str, *, level: float = 0.9) -> tuple[float, float, float]:
        """Mean per-call difference (self - other) over paired rounds of the same calls
        (CPU is paid on average: a median would leave out the rounds where the collector
        or the writer ran), and a ``level`` interval from resampling the rounds."""
        d = [a - b for a, b in zip(getattr(self, clock), getattr(other, clock))]
        return (
            statistics.fmean(d),
            *_bootstrap(lambda idx: statistics.fmean(d[i] for i in idx), len(d), level),
        )


CLOCKS = ("wall", "thread", "process")
CLOCK_LABELS = {"wall": "wall", "thread": "caller-thread CPU", "process": "process CPU, all threads"}


def cost_per_call(
    configs: Mapping[str, tuple[Callable[[], object], Callable[[], object] | None]],
    *,
    number: int,
    rounds: int,
    warmup: int = 100,
) -> dict[str, CallCost]:
    """Interleaved rounds of ``number`` calls of each ``(call, drain)`` configuration.

    ``drain()`` runs inside the process-CPU window after the calls: it must wait for the
    background work those calls queued (``handler.flush()``, ``tracer_provider.force_flush()``,
    a metric collection), so work moved off the caller's thread is still counted in the
    process clock. The rounds alternate between configurations so a drift of the machine
    hits them alike; compare them with :meth:`CallCost.over`."""
    out = {name: CallCost() for name in configs}
    for call, drain in configs.values():
        for _ in range(warmup):
            call()
        if drain is not None:
            drain()
    for _ in range(rounds):
        for name, (call, drain) in configs.items():
            gc.collect()
            w0, t0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            for _ in range(number):
                call()
            w1, t1 = time.perf_counter(), time.thread_time()
            if drain is not None:
                drain()
            cost = out[name]
            cost.wall.append((w1 - w0) / number)
            cost.thread.append((t1 - t0) / number)
            cost.process.append((time.process_time() - p0) / number)
    return out


@dataclass
class Arm:
    """One side of an interleaved comparison: ``call()`` makes one call; ``threads`` are the
    background threads whose CPU is this side's (a ledger's writer, a span processor's
    worker: see :func:`threads_started_by`); ``drain()`` waits for the background work the
    calls queued (a ledger flush, a span export, a metric collection) and is timed into
    this side at the end of every round."""

    call: Callable[[], object]
    threads: Sequence[threading.Thread] = ()
    drain: Callable[[], object] | None = None


def threads_started_by(make: Callable[[], Any]) -> tuple[Any, list[threading.Thread]]:
    """``make()``'s result and the threads that were started while it ran."""
    before = set(threading.enumerate())
    made = make()
    return made, [t for t in threading.enumerate() if t not in before]


class _ThreadClocks:
    """CPU seconds of a set of threads, read through their per-thread CPU clocks."""

    def __init__(self, threads: Sequence[threading.Thread]) -> None:
        self._clocks = [time.pthread_getcpuclockid(t.ident) for t in threads if t.ident is not None]
        self._last = [0.0] * len(self._clocks)

    def read(self) -> float:
        for i, clock in enumerate(self._clocks):
            try:
                self._last[i] = time.clock_gettime(clock)
            except OSError:  # the thread has ended: its CPU stays as last read
                pass
        return sum(self._last)


@dataclass
class Interleaved:
    """What :func:`interleaved_cost` measured: a :class:`CallCost` per side (one value per
    round; rounds have the same calls on every side, so means of per-round differences are
    differences of totals), the shape of the run, and the CPU per call of threads that
    belong to no side (0 when every background thread was given to its side)."""

    cost: dict[str, CallCost]
    rounds: int
    calls_per_round: int
    block: int
    seconds: float
    unowned_cpu: float

    @property
    def calls(self) -> int:
        return self.rounds * self.calls_per_round

    def how(self) -> str:
        return (
            f"{self.rounds} rounds x {self.calls_per_round} calls a side, sides alternating every "
            f"{self.block} calls (rotated order), drains timed into their side every round, "
            "full GC between rounds"
        )


def interleaved_cost(
    arms: Mapping[str, Arm], *, block: int, blocks_per_round: int, rounds: int, warmup: int = 200
) -> Interleaved:
    """Per-call cost of each side on three clocks, the sides alternating every ``block``
    calls, so a change in the machine's speed (another process, a CPU frequency step) hits
    every side within milliseconds of each other instead of one side for a whole round.

    A round is ``blocks_per_round`` blocks of each side (the order rotated block by block),
    then each side's ``drain()``; a full garbage collection runs before each round. Per side
    and round: ``wall`` and ``thread`` over its calls (the caller's view); ``process`` = the
    caller thread's CPU over its calls and its drain, plus the CPU its own background threads
    used over the round (read from their per-thread clocks, so one side's writer is never
    charged to another side that happens to be running). Compare sides with
    :meth:`CallCost.excess` and :func:`ratio_interval`."""
    names = list(arms)
    clocks = {name: _ThreadClocks(arm.threads) for name, arm in arms.items()}
    for arm in arms.values():
        for _ in range(warmup):
            arm.call()
        if arm.drain is not None:
            arm.drain()
    out = {name: CallCost() for name in names}
    number = block * blocks_per_round
    unowned = 0.0
    start = time.perf_counter()
    for r in range(rounds):
        # A full collection between rounds, outside the windows: one landing inside a round
        # (tens of ms on a process with LangChain loaded) would go to whichever side
        # happened to cross the threshold. Young collections inside the rounds count.
        gc.collect()
        wall = dict.fromkeys(names, 0.0)
        thread = dict.fromkeys(names, 0.0)
        drained = dict.fromkeys(names, 0.0)
        bg0 = {name: clocks[name].read() for name in names}
        p0, c0 = time.process_time(), time.thread_time()
        for b in range(blocks_per_round):
            k = (r * blocks_per_round + b) % len(names)
            for name in names[k:] + names[:k]:
                call = arms[name].call
                w0, t0 = time.perf_counter(), time.thread_time()
                for _ in range(block):
                    call()
                t1, w1 = time.thread_time(), time.perf_counter()
                wall[name] += w1 - w0
                thread[name] += t1 - t0
        for name in names:
            drain = arms[name].drain
            if drain is not None:
                t0 = time.thread_time()
                drain()
                drained[name] = time.thread_time() - t0
        caller, process = time.thread_time() - c0, time.process_time() - p0
        background = 0.0
        for name in names:
            bg = clocks[name].read() - bg0[name]
            background += bg
            cost = out[name]
            cost.wall.append(wall[name] / number)
            cost.thread.append(thread[name] / number)
            cost.process.append((thread[name] + drained[name] + bg) / number)
        unowned += process - caller - background
    return Interleaved(
        out, rounds, number, block, time.perf_counter() - start, unowned / (rounds * number * len(names))
    )


def ratio_interval(
    num: CallCost, anchor: CallCost, base: CallCost, clock: str = "process", *, level: float = 0.9
) -> tuple[float, float, float]:
    """``(num - base) / (anchor - base)`` over the whole run (a ratio of totals, not a
    median of per-round ratios, which divides by small noisy differences), and a
    ``level`` interval from resampling the rounds (seeded: the same data give the same
    interval)."""
    a, b, c = (getattr(x, clock) for x in (num, anchor, base))
    n = len(c)

    def ratio(idx: Sequence[int]) -> float:
        den = sum(b[i] - c[i] for i in idx)
        return sum(a[i] - c[i] for i in idx) / den if den else float("nan")

    return (ratio(range(n)), *_bootstrap(ratio, n, level))


def _bootstrap(stat: Callable[[Sequence[int]], float], n: int, level: float) -> tuple[float, float]:
    rng = random.Random(20)
    values = sorted(stat([rng.randrange(n) for _ in range(n)]) for _ in range(1000))
    lo = int(len(values) * (1 - level) / 2)
    return values[lo], values[len(values) - 1 - lo]


def fixed_usage_model() -> Any:
    """A cheap chat model: a prebuilt answer with realistic usage, no tokenising."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class FixedUsageChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "bench-fixed"

        def _get_ls_params(self, stop: Any = None, **kwargs: Any) -> Any:
            p = super()._get_ls_params(stop=stop, **kwargs)
            p["ls_provider"] = "openai"
            p["ls_model_name"] = "gpt-4o-mini"
            return p

        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            # Native async like real provider clients (the default would hop to a thread pool).
            return self._generate(messages, stop, None, **kw)

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            msg = AIMessage(
                content="Your card should arrive within 3 to 5 business days.",
                usage_metadata={
                    "input_tokens": 412,
                    "output_tokens": 14,
                    "total_tokens": 426,
                    "input_token_details": {"cache_read": 256},
                },
                response_metadata={"model_name": "gpt-4o-mini-2024-07-18"},
            )
            return ChatResult(generations=[ChatGeneration(message=msg)])

    return FixedUsageChatModel()


_OPENAI_RESPONSE = """{"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
 "created": 1741570283, "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message":
 {"role": "assistant", "content": "Cards usually arrive within 3 to 5 business days after you order
 them. If yours has not arrived after 7 business days, you can track it in the app under Cards >
 Delivery status, or order a replacement free of charge.", "refusal": null, "annotations": []},
 "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 412, "completion_tokens":
 48, "total_tokens": 460, "prompt_tokens_details": {"cached_tokens": 256, "audio_tokens": 0},
 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens":
 0, "rejected_prediction_tokens": 0}}, "service_tier": "default", "system_fingerprint": "fp_06737a9306"}
""".replace("\n", "")


def realistic_model() -> Any:
    """A chat model that does a provider client's work on each answer: the request body is
    serialised, the OpenAI chat-completion JSON response is parsed and turned into a
    message with usage and response metadata as the LangChain OpenAI integration does
    (no network)."""
    import json

    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class ParsedResponseChatModel(type(fixed_usage_model())):  # type: ignore[misc]
        @property
        def _llm_type(self) -> str:
            return "bench-openai-json"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            body = json.dumps(
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": m.type, "content": m.content} for m in messages],
                    "stream": False,
                }
            )
            assert body
            data = json.loads(_OPENAI_RESPONSE)
            usage = data["usage"]
            choice = data["choices"][0]
            msg = AIMessage(
                content=choice["message"]["content"],
                id=data["id"],
                usage_metadata={
                    "input_tokens": usage["prompt_tokens"],
                    "output_tokens": usage["completion_tokens"],
                    "total_tokens": usage["total_tokens"],
                    "input_token_details": {
                        "cache_read": usage["prompt_tokens_details"]["cached_tokens"],
                        "audio": usage["prompt_tokens_details"]["audio_tokens"],
                    },
                    "output_token_details": {
                        "reasoning": usage["completion_tokens_details"]["reasoning_tokens"],
                        "audio": usage["completion_tokens_details"]["audio_tokens"],
                    },
                },
                response_metadata={
                    "token_usage": usage,
                    "model_name": data["model"],
                    "system_fingerprint": data["system_fingerprint"],
                    "id": data["id"],
                    "service_tier": data["service_tier"],
                    "finish_reason": choice["finish_reason"],
                    "logprobs": None,
                },
            )
            gen = ChatGeneration(message=msg, generation_info={"finish_reason": choice["finish_reason"]})
            return ChatResult(
                generations=[gen], llm_output={"token_usage": usage, "model_name": data["model"]}
            )

    return ParsedResponseChatModel()


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def format_table(rows: list[Row]) -> str:
    head = ["bench", "metric", "value", "unit", "anchor", "anchor value", "ratio", "target", "met"]
    body = []
    for r in rows:
        body.append(
            [
                r.bench,
                r.metric,
                f"{r.value:,.3f}" if abs(r.value) < 1000 else f"{r.value:,.0f}",
                r.unit,
                r.anchor_name,
                ""
                if r.anchor_value is None
                else (f"{r.anchor_value:,.3f}" if abs(r.anchor_value) < 1000 else f"{r.anchor_value:,.0f}"),
                "" if r.ratio is None else f"{r.ratio:.2f}x",
                r.target,
                "" if r.ok is None else ("yes" if r.ok else "NO"),
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    notes = [f"[{r.bench}/{r.metric}] {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))
