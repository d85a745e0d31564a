"""``calibrate --new-share F``: the share of in-domain questions with no stored answer.

Each labelled query is asked with its label stored (weight 1 - F) and with its label left out
(weight F, any hit false); precision at a threshold is a ratio of those weighted counts."""

from __future__ import annotations

import argparse
import json

import pytest

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.cache._calibrate import calibrate_intents, operating_point
from llm_cost_hooks.cache._cli import add_cache_commands


class _CosineVerifier:
    """The pair verifier's place taken by the cosine itself, so the geometry decides."""

    def probability(self, query: str, stored: str, cosine: float) -> float:
        return cosine


def _hand_case() -> tuple[list[str], list[str], object]:
    """Two labels of two rows each (0.95 within a label, 0.80 across) and one off-topic row
    (0.85 to its nearest row, a1). Leave-one-out: the four stored-label asks hit at 0.95 and are
    right; the off-topic row hits at 0.85 and is wrong; the four asks with their label left out
    hit the other label at 0.80 and are wrong."""
    import numpy as np

    gram = np.array(
        [
            [1.00, 0.95, 0.80, 0.80, 0.85],
            [0.95, 1.00, 0.80, 0.80, 0.83],
            [0.80, 0.80, 1.00, 0.95, 0.70],
            [0.80, 0.80, 0.95, 1.00, 0.70],
            [0.85, 0.83, 0.70, 0.70, 1.00],
        ]
    )
    vecs = np.linalg.cholesky(gram)  # rows whose dot products are the Gram matrix above
    texts = ["please help me with my account"] * 4 + ["tell me a funny joke"]
    return texts, ["a", "a", "b", "b", ""], vecs


def _curve(share: float | None, **kwargs: object) -> list[tuple[float, float, float]]:
    texts, labels, vecs = _hand_case()
    res = calibrate_intents(
        texts,
        labels,
        vectors=(vecs, vecs),
        verifier=_CosineVerifier(),
        holdout=0.0,
        target_precision=0.5,
        rule="point",
        new_share=share,
        **kwargs,  # type: ignore[arg-type]
    )
    return [(round(c.threshold, 6), c.precision, c.hit_rate) for c in res.curve]


def test_precision_is_a_ratio_of_weighted_counts() -> None:
    """F = 0.25: stored asks weigh 0.75, left-out asks 0.25, the off-topic row 1 (total 5).
    At 0.85: 3 correct of 3 + 1 = 0.75; at 0.80: 3 of 3 + 1 + 1 = 0.6 (a mix of ratios,
    0.75 * 1 + 0.25 * 0 = 0.75, would hide the off-topic hit); hit rates 3/5, 4/5, 5/5."""
    assert _curve(0.25) == [(0.95, 1.0, 0.6), (0.85, 0.75, 0.8), (0.8, 0.6, 1.0)]
    # F = 0.5: 2 of 2 + 1 at 0.85, 2 of 2 + 1 + 2 at 0.80.
    assert _curve(0.5) == [(0.95, 1.0, 0.4), (0.85, 2 / 3, 0.6), (0.8, 0.4, 1.0)]
    # F = 0: no left-out asks; 4 of 4 + 1 at 0.85.
    assert _curve(0.0) == [(0.95, 1.0, 0.8), (0.85, 0.8, 1.0)]


def test_the_share_moves_the_chosen_threshold() -> None:
    texts, labels, vecs = _hand_case()

    def chosen(share: float) -> float:
        res = calibrate_intents(
            texts,
            labels,
            vectors=(vecs, vecs),
            verifier=_CosineVerifier(),
            holdout=0.0,
            target_precision=0.7,
            rule="point",
            new_share=share,
        )
        assert res.met and res.new_share == share
        return round(res.policy.pair_threshold, 6)

    assert chosen(0.0) == 0.85  # 0.8 at 0.85
    assert chosen(0.25) == 0.85  # 0.75 at 0.85; 0.6 at 0.80
    assert chosen(0.5) == 0.95  # 0.667 at 0.85


def test_weighted_bound_uses_the_effective_number_of_hits() -> None:
    from llm_cost_hooks.cache._signals import wilson_lower_bound

    # Equal weights: the same bound as the plain counts, whatever the scale.
    plain, _ = operating_point([0.9] * 10, [True] * 9 + [False], target=0.5)
    weighted, _ = operating_point([0.9] * 10, [True] * 9 + [False], target=0.5, weights=[0.25] * 10)
    assert plain is not None and weighted is not None
    assert weighted.precision_lower == pytest.approx(plain.precision_lower)
    assert weighted.precision_lower == pytest.approx(wilson_lower_bound(9, 10))
    # Unequal weights: 2 + 2 correct of 2 + 2 + 1 hits; effective hits 25 / 9.
    mixed, _ = operating_point([0.9] * 3, [True, True, False], target=0.0, weights=[2.0, 2.0, 1.0])
    assert mixed is not None
    assert mixed.precision == pytest.approx(0.8)
    assert mixed.precision_lower == pytest.approx(wilson_lower_bound(0.8 * 25 / 9, 25 / 9))


