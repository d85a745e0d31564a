"""Files of real per-model outcomes: load, validate, split.

Two layouts are read:

* **RouterBench** (also the generic layout, CSV or JSONL): one row per prompt with a
  ``prompt`` column and, per model ``M``, a column ``M`` (correctness 0/1 or a score in
  [0, 1]), ``M|total_cost`` (dollars of that call) and optionally ``M|model_response``.
  A directory or several files are concatenated. ``prompt`` may be a Python list literal
  (as RouterBench ships it).
* **RouteLLM** two-model responses (``gsm8k_responses.csv``): ``prompt``, per model ``M``
  a column ``M`` (``True``/``False``) and ``M_response``. The file has no costs: each
  call is priced from its token counts (offline tokenizer) and the price book, or from
  ``cost_per_call`` / ``prices`` you give. ``*_contaminated_prompts.jsonl`` next to it
  lists prompts RouteLLM trained on; ``drop_contaminated=True`` leaves them out.
* **MT-Bench** (RouteLLM's ``mt_bench_question.jsonl`` + ``mt_bench_judgements.jsonl``):
  two-turn questions with GPT-4-judge scores 1-10 per model and turn; see
  :func:`load_mtbench` for how scores become quality.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import logging
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._errors import ConfigurationError, OutcomeDataError, UnknownModelError

__all__ = [
    "OutcomeDataError",
    "OutcomeDataset",
    "load_long",
    "load_mtbench",
    "load_outcomes",
    "load_routellm",
    "load_routerbench",
]

logger = logging.getLogger("llm_cost_hooks.routing")

_COST_SUFFIX = "|total_cost"
_RESPONSE_SUFFIX = "|model_response"
_RESERVED = {"", "prompt", "sample_id", "eval_name", "oracle_model_to_route_to", "feature", "id"}


@dataclass
class OutcomeDataset:
    """Prompts with, per tier (model), the real quality and cost of its answer.

    ``quality[i, t]`` is in [0, 1] (correctness or a normalised score); ``cost[i, t]``
    is dollars. ``responses[t][i]`` is the recorded answer text (or ``None``).
    ``features[i]`` is the task type (RouterBench ``eval_name``) when known.

    >>> ds = OutcomeDataset(prompts=["a", "b"], tiers=["small", "large"],
    ...     quality=np.array([[1, 1], [0, 1.0]]), cost=np.array([[1e-4, 1e-3], [1e-4, 1e-3]]))
    >>> ds.tier_quality().tolist(), ds.strongest
    ([0.5, 1.0], 'large')
    """

    prompts: list[str]
    tiers: list[str]
    quality: np.ndarray
    cost: np.ndarray
    responses: dict[str, list[str | None]] | None = None
    features: list[str | None] | None = None
    ids: list[str] | None = None
    source: str = ""
    dropped_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quality = np.asarray(self.quality, dtype=np.float64)
        self.cost = np.asarray(self.cost, dtype=np.float64)
        n, t = len(self.prompts), len(self.tiers)
        if t == 0:
            raise OutcomeDataError(f"{self.source or 'outcomes'}: no tiers (model columns) found.")
        if len(set(self.tiers)) != t:
            raise OutcomeDataError(f"{self.source or 'outcomes'}: duplicate tier names {self.tiers}.")
        for name, arr in (("quality", self.quality), ("cost", self.cost)):
            if arr.shape != (n, t):
                raise OutcomeDataError(f"{name} has shape {arr.shape}, expected ({n}, {t}).")
            if not np.all(np.isfinite(arr)):
                raise OutcomeDataError(f"{name} contains NaN or infinite values.")
        if np.any(self.quality < 0) or np.any(self.quality > 1):
            raise OutcomeDataError("quality values must be in [0, 1] (correctness or a normalised score).")
        if np.any(self.cost < 0):
            raise OutcomeDataError("cost values must be non-negative dollars.")

    def __len__(self) -> int:
        return len(self.prompts)

    # -- summaries -----------------------------------------------------------------
    def tier_quality(self) -> np.ndarray:
        """Mean quality of each tier."""
        return np.asarray(self.quality.mean(axis=0))

    def tier_cost(self) -> np.ndarray:
        """Mean dollars per request of each tier."""
        return np.asarray(self.cost.mean(axis=0))

    @property
    def strongest(self) -> str:
        """The tier with the best mean quality (ties: the cheaper)."""
        q, c = self.tier_quality(), self.tier_cost()
        return self.tiers[max(range(len(self.tiers)), key=lambda t: (q[t], -c[t]))]

    @property
    def cheapest(self) -> str:
        return self.tiers[int(np.argmin(self.tier_cost()))]

    def index(self, tier: str) -> int:
        try:
            return self.tiers.index(tier)
        except ValueError:
            raise ConfigurationError(f"unknown tier {tier!r}; the data has {self.tiers}.") from None

    # -- selection -------------------------------------------------------------------
    def subset(self, idx: Sequence[int] | np.ndarray) -> OutcomeDataset:
        idx = np.asarray(idx, dtype=np.int64)
        return OutcomeDataset(
            prompts=[self.prompts[i] for i in idx],
            tiers=list(self.tiers),
            quality=self.quality[idx],
            cost=self.cost[idx],
            responses=None
            if self.responses is None
            else {t: [r[i] for i in idx] for t, r in self.responses.items()},
            features=None if self.features is None else [self.features[i] for i in idx],
            ids=None if self.ids is None else [self.ids[i] for i in idx],
            source=self.source,
            extra={
                k: [v[i] for i in idx] if isinstance(v, list) and len(v) == len(self) else v
                for k, v in self.extra.items()
            },
        )

    def select_tiers(self, tiers: Sequence[str]) -> OutcomeDataset:
        """Keep only these tiers (in this order)."""
        cols = [self.index(t) for t in tiers]
        return OutcomeDataset(
            prompts=list(self.prompts),
            tiers=list(tiers),
            quality=self.quality[:, cols],
            cost=self.cost[:, cols],
            responses=None
            if self.responses is None
            else {t: self.responses[t] for t in tiers if t in self.responses},
            features=self.features,
            ids=self.ids,
            source=self.source,
            extra=dict(self.extra),
        )

    def split(
        self, test_fraction: float = 0.3, *, seed: int = 0, stratify: bool = True
    ) -> tuple[OutcomeDataset, OutcomeDataset]:
        """A random train/test split (stratified by feature when known).

        >>> ds = OutcomeDataset(prompts=list("abcdefghij"), tiers=["m"],
        ...     quality=np.ones((10, 1)), cost=np.ones((10, 1)))
        >>> [len(p) for p in ds.split(0.3)]
        [7, 3]
        """
        if not 0 < test_fraction < 1:
            raise ConfigurationError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
        rng = np.random.default_rng(seed)
        groups: dict[Any, list[int]] = {}
        keys = self.features if (stratify and self.features) else [None] * len(self)
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        train: list[int] = []
        test: list[int] = []
        for key in sorted(groups, key=str):
            members = np.array(groups[key])
            rng.shuffle(members)
            k = round(len(members) * test_fraction)
            test.extend(members[:k].tolist())
            train.extend(members[k:].tolist())
        return self.subset(sorted(train)), self.subset(sorted(test))

    def folds(self, k: int = 5, *, seed: int = 0) -> list[tuple[OutcomeDataset, OutcomeDataset]]:
        """``k`` (train, test) pairs whose tests partition the data (cross-validation)."""
        if k < 2:
            raise ConfigurationError(f"k must be at least 2, got {k}.")
        order = np.random.default_rng(seed).permutation(len(self))
        parts = np.array_split(order, k)
        out = []
        for j in range(k):
            test = np.sort(parts[j])
            train = np.sort(np.concatenate([parts[i] for i in range(k) if i != j]))
            out.append((self.subset(train), self.subset(test)))
        return out

    @staticmethod
    def concat(parts: Sequence[OutcomeDataset]) -> OutcomeDataset:
        if not parts:
            raise ConfigurationError("nothing to concatenate.")
        tiers = parts[0].tiers
        for p in parts[1:]:
            if p.tiers != tiers:
                raise OutcomeDataError(f"{p.source}: tiers {p.tiers} differ from {parts[0].source}: {tiers}.")
        has_resp = all(p.responses is not None for p in parts)
        has_feat = all(p.features is not None for p in parts)
        has_ids = all(p.ids is not None for p in parts)
        return OutcomeDataset(
            prompts=[x for p in parts for x in p.prompts],
            tiers=list(tiers),
            quality=np.concatenate([p.quality for p in parts]),
            cost=np.concatenate([p.cost for p in parts]),
            responses={
                t: [x for p in parts for x in (p.responses or {})[t]]
                for t in tiers
                if all(t in (p.responses or {}) for p in parts)
            }
            if has_resp
            else None,
            features=[x for p in parts for x in (p.features or [])] if has_feat else None,
            ids=[x for p in parts for x in (p.ids or [])] if has_ids else None,
            source=", ".join(p.source for p in parts),
            dropped_rows=sum(p.dropped_rows for p in parts),
        )


# -- reading files ---------------------------------------------------------------------
def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    name = path.name.removesuffix(".gz")
    csv.field_size_limit(sys.maxsize)
    with _open_text(path) as fh:
        if name.endswith(".jsonl"):
            rows = []
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise OutcomeDataError(f"{path}: line {lineno} is not valid JSON ({exc.msg}).") from None
                if not isinstance(obj, dict):
                    raise OutcomeDataError(f"{path}: line {lineno} must be a JSON object.")
                rows.append(obj)
            columns = list(dict.fromkeys(k for r in rows for k in r))
            return columns, rows
        if name.endswith(".csv"):
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    raise OutcomeDataError(f"{path}: unsupported file type; use .csv, .jsonl (optionally .gz).")


def _files(path: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(path, (str, Path)):
        paths = [Path(path)]
    else:
        paths = [Path(p) for p in path]
    out: list[Path] = []
    for p in paths:
        p = p.expanduser()
        if p.is_dir():
            found = sorted(
                x
                for x in p.iterdir()
                if x.name.removesuffix(".gz").endswith((".csv", ".jsonl")) and "contaminated" not in x.name
            )
            if not found:
                raise OutcomeDataError(f"{p}: no .csv/.jsonl(.gz) outcome files in this directory.")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise OutcomeDataError(f"{p}: no such file or directory.")
    return out


def _prompt_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    text = "" if value is None else str(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return "\n".join(parsed)
    return text


_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no"}


def _number(path: Path, row: int, column: str, value: Any) -> float | None:
    """A float, ``None`` for an empty cell; a typed error naming the cell otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        f = float(value)
    else:
        text = str(value).strip()
        if text == "":
            return None
        low = text.lower()
        if low in _TRUE:
            return 1.0
        if low in _FALSE:
            return 0.0
        try:
            f = float(text)
        except ValueError:
            raise OutcomeDataError(
                f"{path}: row {row}, column {column!r}: {text[:40]!r} is not a number "
                "(expected correctness 0/1, True/False or a score in [0, 1], or dollars)."
            ) from None
    if not math.isfinite(f):
        return None
    return f


