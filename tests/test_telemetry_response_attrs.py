"""The response attributes a model span gets from LangChain's result: finish reasons kept in
generation order, unknown ones left out, none at all when no generation says why it stopped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from llm_cost_hooks.telemetry._observer import OTelObserver


class _Blank:
    """A reason whose text is empty: not a reason."""

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return ""


def _outputs(*reasons: Any) -> Any:
    generations = [
        [SimpleNamespace(generation_info=None if r is None else {"finish_reason": r}, message=None)]
        for r in reasons
    ]
    return SimpleNamespace(generations=generations, llm_output=None)


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (("stop",), ("stop",)),
        (("tool_calls", "stop"), ("tool_calls", "stop")),
        ((None,), None),
        ((None, None), None),
        (("stop", None, "length"), ("stop", "length")),
        ((None, "length"), ("length",)),
        ((_Blank(), "stop"), ("stop",)),
        ((_Blank(),), None),
        ((), None),
    ],
)
def test_finish_reasons(reasons: tuple[Any, ...], expected: tuple[str, ...] | None) -> None:
    attrs: dict[str, Any] = {}
    finish = OTelObserver._response_attrs(_outputs(*reasons), attrs)
    assert len(finish) == len(reasons)
    assert attrs.get("gen_ai.response.finish_reasons") == expected
    if expected is not None:
        assert type(attrs["gen_ai.response.finish_reasons"]) is tuple