def test_all_labels_stored_is_new_share_zero() -> None:
    import numpy as np

    texts, labels, vecs = _hand_case()
    tiled = np.vstack([vecs] * 3)
    kw: dict[str, object] = {
        "vectors": (tiled, tiled),
        "verifier": _CosineVerifier(),
        "target_precision": 0.5,
    }
    old = calibrate_intents(texts * 3, labels * 3, new_questions=False, **kw)  # type: ignore[arg-type]
    new = calibrate_intents(texts * 3, labels * 3, new_share=0.0, **kw)  # type: ignore[arg-type]
    assert old.model_dump() == new.model_dump()
    assert new.n_new_questions == 0 and new.new_share == 0.0
    default = calibrate_intents(texts * 3, labels * 3, **kw)  # type: ignore[arg-type]
    assert default.new_share == 0.5 and default.n_new_questions > 0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_new_share_outside_zero_to_one_is_a_typed_error(bad: float) -> None:
    texts, labels, vecs = _hand_case()
    with pytest.raises(ConfigurationError, match="new_share must be from 0 to 1"):
        calibrate_intents(texts, labels, vectors=(vecs, vecs), verifier=_CosineVerifier(), new_share=bad)


def test_new_questions_false_contradicts_a_positive_share() -> None:
    texts, labels, vecs = _hand_case()
    with pytest.raises(ConfigurationError, match="means new_share=0"):
        calibrate_intents(
            texts,
            labels,
            vectors=(vecs, vecs),
            verifier=_CosineVerifier(),
            new_questions=False,
            new_share=0.5,
        )


def test_the_data_suggests_a_share() -> None:
    """Leave-one-out: rows whose label has no other row (Good-Turing's unseen mass); with a
    separate cache: queries whose label has no cache row."""
    import numpy as np

    texts, labels, vecs = _hand_case()
    lone = calibrate_intents(
        [*texts, "please help me with my account"],
        [*labels, "d"],
        vectors=(np.vstack([vecs, vecs[-1:]]),) * 2,
        verifier=_CosineVerifier(),
        new_share=0.25,
    )
    assert lone.new_share_estimate == pytest.approx(1 / 5)
    assert "at least 0.20" in lone.summary()
    split = calibrate_intents(
        texts,
        labels,
        cache_texts=texts[:2],
        cache_labels=labels[:2],
        vectors=(vecs, vecs[:2]),
        verifier=_CosineVerifier(),
    )
    assert split.new_share_estimate == pytest.approx(0.5)  # label b has no cache row


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_cache_commands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_new_share_parses_and_validates(tmp_path, capsys) -> None:
    f = tmp_path / "intents.csv"
    rows = [("How do I reset my PIN?", "pin"), ("How can I reset my PIN?", "pin")]
    rows += [("Where is my card?", "card"), ("Where is my card now?", "card"), ("Tell me a joke", "")]
    f.write_text("text,label\n" + "\n".join(f'"{t}",{lab}' for t, lab in rows * 3))
    parser = _parser()
    assert parser.parse_args(["cache", "calibrate", str(f), "--new-share", "0.25"]).new_share == 0.25
    with pytest.raises(SystemExit):  # not a number: argparse's usage error
        parser.parse_args(["cache", "calibrate", str(f), "--new-share", "half"])
    capsys.readouterr()
    for bad in ("1.5", "-0.1", "nan"):
        args = parser.parse_args(["cache", "calibrate", str(f), "--new-share", bad])
        with pytest.raises(ConfigurationError, match="--new-share must be from 0 to 1"):
            args.func(args)
    args = parser.parse_args(["cache", "calibrate", str(f), "--new-share", "0.5", "--all-labels-stored"])
    with pytest.raises(ConfigurationError, match="contradicts"):
        args.func(args)

    def run(*extra: str) -> dict[str, object]:
        args = parser.parse_args(["cache", "calibrate", str(f), "--target", "0.5", "--json", *extra])
        args.func(args)
        out: dict[str, object] = json.loads(capsys.readouterr().out)
        return out

    alias, zero = run("--all-labels-stored"), run("--new-share", "0")
    assert alias == zero and zero["new_share"] == 0.0 and zero["n_new_questions"] == 0
    quarter = run("--new-share", "0.25")
    assert quarter["new_share"] == 0.25 and quarter["n_new_questions"] == 12
    assert quarter["new_share_estimate"] == 0.0


def test_neighbourhood_model_takes_the_share_too() -> None:
    """``kind="combined"``: F = 0 is the leave-one-out-only calibration; the stored-label and
    left-out asks are weighed as for the verified policy."""
    import numpy as np

    texts, labels, vecs = _hand_case()
    tiled = np.vstack([vecs] * 4)
    kw: dict[str, object] = {"vectors": (tiled, tiled), "kind": "combined", "holdout": 0.0, "rule": "point"}
    old = calibrate_intents(texts * 4, labels * 4, new_questions=False, **kw)  # type: ignore[arg-type]
    zero = calibrate_intents(texts * 4, labels * 4, new_share=0.0, **kw)  # type: ignore[arg-type]
    assert old.model_dump() == zero.model_dump() and zero.n_new_questions == 0
    quarter = calibrate_intents(texts * 4, labels * 4, new_share=0.25, **kw)  # type: ignore[arg-type]
    assert quarter.new_share == 0.25 and quarter.n_new_questions == 16
    # The widest cut serves every ask: 16 stored-label asks (weight 0.75 each) right, 4 off-topic
    # rows (1 each) and 16 left-out asks (0.25 each) wrong.
    widest = min(quarter.curve, key=lambda c: c.threshold)
    assert widest.hits == 36 and widest.precision == pytest.approx(12 / (12 + 4 + 4))
