"""The base of the option models users build: pydantic's errors as the package's own."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ._errors import ConfigurationError

__all__ = ["ConfigModel", "check_number", "config_problems"]


class ConfigModel(BaseModel):
    """Base of the option models users build (``SegmentBudgets``, ``RetryBudget``...): a
    value of the wrong type or range raises :class:`ConfigurationError` naming the model,
    the field, what it expects and what it got, not pydantic's ``ValidationError``.

    Only direct construction is converted; ``model_validate`` keeps pydantic's error (an
    enclosing model that is a ``ConfigModel`` converts it in turn).
    """

    if not TYPE_CHECKING:  # type checkers keep the fields' own signature

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise ConfigurationError(config_problems(type(self), exc)) from None


def config_problems(model: type[BaseModel], exc: ValidationError) -> str:
    """The problems of a pydantic error in one line: ``invalid M: field: what is wrong, got X``
    (a misspelt option names the closest one)."""
    problems = []
    for error in exc.errors():
        where = ".".join(map(str, error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        got = "" if error["type"] in ("missing", "value_error") else f", got {error.get('input')!r}"
        if error["type"] == "extra_forbidden" and error["loc"]:
            close = difflib.get_close_matches(str(error["loc"][-1]), list(model.model_fields), n=1)
            message = f"no such option{f' (did you mean {close[0]!r}?)' if close else ''}"
        problems.append(": ".join(filter(None, (where, message + got))))
    return f"invalid {model.__name__}: " + "; ".join(problems) + "."


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    at_least: float | None = None,
    above: float | None = None,
    hint: str = "",
) -> None:
    """Refuse a numeric option out of its range (or not a number, or NaN) with a
    :class:`ConfigurationError` naming the class, the option, the range and what to pass.

    >>> check_number("SingleFlight", "result_ttl", -1, at_least=0, hint="pass 0 to keep no result")
    Traceback (most recent call last):
    ...
    llm_cost_hooks._errors.ConfigurationError: SingleFlight(result_ttl=-1): result_ttl must be a number >= 0; pass 0 to keep no result.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ok = False
    else:  # NaN compares false to everything, so it is refused too
        ok = (at_least is None or value >= at_least) and (above is None or value > above) and value == value
    if not ok:
        bound = f">= {at_least:g}" if at_least is not None else f"> {above:g}" if above is not None else ""
        raise ConfigurationError(
            f"{owner}({name}={value!r}): {name} must be a number {bound}".rstrip()
            + (f"; {hint}." if hint else ".")
        )
