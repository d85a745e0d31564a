"""The savings waterfall: a table for the terminal and a PNG chart."""

from __future__ import annotations

import sys
import time
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
    head = [
        "step",
        "cost",
        "lever saved",
        "cumulative",
        "accuracy",
        "false hits",
        "$/successful task",
        "calls",
        "dedup/exact/semantic/prefix",
    ]
    rows = []
    prev = base
    for s in steps:
        saved = prev - s.cost_usd
        cumulative = (base - s.cost_usd) / base if base else 0.0
        rows.append(
            [
                s.step,
                _usd(s.cost_usd),
                "-" if s is steps[0] else _usd(saved),
                f"{cumulative:.1%}",
                f"{s.accuracy:.1%}",
                str(s.false_cache_hits),
                _usd(s.cost_per_successful_task),
                str(s.calls),
                "/".join(
                    str(s.hits.get(k, 0)) for k in ("deduplicated", "exact", "semantic", "provider_prefix")
                ),
            ]
        )
        prev = s.cost_usd
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    if steps:
        final = steps[-1].cost_usd
        share = f" ({(base - final) / base:.1%} of the baseline)" if base else ""
        out += [
            "",
            f"Total saving {_usd(base - final)}{share}: baseline {_usd(base)} ({steps[0].step}: "
            f"{steps[0].lever}) -> {_usd(final)} with all levers.",
        ]
    return "\n".join(out)


def _money(v: float, scale: float | None = None) -> str:
    """Cents when the amounts are dollars, more digits when the whole chart is small."""
    return f"${v:,.2f}" if abs(scale if scale is not None else v) >= 1 else f"${v:,.4f}"


def write_waterfall_png(steps: list[StepResult], path: str | Path, *, title: str) -> Path:
    """A waterfall chart (matplotlib, the ``charts`` extra): the baseline bar, one
    floating bar per lever labelled with the dollars it saved (and that as a share of the
    baseline), the final cost, and the total saving against the baseline in the title."""
    from ..ledger._html import _plt  # the report's matplotlib set-up (Agg, typed missing-extra error)

    plt = _plt()
    base = steps[0].cost_usd
    final = steps[-1].cost_usd
    fig, ax = plt.subplots(figsize=(11, 4.8))
    labels: list[str] = []
    for i, s in enumerate(steps):
        if i == 0:
            ax.bar(i, s.cost_usd, color="#4c72b0")
            ax.text(
                i, s.cost_usd, f"baseline\n{_money(s.cost_usd, base)}", ha="center", va="bottom", fontsize=8
            )
        else:
            saved = steps[i - 1].cost_usd - s.cost_usd
            color = "#55a868" if saved >= 0 else "#c44e52"
            ax.bar(i, abs(saved), bottom=min(s.cost_usd, steps[i - 1].cost_usd), color=color)
            share = f"\n{saved / base:.0%} of baseline" if base else ""
            ax.text(
                i,
                steps[i - 1].cost_usd,
                f"-{_money(saved, base)}{share}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        labels.append(f"{s.step}\n{_money(s.cost_usd, base)} after\n{s.accuracy:.1%} right")
    n = len(steps)
    ax.bar(n, final, color="#4c72b0")
    ax.text(n, final, _money(final, base), ha="center", va="bottom", fontsize=8)
    labels.append(f"all levers\n{_money(final, base)}\n{steps[-1].accuracy:.1%} right")
    ax.axhline(base, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(n + 1), labels, rotation=0, ha="center", fontsize=7)
    ax.set_ylabel("USD for the replayed workload")
    ax.set_ylim(0, base * 1.22 if base > 0 else 1)
    saving = base - final
    pct = f" ({saving / base:.0%} of the baseline)" if base else ""
    ax.set_title(
        f"{title}\nTotal saving {_money(saving, base)}{pct}: baseline {_money(base, base)} "
        f"({steps[0].step}: {steps[0].lever}) -> {_money(final, base)} with all levers",
        fontsize=9,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


class Progress:
    """Progress on stderr: a one-line bar (``\r``) on a terminal, otherwise one line per
    step (so ``llm-cost demo 2>&1 | tee log`` shows the run as it goes); off when
    ``enabled=False``."""

    def __init__(
        self,
        total: int,
        *,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
        lines: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total = max(total, 1)
        self.done = 0
        self.enabled = True if enabled is None else enabled
        isatty = getattr(self.stream, "isatty", None)
        self.lines = (not (isatty() if callable(isatty) else False)) if lines is None else lines
        self._shown = -1
        self._label: str | None = None
        self._started = time.perf_counter()

    def advance(self, label: str, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        pct = int(100 * self.done / self.total)
        if self.lines:
            if label != self._label:
                self._label = label
                self.stream.write(f"[{pct:3d}%] {label} (at {time.perf_counter() - self._started:.1f}s)\n")
                self.stream.flush()
            return
        if pct == self._shown and self.done < self.total:
            return
        self._shown = pct
        filled = pct * 30 // 100
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {pct:3d}% {label:<28.28}")
        self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.lines:
            self.stream.write(f"[100%] replays done in {time.perf_counter() - self._started:.1f}s\n")
        else:
            self.stream.write("\n")
        self.stream.flush()
