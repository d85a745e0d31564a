"""What `llm-cost demo` shows a person: progress one line per step when piped, the total
saving against its baseline in the table and in the chart's title."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llm_cost_hooks._demo import Progress, StepResult, format_waterfall, write_waterfall_png


def _step(name: str, lever: str, cost: float) -> StepResult:
    return StepResult(
        step=name,
        lever=lever,
        cost_usd=cost,
        calls=10,
        hits={},
        tasks=10,
        successful_tasks=9,
        false_cache_hits=0,
        cost_per_successful_task=cost / 9,
        saved_usd_recorded=0.0,
    )


STEPS = [
    _step("baseline", "strongest model", 8.0),
    _step("dedup", "single-flight", 6.0),
    _step("routing", "router", 2.0),
]


def test_progress_prints_one_line_per_step_when_not_a_terminal() -> None:
    out = io.StringIO()  # isatty() is False, as for `| tee`
    progress = Progress(6, stream=out)
    for label in ("baseline", "baseline", "baseline", "dedup", "dedup", "dedup"):
        progress.advance(label)
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1].split(" (at")[0] for line in lines[:-1]] == ["baseline", "dedup"]
    assert lines[-1].startswith("[100%] replays done") and "\r" not in out.getvalue()


def test_progress_is_a_bar_on_a_terminal_and_silent_when_quiet() -> None:
    out = io.StringIO()
    bar = Progress(2, stream=out, lines=False)
    bar.advance("baseline")
    bar.advance("baseline")
    bar.close()
    assert out.getvalue().count("\r") == 2 and "100%" in out.getvalue()
    quiet = io.StringIO()
    off = Progress(2, stream=quiet, enabled=False)
    off.advance("baseline")
    off.close()
    assert quiet.getvalue() == ""


def test_table_states_the_total_saving_and_its_baseline() -> None:
    text = format_waterfall(STEPS)
    assert (
        "Total saving $6.0000 (75.0% of the baseline): baseline $8.0000 (baseline: strongest model)" in text
    )
    assert "-> $2.0000 with all levers" in text


def test_chart_title_names_the_total_saving_and_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    titles: list[str] = []
    texts: list[str] = []
    real_title, real_text = matplotlib.axes.Axes.set_title, matplotlib.axes.Axes.text
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_title",
        lambda self, label, *a, **k: titles.append(label) or real_title(self, label, *a, **k),
    )
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "text",
        lambda self, x, y, s, *a, **k: texts.append(s) or real_text(self, x, y, s, *a, **k),
    )
    out = write_waterfall_png(STEPS, tmp_path / "w.png", title="Savings")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "Total saving $6.00 (75% of the baseline): baseline $8.00" in titles[0]
    assert "-$2.00\n25% of baseline" in texts and "-$4.00\n50% of baseline" in texts
    assert "baseline\n$8.00" in texts and "$2.00" in texts
