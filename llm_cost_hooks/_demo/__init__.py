"""Framework-free parts of ``llm-cost demo``: the data it replays, the workload built from
it, and the waterfall table and chart it prints (the LangChain part is
:mod:`llm_cost_hooks.langchain._demo`). Private: the demo is a command, not an API."""

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
    "write_waterfall_png",
]
