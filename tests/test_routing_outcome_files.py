"""Users' own outcome files in the documented long form, read by `route eval` / `route train`:
a mistake in the file is a typed error naming the column or row to fix."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from llm_cost_hooks import OutcomeDataError
from llm_cost_hooks.routing import load_outcomes

HEADER = ["prompt_id", "prompt", "model", "quality", "input_tokens", "output_tokens"]
ROWS = [
    [1, "What is 2 + 2?", "gpt-4o-mini", 1, 12, 3],
    [1, "What is 2 + 2?", "gpt-4o", 1, 12, 3],
    [2, "Prove there are infinitely many primes.", "gpt-4o-mini", 0.4, 15, 220],
    [2, "Prove there are infinitely many primes.", "gpt-4o", 1, 15, 260],
]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


@pytest.mark.parametrize("column", ["quality", "model"])
def test_a_long_form_file_without_a_required_column_names_it(tmp_path: Path, column: str) -> None:
    # Not read as another layout (whose error would name a column the user never heard of).
    keep = [i for i, c in enumerate(HEADER) if c != column]
    path = _write(tmp_path / "o.csv", [HEADER[i] for i in keep], [[r[i] for i in keep] for r in ROWS])
    with pytest.raises(OutcomeDataError, match=f"long form.*missing \\['{column}'\\]"):
        load_outcomes(path)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ([1, "What is 2 + 2?", "gpt-4o", 1, 12, 3], "second answer of model 'gpt-4o'"),
        ([3, "Hi", "gpt-4o", 1.5, 1, 1], "must be in \\[0, 1\\]"),
        ([3, "Hi", "gpt-4o", "nan", 1, 1], "must be in \\[0, 1\\]"),
        ([3, "Hi", "gpt-4o", "good", 1, 1], "not a number"),
        ([3, "Hi", "my-llama", 1, 1, 1], "--price 'my-llama=INPUT,OUTPUT'"),
    ],
    ids=["duplicate", "above-one", "nan", "text", "unpriced-model"],
)
def test_a_bad_row_is_named(tmp_path: Path, row: list[object], says: str) -> None:
    path = _write(tmp_path / "o.csv", HEADER, [*ROWS, row])
    with pytest.raises(OutcomeDataError, match=says):
        load_outcomes(path)


@pytest.mark.parametrize("prompt", ["[{[]: 1}]", "[1, {[1]}]"])
def test_a_prompt_that_looks_like_a_list_literal_is_read_as_text(tmp_path: Path, prompt: str) -> None:
    # Such text is tried as a list of turns; an unhashable literal must not stop the load.
    rows = [[1, prompt, "gpt-4o-mini", 1, 12, 3], [1, prompt, "gpt-4o", 1, 12, 3]]
    data = load_outcomes(_write(tmp_path / "o.csv", HEADER, [*ROWS, *[[3, *r[1:]] for r in rows]]))
    assert prompt in data.prompts
