"""``llm-cost demo``, an application on top of the public API: the data it replays, the
workload built from it, the waterfall table and chart it prints, and its LangChain chains
(:mod:`._langchain`, loaded on first use of :func:`run_demo`). Private: the demo is a
command, not an API. Nothing in the package's core imports it."""

from typing import TYPE_CHECKING, Any

from ._report import Progress, StepResult, format_waterfall, write_waterfall_png
from ._workload import (
    DATA_HINT,
    DemoData,
    Request,
    Submission,
    Workload,
    build_workload,
    data_dir,
    load_demo_data,
)

__all__ = [
    "DATA_HINT",
    "DemoData",
    "Progress",
    "Request",
    "StepResult",
    "Submission",
    "Workload",
    "build_workload",
    "data_dir",
    "format_waterfall",
    "load_demo_data",
    "run_demo",
    "write_waterfall_png",
]

if TYPE_CHECKING:
    from ._langchain import run_demo as run_demo


def __getattr__(name: str) -> Any:
    # LangChain loads only when the demo runs, not for its data or report helpers.
    if name == "run_demo":
        from ._langchain import run_demo

        return run_demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