def _response_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], str):
            return parsed[0]
    return text


def load_routerbench(
    path: str | Path | Sequence[str | Path],
    *,
    tiers: Sequence[str] | None = None,
    missing: Literal["drop", "error"] = "drop",
) -> OutcomeDataset:
    """Read RouterBench-layout outcome files (a file, several, or a directory).

    ``missing="drop"`` skips rows with an empty outcome or cost cell (RouterBench ships
    a few) and counts them in ``dropped_rows``; ``"error"`` raises naming the cell.

    >>> ds = load_routerbench("../shared/data/routing/routerbench_train")  # doctest: +SKIP
    >>> len(ds.tiers)  # doctest: +SKIP
    11
    """
    files = _files(path)
    parts = []
    for f in files:
        columns, rows = _read_rows(f)
        if "prompt" not in columns:
            raise OutcomeDataError(f"{f}: missing column 'prompt' (columns: {columns[:8]}...).")
        models = [c for c in columns if c not in _RESERVED and "|" not in c]
        if tiers is not None:
            absent = [t for t in tiers if t not in models]
            if absent:
                raise OutcomeDataError(f"{f}: missing columns {absent} (model columns found: {models}).")
            models = list(tiers)
        if not models:
            raise OutcomeDataError(
                f"{f}: no model columns; expected a column per model with its correctness."
            )
        for m in models:
            if m + _COST_SUFFIX not in columns:
                raise OutcomeDataError(
                    f"{f}: missing column {m + _COST_SUFFIX!r} (the dollars of model {m!r})."
                )
        prompts, quality, cost, feats, ids = [], [], [], [], []
        responses: dict[str, list[str | None]] = {m: [] for m in models}
        dropped = 0
        for i, r in enumerate(rows, start=2 if f.name.removesuffix(".gz").endswith(".csv") else 1):
            q = [_number(f, i, m, r.get(m)) for m in models]
            c = [_number(f, i, m + _COST_SUFFIX, r.get(m + _COST_SUFFIX)) for m in models]
            if any(v is None for v in q + c):
                if missing == "error":
                    col = next(
                        m for m, v in zip(models + [m + _COST_SUFFIX for m in models], q + c) if v is None
                    )
                    raise OutcomeDataError(
                        f"{f}: row {i}, column {col!r} is empty; pass missing='drop' to skip such rows."
                    )
                dropped += 1
                continue
            for m, v in zip(models, q):
                if not 0 <= v <= 1:  # type: ignore[operator]
                    raise OutcomeDataError(
                        f"{f}: row {i}, column {m!r}: {v} is outside [0, 1]; normalise scores first."
                    )
            for m, v in zip(models, c):
                if v < 0:  # type: ignore[operator]
                    raise OutcomeDataError(f"{f}: row {i}, column {m + _COST_SUFFIX!r}: negative cost {v}.")
            prompts.append(_prompt_text(r.get("prompt")))
            quality.append(q)
            cost.append(c)
            feats.append(r.get("eval_name") or r.get("feature") or None)
            ids.append(str(r.get("sample_id") or r.get("id") or f"{f.name}:{i}"))
            for m in models:
                responses[m].append(_response_text(r.get(m + _RESPONSE_SUFFIX)))
        if dropped:
            logger.info("llm-cost-hooks routing: %s: dropped %d rows with empty outcome cells", f, dropped)
        if not prompts:
            raise OutcomeDataError(f"{f}: no usable rows.")
        parts.append(
            OutcomeDataset(
                prompts=prompts,
                tiers=models,
                quality=np.array(quality),
                cost=np.array(cost),
                responses=responses,
                features=feats,
                ids=ids,
                source=str(f),
                dropped_rows=dropped,
            )
        )
    return OutcomeDataset.concat(parts) if len(parts) > 1 else parts[0]


