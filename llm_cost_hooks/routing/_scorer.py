"""A learned answer check for cascades: from the cheap tier's answer (and the request),
the chance that the answer is right, trained on recorded outcomes (FrugalGPT's scorer).

Features are generic and cheap (no model call, no embedding): the answer's length, lines
and numbers; its own arithmetic re-computed (:func:`~._checks.check_arithmetic`: how many
equations, how many wrong); its final answer (an explicit marker such as ``####``,
``answer is``, ``\\boxed{``, else the last number): present, the result of its last
equation, an integer, or a number copied from the request (a copied number is rarely the
result); the share of the request's numbers the answer uses (a solution that ignores a
given quantity is often wrong); hedging or self-correcting words; signs of a cut-off
answer (unbalanced brackets, ending on an operator); the share of repeated lines
(rambling); the request's length and count of numbers. A ridge regression (L2 chosen by
exact leave-one-out on the training rows) maps them to P(correct). Saved as JSON (never
pickle).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ConfigurationError, RouterModelError
from ._checks import Answer, _value, check_arithmetic
from ._files import replace_file
from ._model import L2_GRID, _fit_ridge_loo

__all__ = ["AnswerScorer", "answer_features"]

_NUM = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_FINAL = re.compile(r"(?:####|answer is|answer:|\\boxed\{)\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_HEDGE = re.compile(
    r"\b(approximately|assum\w*|cannot|can't|not possible|unclear|however|round\w*|estimat\w*|sorry|"
    r"mistake|actually|wait|let me|re-?evaluat\w*|incorrect|error)\b",
    re.IGNORECASE,
)
FEATURES = (
    "log_chars",
    "log_lines",
    "log_numbers",
    "log_equations",
    "has_final_marker",
    "final_is_last_result",
    "final_integer",
    "final_copied_from_request",
    "hedges",
    "ends_cleanly",
    "unique_line_share",
    "request_log_chars",
    "request_log_numbers",
    "log_wrong_equations",
    "any_wrong_equation",
    "request_numbers_used",
    "looks_cut_off",
)


def _numbers(text: str) -> list[float]:
    out = []
    for n in _NUM.findall(text):
        v = _value(n, needs_operator=False)
        if v is not None:
            out.append(v)
    return out


def _results(text: str) -> list[float]:
    """The right-hand sides of the answer's equations, in order."""
    out = []
    for m in re.finditer(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", text):
        v = _value(m.group(1), needs_operator=False)
        if v is not None:
            out.append(v)
    return out


def answer_features(response: str, request: str | None = None) -> list[float]:
    """The scorer's features of one answer (see the module docstring), in ``FEATURES`` order.

    >>> f = dict(zip(FEATURES, answer_features("2 + 2 = 5\\nThe answer is 5.", "What is 2 + 2?")))
    >>> f["any_wrong_equation"], f["final_is_last_result"], f["request_numbers_used"]
    (1.0, 1.0, 1.0)
    """
    r = response or ""
    p = request or ""
    lines = [line for line in r.splitlines() if line.strip()]
    nums = _numbers(r)
    given = set(_numbers(p))
    checked, wrong = check_arithmetic(r)
    results = _results(r)
    marked = _FINAL.findall(r)
    final = _value(marked[-1], needs_operator=False) if marked else (nums[-1] if nums else None)
    from_result = final is not None and any(abs(final - x) < 1e-9 for x in results)
    used = sum(1 for g in given if any(abs(g - v) < 1e-9 for v in nums)) / len(given) if given else 1.0
    tail = r.rstrip()[-1:]
    cut = r.count("<<") != r.count(">>") or r.count("(") != r.count(")") or tail in tuple(":,=+-*/(\\")
    return [
        math.log1p(len(r)),
        math.log1p(len(lines)),
        math.log1p(len(nums)),
        math.log1p(checked),
        1.0 if marked else 0.0,
        1.0 if final is not None and results and abs(final - results[-1]) < 1e-9 else 0.0,
        1.0 if final is not None and abs(final - round(final)) < 1e-9 else 0.0,
        1.0 if final is not None and final in given and not from_result else 0.0,
        min(len(_HEDGE.findall(r)), 3) / 3.0,
        1.0 if r.strip() and tail in ".!?)0123456789" else 0.0,
        len(set(lines)) / len(lines) if lines else 0.0,
        math.log1p(len(p)),
        math.log1p(len(given)),
        math.log1p(len(wrong)),
        1.0 if wrong else 0.0,
        float(used),
        1.0 if cut else 0.0,
    ]


@dataclass
class AnswerScorer:
    """Predicts whether a (cheap tier's) answer is right; use :meth:`check` in a cascade.

    >>> s = AnswerScorer.fit(["1+1?", "2+2?"] * 10, ["2", "2"] * 10, [1.0, 0.0] * 10)
    >>> round(s.score("1+1?", "2"), 2) > round(s.score("2+2?", "2"), 2)
    True
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    l2: float
    threshold: float | None = None

    @classmethod
    def fit(
        cls,
        requests: Sequence[str],
        responses: Sequence[str | None],
        correct: Sequence[float] | np.ndarray,
        *,
        l2_grid: Sequence[float] = (*L2_GRID, 300.0, 1000.0),
    ) -> AnswerScorer:
        """Train on past answers of one tier and their correctness (0/1 or a score in [0, 1])."""
        y = np.asarray(correct, dtype=np.float64)
        if not len(requests) == len(responses) == len(y):
            raise ConfigurationError(
                f"requests ({len(requests)}), responses ({len(responses)}) and correct "
                f"({len(y)}) must have the same length."
            )
        if len(y) < 5:
            raise ConfigurationError(f"need at least 5 scored answers to train a scorer, got {len(y)}.")
        x = np.array([answer_features(r or "", p) for p, r in zip(requests, responses)])
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        w, mu, ym, l2 = _fit_ridge_loo((x - mean) / scale, y[:, None], l2_grid)
        return cls(mean=mean, scale=scale, weights=w[:, 0], bias=float(ym[0] - mu @ w[:, 0]), l2=l2)

    def scores(self, requests: Sequence[str | None], responses: Sequence[str | None]) -> np.ndarray:
        """Predicted chance of a right answer, per (request, response)."""
        x = np.array([answer_features(r or "", p) for p, r in zip(requests, responses)])
        return np.asarray(np.clip(((x - self.mean) / self.scale) @ self.weights + self.bias, 0.0, 1.0))

    def score(self, request: str | None, response: str | None) -> float:
        """:meth:`scores` of one answer."""
        return float(self.scores([request], [response])[0])

    def check(self, threshold: float | None = None, *, tiers: Sequence[str] | None = None) -> Any:
        """A cascade check: passes when the answer's score reaches ``threshold`` (default:
        the calibrated one). The request is ``Answer.request`` when the caller set it.
        With ``tiers``, only answers of those tiers are judged (the scorer was trained on
        one tier's answers; a stronger tier's answer passes)."""
        t = self.threshold if threshold is None else threshold
        if t is None:
            raise ConfigurationError(
                "no threshold: pass one or set AnswerScorer.threshold from a calibration."
            )
        only = None if tiers is None else frozenset(tiers)

        def learned_answer_check(answer: Answer) -> bool | str:
            if only is not None and answer.tier not in only:
                return True
            s = self.score(answer.request, answer.text)
            return True if s >= t else f"scorer {s:.2f} < {t:.2f}"

        return learned_answer_check

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (weights and feature names)."""
        return {
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "l2": self.l2,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnswerScorer:
        """Inverse of :meth:`to_dict` (checks the feature set matches this version and every
        number is there and finite: :class:`RouterModelError` says what to do otherwise)."""
        if not isinstance(d, dict):
            raise RouterModelError(
                "a saved scorer is a JSON object written by AnswerScorer.save; retrain it."
            )
        if list(d.get("features") or []) != list(FEATURES):
            raise RouterModelError("the saved scorer was trained on other features; retrain it.")
        try:
            scorer = cls(
                mean=np.array(d["mean"], dtype=np.float64),
                scale=np.array(d["scale"], dtype=np.float64),
                weights=np.array(d["weights"], dtype=np.float64),
                bias=float(d["bias"]),
                l2=float(d["l2"]),
                threshold=None if d.get("threshold") is None else float(d["threshold"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RouterModelError(
                f"the saved scorer is incomplete or edited ({type(exc).__name__}: {exc}); retrain it."
            ) from None
        arrays = (scorer.mean, scorer.scale, scorer.weights)
        if any(a.shape != (len(FEATURES),) or not np.isfinite(a).all() for a in arrays) or not (
            math.isfinite(scorer.bias) and (scorer.threshold is None or math.isfinite(scorer.threshold))
        ):
            raise RouterModelError(
                f"the saved scorer needs {len(FEATURES)} finite numbers per array and a finite bias; retrain it."
            )
        return scorer

    def save(self, path: str | Path) -> Path:
        """Write the scorer as JSON, replacing the old file whole (a reader, or a save cut
        short, sees the old scorer or the new one)."""
        p = Path(path)
        replace_file(p, json.dumps(self.to_dict()).encode("utf-8"))
        return p

    @classmethod
    def load(cls, path: str | Path) -> AnswerScorer:
        """Read a scorer written by :meth:`save`."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RouterModelError(
                f"{path} is not a saved scorer (not valid JSON: {exc}); retrain it."
            ) from None
        return cls.from_dict(d)
