"""The base of the option models users build: pydantic's errors as the package's own."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ._errors import ConfigurationError

__all__ = ["ConfigModel", "config_problems"]


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