def _contaminated(path: Path, stem: str | None = None) -> set[str]:
    stem = stem or path.name.split("_responses")[0]
    cand = [
        path.parent / f"{stem}_contaminated_prompts.jsonl.gz",
        path.parent / f"{stem}_contaminated_prompts.jsonl",
    ]
    for c in cand:
        if c.is_file():
            _, rows = _read_rows(c)
            return {str(r.get("eval_prompt", "")).strip() for r in rows}
    return set()


def _token_prices(
    model: str, book_name: str, prices: Mapping[str, tuple[float, float]] | None, where: str
) -> tuple[float, float]:
    """Dollars per input and output token of ``model``: from ``prices``, else the price
    book's entry for ``book_name``; a typed error saying how to give a price otherwise."""
    if prices and model in prices:
        return prices[model]
    from ..pricing import PriceBook

    try:
        p = PriceBook.default().lookup(book_name)
    except UnknownModelError as exc:
        raise OutcomeDataError(
            f"{where}no price for model {book_name!r}: {exc} Give one with --price '{model}=INPUT,OUTPUT' (dollars "
            f"per million tokens) or name its price-book model (--price-model '{model}=NAME', or a 'price_model' "
            "column in the long form)."
        ) from None
    return p.input_per_token, p.output_per_token


def _price_calls(
    models: Sequence[str],
    calls: Sequence[Sequence[Sequence[tuple[str, str]]]],
    *,
    cost_per_call: Mapping[str, float] | None,
    prices: Mapping[str, tuple[float, float]] | None,
    price_models: Mapping[str, str] | None,
    extra_output_tokens: int = 0,
) -> np.ndarray:
    """Dollars per row and model for files that record no costs.

    ``calls[t][i]`` lists the (input text, output text) of each model call row ``i`` made
    with model ``t`` (two for a two-turn conversation). Priced by ``cost_per_call[M]``
    (dollars per row), ``prices[M] = (input, output)`` dollars per token, or the price
    book's price of ``price_models.get(M, M)``; tokens counted offline with the GPT-4
    tokenizer (an estimate for other models).
    """
    n = len(calls[0]) if calls else 0
    cost = np.zeros((n, len(models)))
    counter = None
    for t, m in enumerate(models):
        if cost_per_call and m in cost_per_call:
            cost[:, t] = float(cost_per_call[m])
            continue
        if counter is None:
            from ..tokens import default_counter

            counter = default_counter()
        pin, pout = _token_prices(m, (price_models or {}).get(m, m), prices, "")
        for i, row_calls in enumerate(calls[t]):
            for text_in, text_out in row_calls:
                cost[i, t] += (
                    counter.count_text(text_in, "gpt-4").tokens * pin
                    + (counter.count_text(text_out or "", "gpt-4").tokens + extra_output_tokens) * pout
                )
    return cost


