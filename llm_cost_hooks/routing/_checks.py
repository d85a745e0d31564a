"""Quality checks and the cascade loop (try a tier, check, escalate). Framework-free.

A check takes an :class:`Answer` and returns ``True`` (pass), ``False`` or a string (fail,
the string says why), or an awaitable of those; any other value (a score, NaN) counts as
failed and is logged. A check that raises counts as failed and
is logged; it never crashes the call.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import BudgetExceeded
from ._strategies import RouteDecision

__all__ = [
    "BUILTIN_CHECKS",
    "Answer",
    "Attempt",
    "CascadeOutcome",
    "Check",
    "arithmetic_consistent",
    "arun_cascade",
    "check_arithmetic",
    "not_empty",
    "not_refusal",
    "not_truncated",
    "parses",
    "run_cascade",
]

logger = logging.getLogger("llm_cost_hooks.routing")


@dataclass
class Answer:
    """A tier's answer as the checks see it. ``raw`` is the framework's message object;
    ``request`` the last user message it answers (when the caller knows it)."""

    text: str
    tier: str
    finish_reason: str | None = None
    tool_calls: list[Any] = field(default_factory=list)
    expects_json: bool = False
    parsed: Any = None
    parse_error: str | None = None
    raw: Any = None
    request: str | None = None


Check = Callable[[Answer], "bool | str | Awaitable[bool | str | None] | None"]

_REFUSAL = re.compile(
    r"^\s*(?:I['’]m sorry|I am sorry|Sorry|I apologi[sz]e|Unfortunately)?[,.!]?\s*"
    r"(?:but\s+)?(?:I|as an AI[^.]*?,\s*I)\s+(?:can(?:not|['’]t)|am (?:not able|unable)|won['’]t|"
    r"must (?:decline|refuse)|(?:do not|don['’]t) (?:feel comfortable|have the ability))\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def not_refusal(answer: Answer) -> bool | str:
    """Fails when the answer starts by refusing ("I'm sorry, but I can't ...").

    >>> not_refusal(Answer(text="I'm sorry, but I can't help with that.", tier="small"))
    'refusal'
    >>> not_refusal(Answer(text="Your card arrives in 3-5 days.", tier="small"))
    True
    """
    if answer.tool_calls:
        return True
    return "refusal" if _REFUSAL.match(answer.text[:300]) else True


def not_truncated(answer: Answer) -> bool | str:
    """Fails when the provider stopped at the token limit.

    >>> not_truncated(Answer(text="The refund takes", tier="small", finish_reason="length"))
    'truncated (length)'
    """
    return (
        f"truncated ({answer.finish_reason})"
        if (answer.finish_reason or "").lower() in {"length", "max_tokens", "max_output_tokens"}
        else True
    )


def not_empty(answer: Answer) -> bool | str:
    """Fails on an answer with neither text nor tool calls.

    >>> not_empty(Answer(text="  ", tier="small")), not_empty(Answer(text="Yes.", tier="small"))
    ('empty', True)
    """
    return True if (answer.text.strip() or answer.tool_calls) else "empty"


def parses(answer: Answer) -> bool | str:
    """When JSON/structured output was asked for: it parsed (as the schema, if any).

    >>> parses(Answer(text='{"order": 42}', tier="small", expects_json=True))
    True
    >>> parses(Answer(text="order 42", tier="small", expects_json=True))
    'not JSON: Expecting value: line 1 column 1 (char 0)'
    """
    if answer.parse_error:
        return f"parse error: {answer.parse_error[:120]}"
    if answer.expects_json and answer.parsed is None and not answer.tool_calls:
        m = _FENCE.match(answer.text)
        try:
            answer.parsed = json.loads(m.group(1) if m else answer.text)
        except (ValueError, TypeError) as exc:
            return f"not JSON: {str(exc)[:80]}"
    return True


BUILTIN_CHECKS: tuple[Check, ...] = (not_empty, not_truncated, not_refusal, parses)


# -- arithmetic consistency -------------------------------------------------------------------
# A worked answer's own arithmetic ("3 x 60 = 180", calculator annotations "<<3*60=180>>") can
# be re-computed exactly; a wrong line is a strong sign of a wrong answer, at no model cost.
_NUMBER = r"\$?-?\d[\d,]*(?:\.\d+)?%?"
_OPERATOR = r"(?:[-+*/x×÷^·⋅]|\\\*)"
_EQUATION = re.compile(
    rf"((?:\(?\s*{_NUMBER}\s*\)?\s*{_OPERATOR}\s*)+\(?\s*{_NUMBER}\s*\)?)\s*=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)"
)
_ANNOTATION = re.compile(r"<<([^<>=]{1,200})=([^<>]{1,40})>>")
_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b if abs(b) <= 12 and abs(a) <= 1e6 else math.nan,  # no huge powers
}


def _arith(node: ast.AST) -> float | None:
    """Evaluate a parsed expression of numbers and + - * / % ** only (never ``eval``)."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _arith(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _arith(node.left), _arith(node.right)
        if a is None or b is None:
            return None
        try:
            v = _BINOPS[type(node.op)](a, b)
        except (ZeroDivisionError, OverflowError):
            return None
        return v if math.isfinite(v) else None
    return None


