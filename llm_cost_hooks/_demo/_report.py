"""The savings waterfall: a table for the terminal and a PNG chart."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["Progress", "StepResult", "format_waterfall", "write_waterfall_png"]


@dataclass
class StepResult:
    """One replay of the workload with the levers up to this step switched on; every
    number is read back from the ledger's records and task outcomes of that replay."""

    step: str
    lever: str
    cost_usd: float
    calls: int
    hits: dict[str, int]  # records per cache status other than miss
    tasks: int
    successful_tasks: int
    false_cache_hits: int
    cost_per_successful_task: float | None
    saved_usd_recorded: float
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.successful_tasks / self.tasks if self.tasks else 0.0


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.4f}" if abs(v) >= 0.01 else f"{sign}${abs(v):,.6f}"


def format_waterfall(steps: list[StepResult]) -> str:
    """The waterfall table: cost after each lever, what it saved, cumulative saving,
    accuracy, false cache hits and cost per successful task."""
    base = steps[0].cost_usd if steps else 0.0
    head = ["step", "cost", "lever saved", "cumulative", "accuracy", "false hits", "$/successful task", "calls",
            "dedup/exact/semantic/prefix"]
    rows = []
    prev = base
    for s in steps:
        saved = prev - s.cost_usd
        cumulative = (base - s.cost_usd) / base if base else 0.0
        rows.append([
            s.step, _usd(s.cost_usd), "-" if s is steps[0] else _usd(saved), f"{cumulative:.1%}",
            f"{s.accuracy:.1%}", str(s.false_cache_hits), _usd(s.cost_per_successful_task),
            str(s.calls), "/".join(str(s.hits.get(k, 0)) for k in ("deduplicated", "exact", "semantic", "provider_prefix")),
        ])
        prev = s.cost_usd
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def write_waterfall_png(steps: list[StepResult], path: str | Path, *, title: str) -> Path:
    """A waterfall chart (matplotlib, the ``charts`` extra): the baseline bar, one
    floating bar per lever for what it saved, and the final cost."""
    from ..ledger._html import _plt  # the report's matplotlib set-up (Agg, typed missing-extra error)

    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    labels: list[str] = []
    for i, s in enumerate(steps):
        if i == 0:
            ax.bar(i, s.cost_usd, color="#4c72b0")
        else:
            saved = steps[i - 1].cost_usd - s.cost_usd
            color = "#55a868" if saved >= 0 else "#c44e52"
            ax.bar(i, abs(saved), bottom=min(s.cost_usd, steps[i - 1].cost_usd), color=color)
            ax.text(i, steps[i - 1].cost_usd, f"-{saved / steps[0].cost_usd:.0%}" if steps[0].cost_usd else "",
                    ha="center", va="bottom", fontsize=8)
        labels.append(f"{s.step}\n{s.accuracy:.1%} right")
    n = len(steps)
    ax.bar(n, steps[-1].cost_usd, color="#4c72b0")
    ax.text(n, steps[-1].cost_usd, f"${steps[-1].cost_usd:.2f}", ha="center", va="bottom", fontsize=8)
    ax.text(0, steps[0].cost_usd, f"${steps[0].cost_usd:.2f}", ha="center", va="bottom", fontsize=8)
    labels.append(f"with all levers\n{steps[-1].accuracy:.1%} right")
    ax.set_xticks(range(n + 1), labels, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("USD for the replayed workload")
    ax.set_title(title, fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


class Progress:
    """A one-line progress bar on stderr (``\\r``); silent when stderr is not a terminal."""

    def __init__(self, total: int, *, enabled: bool | None = None, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = max(total, 1)
        self.done = 0
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._shown = -1

    def advance(self, label: str, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        pct = int(100 * self.done / self.total)
        if pct == self._shown and self.done < self.total:
            return
        self._shown = pct
        filled = pct * 30 // 100
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {pct:3d}% {label:<28.28}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