def load_routellm(
    path: str | Path | Sequence[str | Path],
    *,
    cost_per_call: Mapping[str, float] | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    price_models: Mapping[str, str] | None = None,
    drop_contaminated: bool = True,
    assumed_output_tokens: int = 1,
) -> OutcomeDataset:
    """Read RouteLLM response files: ``prompt``, per model ``M`` a column ``M``
    (``True``/``False``) and, in the GSM8K layout, ``M_response``; the MMLU layout has no
    responses (and some copies a ``subject`` column, kept as the task name). A directory
    or several files (one per MMLU subject) are concatenated; a file's name after
    ``mmlu_`` is its task name when no column gives one.

    The files record no costs. Each call is priced, in order of preference, by
    ``cost_per_call[M]`` (dollars per call), by ``prices[M] = (input, output)`` dollars
    per token times the tokens of the prompt and the recorded response, or by the price
    book's price of ``price_models.get(M, M)`` times those tokens. Tokens are counted
    offline with the GPT-4 tokenizer (an estimate for other models). Without recorded
    responses each answer is priced as ``assumed_output_tokens`` tokens (1: a
    multiple-choice letter) and ``responses`` is None (no cascade can be replayed).

    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = os.path.join(tmp.name, "gsm8k_responses.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("prompt,gpt-4,gpt-4_response,mixtral,mixtral_response\\n"
    ...                 "What is 2+2?,True,4,True,4\\n"
    ...                 "What is 17*23?,True,391,False,381\\n")
    >>> ds = load_routellm(path, cost_per_call={"gpt-4": 0.01, "mixtral": 0.001})
    >>> ds.tiers, ds.quality.tolist(), ds.responses["mixtral"]
    (['gpt-4', 'mixtral'], [[1.0, 1.0], [1.0, 0.0]], ['4', '381'])
    >>> tmp.cleanup()
    """
    files = _files(path)
    parts = [
        _load_routellm_file(
            f,
            cost_per_call=cost_per_call,
            prices=prices,
            price_models=price_models,
            drop_contaminated=drop_contaminated,
            assumed_output_tokens=assumed_output_tokens,
        )
        for f in files
    ]
    return OutcomeDataset.concat(parts) if len(parts) > 1 else parts[0]


_TASK_COLUMNS = ("subject", "task", "category", "eval_name", "feature")