def _normalise(expr: str) -> str:
    e = (
        expr.replace("\\*", "*")
        .replace("×", "*")
        .replace("·", "*")
        .replace("⋅", "*")
        .replace("÷", "/")
        .replace("^", "**")
        .replace("$", "")
        .replace(",", "")
    )
    e = re.sub(r"(?<=[\d)\s])x(?=[\s\d(])", "*", e)  # "3 x 4": x as a times sign
    return re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", e).strip()  # 60% = 0.6


def _value(expr: str, *, needs_operator: bool) -> float | None:
    e = _normalise(expr).rstrip(".")
    if not e or len(e) > 200 or not re.fullmatch(r"[\d.\s()+\-*/]+", e):
        return None
    if needs_operator and not re.search(r"\d\s*\)?\s*[-+*/]", e):
        return None
    try:
        return _arith(ast.parse(e, mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _agrees(actual: float, claimed: str) -> bool:
    c = _value(claimed, needs_operator=False)
    if c is None:
        return True  # not a number we can read: no verdict
    if abs(actual - c) <= 1e-9 * max(1.0, abs(actual)):
        return True
    if abs(actual - round(actual)) <= 1e-9 * max(1.0, abs(actual)):
        return False  # a whole-number result must be shown exactly ("12 x 34 = 409" is wrong)
    # otherwise the result may be rounded to the decimals it shows ("10 / 3 = 3.33")
    decimals = len(claimed.split(".", 1)[1].rstrip("%")) if "." in claimed and "/" not in claimed else 0
    return abs(actual - c) <= max(0.5 * 10.0**-decimals, 0.005 * abs(actual)) + 1e-9


def check_arithmetic(text: str) -> tuple[int, list[str]]:
    """Re-compute the answer's own arithmetic: ``(equations checked, wrong ones)``.

    Reads calculator annotations (``<<3*60=180>>``) and plain ``a op b = c`` equations
    (``x``/``×``/``÷``/``^``, ``$`` and ``%`` understood, ``60%`` = 0.6). A whole-number
    result must be exact; another may be rounded to the decimals it shows. The plain text
    around an annotation (``3 x 60 = <<3*60=180>>180``) counts as its own equation.
    Expressions are parsed, never ``eval``-ed.

    >>> check_arithmetic("3 x 60 = 180 meters, then 180 x 3 = 530.")
    (2, ['180 x 3 = 530 (is 540)'])
    """
    checked, wrong = 0, []
    for expr, result in _ANNOTATION.findall(text or ""):
        actual = _value(expr, needs_operator=False)
        if actual is not None and _value(result, needs_operator=False) is not None:
            checked += 1
            if not _agrees(actual, result.strip()):
                wrong.append(f"{expr.strip()} = {result.strip()} (is {actual:g})")
    for expr, result in _EQUATION.findall(_ANNOTATION.sub(" ", text or "")):
        result = result.rstrip(",")  # "= 33, then ...": the comma ends the sentence
        actual = _value(expr, needs_operator=True)
        if actual is not None:
            checked += 1
            if not _agrees(actual, result):
                wrong.append(f"{expr.strip()} = {result} (is {actual:g})")
    return checked, wrong


def arithmetic_consistent(answer: Answer) -> bool | str:
    """A cascade check: fails when a line of the answer's arithmetic is wrong
    (:func:`check_arithmetic`); an answer with no arithmetic passes.

    >>> arithmetic_consistent(Answer(text="3 x 60 = 180, then 180 x 3 = 530.", tier="small"))
    'arithmetic: 180 x 3 = 530 (is 540)'
    >>> arithmetic_consistent(Answer(text="3 x 60 = 180.", tier="small"))
    True
    """
    _, wrong = check_arithmetic(answer.text)
    return (
        f"arithmetic: {wrong[0]}" + (f" (+{len(wrong) - 1} more)" if len(wrong) > 1 else "")
        if wrong
        else True
    )


@dataclass
class Attempt:
    """One tier tried: its answer passed, failed a check, or the tier errored.

    >>> from llm_cost_hooks.routing import Answer, RouteDecision, not_refusal, run_cascade
    >>> def call(tier, attempt):  # your model call; the small tier refuses here
    ...     text = "I'm sorry, but I can't help with that." if tier == "small" else "In 3-5 days."
    ...     return {"tier": tier}, Answer(text=text, tier=tier)
    >>> decision = RouteDecision("small", "rule:default", escalation=("large",))
    >>> outcome = run_cascade(decision, ["small", "large"], call, [not_refusal])
    >>> outcome.attempts
    [Attempt(tier='small', ok=False, reason='refusal', error=None), Attempt(tier='large', ok=True, reason=None, error=None)]
    """

    tier: str
    ok: bool
    reason: str | None = None
    error: BaseException | None = None


@dataclass
class CascadeOutcome:
    """What the cascade returned and every attempt it made (all of them were billed).

    >>> from llm_cost_hooks.routing import Answer, RouteDecision, not_refusal, run_cascade
    >>> def call(tier, attempt):  # your model call; the small tier refuses here
    ...     text = "I'm sorry, but I can't help with that." if tier == "small" else "In 3-5 days."
    ...     return {"tier": tier}, Answer(text=text, tier=tier)
    >>> decision = RouteDecision("small", "rule:default", escalation=("large",))
    >>> outcome = run_cascade(decision, ["small", "large"], call, [not_refusal])
    >>> outcome.tier, outcome.checks_passed, outcome.result
    ('large', True, {'tier': 'large'})
    >>> outcome.route_reason(decision)
    'rule:default;escalated[small:refusal,large:ok]'
    """

    result: Any
    answer: Answer | None
    tier: str
    attempts: list[Attempt]
    checks_passed: bool

    def route_reason(self, decision: RouteDecision) -> str:
        if len(self.attempts) == 1:
            return decision.reason
        trail = ",".join(f"{a.tier}:{'ok' if a.ok else (a.reason or 'error')}" for a in self.attempts)
        return f"{decision.reason};escalated[{trail}]"


def _name(check: Any) -> str:
    return getattr(check, "__name__", type(check).__name__)


def _verdict(check: Any, value: Any) -> str | None:
    if value is True or value is None:
        return None
    if value is False:
        return f"{_name(check)} failed"
    if isinstance(value, str):
        return value or f"{_name(check)} failed"
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        # numpy's bool, as `score > 0.5` on a numpy float gives (bool_ before numpy 2)
        return None if bool(value) else f"{_name(check)} failed"
    # A score, NaN or anything else is no verdict: failing it costs an escalation, passing
    # it could serve a wrong answer.
    logger.warning(
        "llm-cost-hooks routing: check %s returned %s, not True/False or a reason; counted as failed",
        _name(check),
        type(value).__name__,
    )
    return f"{_name(check)} returned {type(value).__name__}"


def _run_checks(answer: Answer, checks: Sequence[Check]) -> str | None:
    for check in checks:
        try:
            value = check(answer)
            if inspect.isawaitable(value):
                # A sync call path cannot await: close it and treat the check as failed.
                if hasattr(value, "close"):
                    value.close()
                return f"{_name(check)} is async; use ainvoke/astream"
        except Exception as exc:
            # The type only: a check's message may quote the answer it read.
            logger.warning(
                "llm-cost-hooks routing: check %s raised %s; counted as failed",
                _name(check),
                type(exc).__name__,
            )
            return f"{_name(check)} raised {type(exc).__name__}"
        failed = _verdict(check, value)
        if failed:
            return failed
    return None


async def _arun_checks(answer: Answer, checks: Sequence[Check]) -> str | None:
    for check in checks:
        try:
            value = check(answer)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            # The type only: a check's message may quote the answer it read.
            logger.warning(
                "llm-cost-hooks routing: check %s raised %s; counted as failed",
                _name(check),
                type(exc).__name__,
            )
            return f"{_name(check)} raised {type(exc).__name__}"
        failed = _verdict(check, value)
        if failed:
            return failed
    return None


def _plan(decision: RouteDecision, tiers: Sequence[str]) -> tuple[list[str], list[str]]:
    """(tiers to escalate to on a failed check, extra tiers to fall back to on errors)."""
    escalate = [decision.tier, *decision.escalation]
    order = list(tiers)
    i = order.index(decision.tier)
    # On errors, also try stronger tiers, then cheaper ones: some answer beats none.
    rest = [t for t in order[i + 1 :] if t not in escalate] + [
        t for t in reversed(order[:i]) if t not in escalate
    ]
    return escalate, rest


def run_cascade(
    decision: RouteDecision,
    tiers: Sequence[str],
    call: Callable[[str, int], tuple[Any, Answer]],
    checks: Sequence[Check],
) -> CascadeOutcome:
    """Call ``decision.tier``; on a failed check escalate along ``decision.escalation``; on
    an error also fall back to the other tiers. ``call(tier, attempt)`` returns
    ``(result, answer)``. If every answer fails its checks, the last one is returned
    (``checks_passed=False``); if every tier errors, the last error is raised. A
    :class:`~llm_cost_hooks.BudgetExceeded` is raised at once (no dearer tier is tried).

    >>> from llm_cost_hooks.routing import Answer, RouteDecision, not_refusal, run_cascade
    >>> def call(tier, attempt):  # your model call; the small tier refuses here
    ...     text = "I'm sorry, but I can't help with that." if tier == "small" else "In 3-5 days."
    ...     return {"tier": tier}, Answer(text=text, tier=tier)
    >>> decision = RouteDecision("small", "rule:default", escalation=("large",))
    >>> outcome = run_cascade(decision, ["small", "large"], call, [not_refusal])
    >>> outcome.tier, outcome.answer.text, [(a.tier, a.ok, a.reason) for a in outcome.attempts]
    ('large', 'In 3-5 days.', [('small', False, 'refusal'), ('large', True, None)])
    """
    escalate, fallback = _plan(decision, tiers)
    attempts: list[Attempt] = []
    last: tuple[Any, Answer] | None = None
    last_error: BaseException | None = None
    queue = list(escalate)
    while queue:
        tier = queue.pop(0)
        try:
            result, answer = call(tier, len(attempts) + 1)
        except BudgetExceeded:
            raise  # a spend limit refused the call: never escalate to a dearer tier
        except Exception as exc:
            attempts.append(Attempt(tier, False, f"error:{type(exc).__name__}", exc))
            last_error = exc
            if not queue:
                queue = [t for t in fallback if all(a.tier != t for a in attempts)]
                fallback = []
            continue
        failed = _run_checks(answer, checks)
        # answer.tier: the tier that answered (a spend guard may have downgraded the call)
        attempts.append(Attempt(answer.tier, failed is None, failed))
        last = (result, answer)
        if failed is None:
            return CascadeOutcome(result, answer, answer.tier, attempts, True)
    if last is not None:
        return CascadeOutcome(last[0], last[1], last[1].tier, attempts, False)
    assert last_error is not None
    raise last_error


async def arun_cascade(
    decision: RouteDecision,
    tiers: Sequence[str],
    call: Callable[[str, int], Awaitable[tuple[Any, Answer]]],
    checks: Sequence[Check],
) -> CascadeOutcome:
    """Async :func:`run_cascade` (checks may be async).

    >>> import asyncio
    >>> async def call(tier, attempt):
    ...     text = "I'm sorry, but I can't help with that." if tier == "small" else "In 3-5 days."
    ...     return None, Answer(text=text, tier=tier)
    >>> decision = RouteDecision("small", "rule:default", escalation=("large",))
    >>> outcome = asyncio.run(arun_cascade(decision, ["small", "large"], call, [not_refusal]))
    >>> outcome.tier, [a.tier for a in outcome.attempts]
    ('large', ['small', 'large'])
    """
    escalate, fallback = _plan(decision, tiers)
    attempts: list[Attempt] = []
    last: tuple[Any, Answer] | None = None
    last_error: BaseException | None = None
    queue = list(escalate)
    while queue:
        tier = queue.pop(0)
        try:
            result, answer = await call(tier, len(attempts) + 1)
        except BudgetExceeded:
            raise  # a spend limit refused the call: never escalate to a dearer tier
        except Exception as exc:
            attempts.append(Attempt(tier, False, f"error:{type(exc).__name__}", exc))
            last_error = exc
            if not queue:
                queue = [t for t in fallback if all(a.tier != t for a in attempts)]
                fallback = []
            continue
        failed = await _arun_checks(answer, checks)
        attempts.append(Attempt(answer.tier, failed is None, failed))
        last = (result, answer)
        if failed is None:
            return CascadeOutcome(result, answer, answer.tier, attempts, True)
    if last is not None:
        return CascadeOutcome(last[0], last[1], last[1].tier, attempts, False)
    assert last_error is not None
    raise last_error