def _load_routellm_file(
    f: Path,
    *,
    cost_per_call: Mapping[str, float] | None,
    prices: Mapping[str, tuple[float, float]] | None,
    price_models: Mapping[str, str] | None,
    drop_contaminated: bool,
    assumed_output_tokens: int,
) -> OutcomeDataset:
    columns, rows = _read_rows(f)
    if "prompt" not in columns:
        raise OutcomeDataError(f"{f}: missing column 'prompt' (columns: {columns[:8]}).")
    task_col = next((c for c in _TASK_COLUMNS if c in columns), None)
    candidates = [
        c
        for c in columns
        if c != "prompt" and not c.endswith("_response") and c not in _RESERVED and c != task_col
    ]
    # A model column holds correctness (True/False, 0/1); any other column is context.
    models = [
        c
        for c in candidates
        if all(str(r.get(c, "")).strip().lower() in _TRUE | _FALSE | {""} for r in rows[:200])
    ]
    if len(models) < 2:
        raise OutcomeDataError(
            f"{f}: expected at least two model columns of True/False correctness, found "
            f"{models} (columns: {columns[:8]})."
        )
    with_responses = [m for m in models if m + "_response" in columns]
    if with_responses and len(with_responses) != len(models):
        absent = [m + "_response" for m in models if m not in with_responses]
        raise OutcomeDataError(
            f"{f}: responses are recorded for {with_responses} but not {absent}; "
            "give every model's responses or none."
        )
    has_responses = bool(with_responses)
    skip = _contaminated(f) if drop_contaminated else set()
    default_task = (
        f.name.removesuffix(".gz").removesuffix(".csv").removeprefix("mmlu_")
        if f.name.startswith("mmlu_")
        else None
    )
    prompts: list[str] = []
    quality: list[list[float]] = []
    feats: list[str | None] = []
    responses: dict[str, list[str | None]] = {m: [] for m in models}
    dropped = 0
    for i, r in enumerate(rows, start=2):
        prompt = str(r.get("prompt") or "")
        if prompt.strip() in skip:
            dropped += 1
            continue
        cells = [_number(f, i, m, r.get(m)) for m in models]
        q = [v for v in cells if v is not None]
        if len(q) != len(cells):
            raise OutcomeDataError(f"{f}: row {i}: empty correctness cell.")
        prompts.append(prompt)
        quality.append(q)
        feats.append(str(r.get(task_col) or "") or None if task_col else default_task)
        for m in models:
            responses[m].append((r.get(m + "_response") or "") if has_responses else None)
    if not prompts:
        raise OutcomeDataError(f"{f}: no usable rows.")
    if has_responses:
        calls = [[[(p, responses[m][i] or "")] for i, p in enumerate(prompts)] for m in models]
    else:
        logger.warning(
            "llm-cost-hooks routing: %s records no responses: each answer is priced as %d output "
            "token(s) (assumed_output_tokens)",
            f,
            assumed_output_tokens,
        )
        calls = [[[(p, "")] for p in prompts] for _ in models]
    cost = _price_calls(
        models,
        calls,
        cost_per_call=cost_per_call,
        prices=prices,
        price_models=price_models,
        extra_output_tokens=0 if has_responses else assumed_output_tokens,
    )
    return OutcomeDataset(
        prompts=prompts,
        tiers=models,
        quality=np.array(quality),
        cost=cost,
        responses=responses if has_responses else None,
        features=feats if any(x is not None for x in feats) else None,
        ids=[f"{f.name}:{i}" for i in range(len(prompts))],
        source=str(f),
        dropped_rows=dropped,
        extra={"contaminated_dropped": dropped},
    )


_LONG_REQUIRED = ("model", "quality")


def load_long(
    path: str | Path | Sequence[str | Path],
    *,
    prices: Mapping[str, tuple[float, float]] | None = None,
    price_models: Mapping[str, str] | None = None,
    missing: Literal["drop", "error"] = "drop",
) -> OutcomeDataset:
    r"""Read outcomes in the long form: one row per (prompt, model) answer.

    Columns: ``prompt_id`` (rows with the same id are answers to one prompt; default: the
    prompt text), ``prompt``, ``model``, ``quality`` (in [0, 1]: correctness, or a judge
    score you normalised), and the call's dollars as ``cost``, or as ``input_tokens`` and
    ``output_tokens`` priced by ``prices[model] = (input, output)`` dollars per token or
    else by the price book (the ``price_model`` column, or ``price_models[model]``, names
    the price-book model when the outcome's model name is not one). Optional: ``task``
    (or ``feature``/``eval_name``), ``response``, ``context`` (the turn before the prompt).
    A prompt lacking an answer of some model is dropped (``missing="drop"``, counted in
    ``dropped_rows`` and logged) or raises (``"error"``).

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "outcomes.csv"
    >>> _ = f.write_text("prompt_id,prompt,model,quality,cost\n1,2+2?,small,1,0.0001\n1,2+2?,large,1,0.001\n"
    ...                  "2,prove it,small,0,0.0001\n2,prove it,large,1,0.002\n")
    >>> ds = load_long(f)
    >>> ds.tiers, ds.quality.tolist()
    (['small', 'large'], [[1.0, 1.0], [0.0, 1.0]])
    """
    files = _files(path)
    return _long_from_rows(
        [(f, *_read_rows(f)) for f in files], prices=prices, price_models=price_models, missing=missing
    )


def _long_from_rows(
    parts: Sequence[tuple[Any, list[str], list[dict[str, Any]]]],
    *,
    prices: Mapping[str, tuple[float, float]] | None = None,
    price_models: Mapping[str, str] | None = None,
    missing: Literal["drop", "error"] = "drop",
) -> OutcomeDataset:
    """:func:`load_long` on rows already read: ``(source, columns, rows)`` per file."""
    files = [f for f, _, _ in parts]
    by_prompt: dict[str, dict[str, Any]] = {}
    models: list[str] = []
    for f, columns, rows in parts:
        absent = [c for c in _LONG_REQUIRED if c not in columns]
        if absent or ("prompt" not in columns and "prompt_id" not in columns):
            raise OutcomeDataError(
                f"{f}: the long form needs columns prompt_id, prompt, model, quality and cost "
                f"(or input_tokens + output_tokens); missing {absent or ['prompt']}."
            )
        priced_by_tokens = "cost" not in columns
        if priced_by_tokens and not {"input_tokens", "output_tokens"} <= set(columns):
            raise OutcomeDataError(
                f"{f}: give each call's dollars in 'cost', or 'input_tokens' and 'output_tokens' to price it."
            )
        for i, r in enumerate(rows, start=2 if str(f).removesuffix(".gz").endswith(".csv") else 1):
            model = str(r.get("model") or "").strip()
            if not model:
                raise OutcomeDataError(f"{f}: row {i}: empty 'model'.")
            q = _number(f, i, "quality", r.get("quality"))
            if q is None or not 0 <= q <= 1:
                raise OutcomeDataError(
                    f"{f}: row {i}, column 'quality': {r.get('quality')!r} must be in [0, 1] "
                    "(correctness, or a judge score divided by its maximum)."
                )
            if priced_by_tokens:
                tin = _number(f, i, "input_tokens", r.get("input_tokens"))
                tout = _number(f, i, "output_tokens", r.get("output_tokens"))
                if tin is None or tout is None or tin < 0 or tout < 0:
                    raise OutcomeDataError(
                        f"{f}: row {i}: input_tokens/output_tokens must be non-negative numbers."
                    )
                name = str(r.get("price_model") or "") or (price_models or {}).get(model, model)
                pin, pout = _token_prices(model, name, prices, f"{f}: row {i}: ")
                cost = tin * pin + tout * pout
            else:
                given = _number(f, i, "cost", r.get("cost"))
                if given is None or given < 0:
                    raise OutcomeDataError(
                        f"{f}: row {i}, column 'cost': {r.get('cost')!r} must be non-negative dollars."
                    )
                cost = given
            key = str(r.get("prompt_id") or r.get("prompt") or "")
            entry = by_prompt.setdefault(key, {"prompt": None, "answers": {}, "task": None, "context": None})
            if r.get("prompt") not in (None, ""):
                entry["prompt"] = _prompt_text(r.get("prompt"))
            entry["task"] = entry["task"] or r.get("task") or r.get("feature") or r.get("eval_name") or None
            entry["context"] = entry["context"] or r.get("context") or None
            if model in entry["answers"]:
                raise OutcomeDataError(f"{f}: row {i}: a second answer of model {model!r} to prompt {key!r}.")
            entry["answers"][model] = (q, cost, r.get("response"))
            if model not in models:
                models.append(model)
    dropped = 0
    prompts, quality, cost_rows, feats, ids, contexts = [], [], [], [], [], []
    responses: dict[str, list[str | None]] = {m: [] for m in models}
    for key, e in by_prompt.items():
        if e["prompt"] is None:
            raise OutcomeDataError(f"prompt_id {key!r} has no 'prompt' text on any row.")
        if len(e["answers"]) < len(models):
            if missing == "error":
                lack = [m for m in models if m not in e["answers"]]
                raise OutcomeDataError(
                    f"prompt_id {key!r} has no answer of {lack}; pass missing='drop' to skip it."
                )
            dropped += 1
            continue
        prompts.append(e["prompt"])
        quality.append([e["answers"][m][0] for m in models])
        cost_rows.append([e["answers"][m][1] for m in models])
        feats.append(str(e["task"]) if e["task"] else None)
        contexts.append(e["context"])
        ids.append(key)
        for m in models:
            responses[m].append(e["answers"][m][2])
    if dropped:
        logger.warning(
            "llm-cost-hooks routing: dropped %d prompts lacking an answer of every model %s", dropped, models
        )
    if not prompts:
        raise OutcomeDataError(
            f"{', '.join(map(str, files))}: no prompt has an answer of every model {models}."
        )
    has_resp = {m for m in models if all(x not in (None, "") for x in responses[m])}
    extra: dict[str, Any] = {}
    if any(c for c in contexts):
        extra["contexts"] = contexts
    return OutcomeDataset(
        prompts=prompts,
        tiers=models,
        quality=np.array(quality),
        cost=np.array(cost_rows),
        responses={m: responses[m] for m in models if m in has_resp} or None,
        features=feats if any(feats) else None,
        ids=ids,
        source=", ".join(map(str, files)),
        dropped_rows=dropped,
        extra=extra,
    )


def write_long(data: OutcomeDataset, path: str | Path) -> Path:
    """Write ``data`` in the long form :func:`load_long` reads (CSV, gzip if ``.gz``).

    >>> ds = OutcomeDataset(prompts=["2+2?", "prove it"], tiers=["small", "large"],
    ...     quality=np.array([[1, 1], [0, 1.0]]), cost=np.array([[1e-4, 1e-3], [1e-4, 2e-3]]))
    >>> import os, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = write_long(ds, os.path.join(tmp.name, "outcomes.csv.gz"))
    >>> back = load_long(path)
    >>> back.tiers, back.quality.tolist()
    (['small', 'large'], [[1.0, 1.0], [0.0, 1.0]])
    >>> tmp.cleanup()
    """
    p = Path(path)
    if p.suffix == ".gz":
        with gzip.open(p, "wt", encoding="utf-8", newline="") as fh:
            _write_long_rows(data, fh)
    else:
        with open(p, "w", encoding="utf-8", newline="") as fh:
            _write_long_rows(data, fh)
    return p


def _write_long_rows(data: OutcomeDataset, fh: Any) -> None:
    w = csv.writer(fh)
    w.writerow(["prompt_id", "prompt", "model", "quality", "cost", "task"])
    ids = data.ids if data.ids and len(set(data.ids)) == len(data) else [str(i) for i in range(len(data))]
    for i, prompt in enumerate(data.prompts):
        task = (data.features or [None] * len(data))[i] or ""
        for t, m in enumerate(data.tiers):
            w.writerow(
                [ids[i], prompt, m, repr(float(data.quality[i, t])), repr(float(data.cost[i, t])), task]
            )


_MTB_QUESTIONS = "mt_bench_question.jsonl"
_MTB_JUDGEMENTS = "mt_bench_judgements.jsonl"
_CONV_START = "<|The Start of Assistant A's Conversation with User|>"
_CONV_END = "<|The End of Assistant A's Conversation with User|>"
_ANSWER = re.compile(r"\[The Start of Assistant's Answer\]\n(.*)\n\[The End of Assistant's Answer\]", re.S)


def _mtbench_answers(judge_prompt: str) -> list[str]:
    """The assistant's answers quoted in a judge prompt (one for turn 1, two for turn 2)."""
    if _CONV_START in judge_prompt:
        conv = judge_prompt.split(_CONV_START, 1)[1].split(_CONV_END, 1)[0]
        parts = conv.split("### Assistant A:\n")[1:]
        return [p.split("\n\n### User:\n", 1)[0].strip() for p in parts]
    m = _ANSWER.search(judge_prompt)
    return [m.group(1).strip()] if m else []


def _find(directory: Path, name: str) -> Path | None:
    for cand in (directory / (name + ".gz"), directory / name):
        if cand.is_file():
            return cand
    return None


def load_mtbench(
    path: str | Path,
    *,
    judgements: str | Path | None = None,
    success_threshold: float | None = None,
    cost_per_call: Mapping[str, float] | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    price_models: Mapping[str, str] | None = None,
    drop_contaminated: bool = True,
) -> OutcomeDataset:
    """Read RouteLLM's MT-Bench layout: two-turn questions and GPT-4-judge scores (1-10).

    ``path`` is the directory holding ``mt_bench_question.jsonl(.gz)`` and
    ``mt_bench_judgements.jsonl(.gz)``, or the questions file (``judgements`` then
    defaults to the file next to it). One row per question, for every model judged on
    both turns of it. Quality is the mean of the two turns' scores divided by 10 (so a
    share of a model's quality is a share of its MT-Bench score); with
    ``success_threshold`` it is 1 when that mean reaches the threshold, else 0. The
    prompt is the first turn (what a router sees first); ``extra["turns"]`` has both.
    Costs are priced like :func:`load_routellm`'s, for both calls of the conversation
    (the second call re-sends turn 1 and its answer). Answers are taken from the judge
    prompts. ``mt_bench_contaminated_prompts.jsonl`` lists questions RouteLLM trained on;
    ``drop_contaminated=True`` leaves them out. ``features`` is the MT-Bench category.

    >>> import json, os, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with open(os.path.join(tmp.name, "mt_bench_question.jsonl"), "w") as f:
    ...     _ = f.write(json.dumps({"question_id": 81, "category": "writing",
    ...                             "turns": ["Write a haiku.", "Now make it rhyme."]}) + "\\n")
    >>> with open(os.path.join(tmp.name, "mt_bench_judgements.jsonl"), "w") as f:
    ...     for model, score in [("gpt-4", 9), ("mixtral", 6)]:
    ...         for turn in (1, 2):
    ...             _ = f.write(json.dumps({"question_id": 81, "model": model, "turn": turn,
    ...                                     "score": score}) + "\\n")
    >>> ds = load_mtbench(tmp.name, cost_per_call={"gpt-4": 0.01, "mixtral": 0.001})
    >>> ds.tiers, ds.quality.tolist(), ds.features
    (['gpt-4', 'mixtral'], [[0.9, 0.6]], ['writing'])
    >>> tmp.cleanup()
    """
    p = Path(path).expanduser()
    directory = p if p.is_dir() else p.parent
    qfile = _find(p, _MTB_QUESTIONS) if p.is_dir() else p
    jfile = Path(judgements).expanduser() if judgements is not None else _find(directory, _MTB_JUDGEMENTS)
    if qfile is None or not qfile.is_file():
        raise OutcomeDataError(f"{p}: no {_MTB_QUESTIONS}(.gz) here (RouteLLM's MT-Bench questions).")
    if jfile is None or not jfile.is_file():
        raise OutcomeDataError(
            f"{directory}: no {_MTB_JUDGEMENTS}(.gz) next to the questions; pass judgements=PATH."
        )
    if success_threshold is not None and not 1 <= success_threshold <= 10:
        raise ConfigurationError(f"success_threshold is on the judge's 1-10 scale, got {success_threshold}.")
    _, qrows = _read_rows(qfile)
    _, jrows = _read_rows(jfile)
    questions: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(qrows, 1):
        turns = r.get("turns")
        if "question_id" not in r or not isinstance(turns, list) or not turns:
            raise OutcomeDataError(f"{qfile}: line {i} needs 'question_id' and a non-empty 'turns' list.")
        questions[str(r["question_id"])] = r
    scores: dict[tuple[str, str], dict[int, float]] = {}
    answers: dict[tuple[str, str], list[str]] = {}
    models: list[str] = []
    for i, r in enumerate(jrows, 1):
        missing = [k for k in ("question_id", "model", "turn", "score") if k not in r]
        if missing:
            raise OutcomeDataError(f"{jfile}: line {i} is missing {missing}.")
        score = _number(jfile, i, "score", r["score"])
        if score is None or not 1 <= score <= 10:
            continue  # the judge gave no valid rating (RouteLLM's files use -1 for that)
        key = (str(r["question_id"]), str(r["model"]))
        if key[1] not in models:
            models.append(key[1])
        turn = int(r["turn"])
        scores.setdefault(key, {})[turn] = score
        quoted = _mtbench_answers(str(r.get("user_prompt") or ""))
        if len(quoted) >= len(answers.get(key, [])):
            answers[key] = quoted
    if len(models) < 2:
        raise OutcomeDataError(f"{jfile}: expected judgements of at least two models, found {models}.")
    skip = _contaminated(qfile, "mt_bench") if drop_contaminated else set()
    prompts, quality, feats, ids, turns_all = [], [], [], [], []
    responses: dict[str, list[str | None]] = {m: [] for m in models}
    calls: list[list[list[tuple[str, str]]]] = [[] for _ in models]
    dropped = contaminated = 0
    for qid, q in questions.items():
        turns = [str(t) for t in q["turns"]]
        if turns[0].strip() in skip:
            contaminated += 1
            continue
        per_model = [scores.get((qid, m), {}) for m in models]
        if any(len(s) < len(turns) for s in per_model):
            dropped += 1  # a model lacks a valid score for some turn
            continue
        means = [sum(s.values()) / len(s) for s in per_model]
        if success_threshold is None:
            quality.append([v / 10.0 for v in means])
        else:
            quality.append([1.0 if v >= success_threshold else 0.0 for v in means])
        prompts.append(turns[0])
        turns_all.append(turns)
        feats.append(str(q.get("category") or "") or None)
        ids.append(qid)
        for t, m in enumerate(models):
            said = answers.get((qid, m), [])
            responses[m].append(said[0] if said else None)
            history, row_calls = "", []
            for k, turn in enumerate(turns):
                out = said[k] if k < len(said) else ""
                history = f"{history}\n{turn}" if history else turn
                row_calls.append((history, out))
                history = f"{history}\n{out}"
            calls[t].append(row_calls)
    if not prompts:
        raise OutcomeDataError(f"{jfile}: no question has valid scores of every model on every turn.")
    cost = _price_calls(models, calls, cost_per_call=cost_per_call, prices=prices, price_models=price_models)
    return OutcomeDataset(
        prompts=prompts,
        tiers=models,
        quality=np.array(quality),
        cost=cost,
        responses=responses,
        features=feats,
        ids=ids,
        source=str(jfile),
        dropped_rows=dropped + contaminated,
        extra={
            "contaminated_dropped": contaminated,
            "incomplete_dropped": dropped,
            "turns": turns_all,
            "quality": "mean judge score / 10"
            if success_threshold is None
            else f"mean judge score >= {success_threshold:g}",
        },
    )


def load_outcomes(
    path: str | Path | Sequence[str | Path],
    *,
    layout: Literal["auto", "routerbench", "routellm", "mtbench", "long"] = "auto",
    **kwargs: Any,
) -> OutcomeDataset:
    """Read outcomes in any layout (``auto`` looks at the file names and columns; a
    directory with ``mt_bench_question.jsonl(.gz)`` is the MT-Bench layout)."""
    if layout == "auto":
        if isinstance(path, (str, Path)) and _is_mtbench(Path(path).expanduser()):
            return load_mtbench(path, **kwargs)
        files = _files(path)
        columns, rows = _read_rows(files[0])
        layout = _guess_layout(columns, rows)
    if layout == "routerbench":
        return load_routerbench(path, **kwargs)
    if layout == "mtbench":
        if not isinstance(path, (str, Path)):
            raise ConfigurationError("the MT-Bench layout takes one directory or questions file.")
        return load_mtbench(path, **kwargs)
    if layout == "routellm":
        return load_routellm(path, **kwargs)
    if layout == "long":
        return load_long(path, **kwargs)
    raise ConfigurationError(
        f"unknown layout {layout!r}; use 'long', 'routerbench', 'routellm', 'mtbench' or 'auto'."
    )


def _guess_layout(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> Literal["long", "routerbench", "routellm"]:
    # One of the long form's own columns: a long-form file missing the other gets the long
    # form's error naming it, not another layout's.
    if {"model", "quality"} & set(columns) and ("prompt_id" in columns or "prompt" in columns):
        return "long"
    if any(c.endswith(_COST_SUFFIX) for c in columns):
        return "routerbench"
    # RouteLLM: no costs; model columns of True/False (with or without *_response).
    boolean = [
        c
        for c in columns
        if c != "prompt"
        and not c.endswith("_response")
        and c not in _RESERVED
        and rows
        and all(str(r.get(c, "")).strip().lower() in _TRUE | _FALSE for r in rows[:50])
    ]
    return "routellm" if len(boolean) >= 2 else "routerbench"


def _is_mtbench(p: Path) -> bool:
    if p.is_dir():
        return _find(p, _MTB_QUESTIONS) is not None
    return p.name.removesuffix(".gz") == _MTB_QUESTIONS
