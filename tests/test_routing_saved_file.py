"""The saved router file as users ship it: every damaged, edited, older or newer file fails
with a typed error that says what to fix, never a numpy/json traceback or another policy."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.routing import (
    AnswerScorer,
    HashingEmbedder,
    OutcomeDataset,
    QualityTarget,
    RouteRequest,
    RouterModel,
    RouterModelError,
    TrainedRouter,
    train_router,
)

TIERS = ["gpt-4o-mini", "gpt-4o"]


def _outcomes(n: int) -> OutcomeDataset:
    rng = np.random.default_rng(0)
    prompts, quality = [], []
    for i in range(n):
        a, b = rng.integers(1, 99, size=2)
        if i % 2:
            prompts.append(f"Prove the conjecture about prime gaps number {a}{b}.")
            quality.append([0.0, 1.0])
        else:
            prompts.append(f"What is {a} plus {b}?")
            quality.append([1.0, 1.0])
    return OutcomeDataset(
        prompts=prompts, tiers=list(TIERS), quality=np.array(quality), cost=np.tile([1e-4, 2e-3], (n, 1))
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("router") / "router"
    train_router(_outcomes(120), HashingEmbedder(64), target=QualityTarget(share=0.95), out=str(out))
    return out


def _copy(saved: Path, tmp_path: Path) -> Path:
    d = tmp_path / "r"
    shutil.copytree(saved, d)
    return d


def _edit_json(
    fn: Callable[[dict[str, Any]], None], *, drop_checksum: bool = False
) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        meta = json.loads((d / "router.json").read_text())
        fn(meta)
        if drop_checksum:
            meta.pop("arrays_sha256", None)
        (d / "router.json").write_text(json.dumps(meta))

    return edit


def _edit_arrays(fn: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        with np.load(d / "router.npz") as z:
            arrays = {k: z[k] for k in z.files}
        fn(arrays)
        np.savez(d / "router.npz", **arrays)  # type: ignore[arg-type]
        _edit_json(lambda m: None, drop_checksum=True)(d)

    return edit


def _truncate_npz_unchecked(d: Path) -> None:
    (d / "router.npz").write_bytes((d / "router.npz").read_bytes()[:500])
    _edit_json(lambda m: None, drop_checksum=True)(d)


def _pickled_array(d: Path) -> None:
    np.savez(d / "router.npz", evil=np.array([object()], dtype=object))
    _edit_json(lambda m: None, drop_checksum=True)(d)


def _cut_every_fold(arrays: dict[str, np.ndarray]) -> None:
    for k in [k for k in arrays if k.endswith(".wq")]:
        arrays[k] = arrays[k][:10]


DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "json is a list": (lambda d: (d / "router.json").write_text("[1, 2]"), "JSON object"),
    "json is not text": (lambda d: (d / "router.json").write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
    "npz truncated, no checksum": (_truncate_npz_unchecked, "cannot be read"),
    "npz holds pickled objects": (_pickled_array, "pickle"),
    "tiers missing": (_edit_json(lambda m: m.pop("tiers")), "tiers"),
    "tiers not a list": (_edit_json(lambda m: m.update(tiers="gpt-4o")), "tiers"),
    "tiers do not match the arrays": (_edit_json(lambda m: m.update(tiers=["a", "b", "c"])), "retrain"),
    "dim not a number": (_edit_json(lambda m: m["embedder"].update(dim="abc")), "retrain"),
    "dim edited": (_edit_json(lambda m: m["embedder"].update(dim=100)), "retrain"),
    "folds not a number": (_edit_json(lambda m: m["params"].update(folds="five")), "retrain"),
    "more folds than saved": (_edit_json(lambda m: m["params"].update(folds=9)), "retrain"),
    "info not an object": (_edit_json(lambda m: m.update(info=[1])), "retrain"),
    "knob not a number": (_edit_json(lambda m: m["info"]["operating_point"].update(knob="x")), "retrain"),
    "an array missing": (_edit_arrays(lambda a: a.pop("f0.wq")), "retrain"),
    "an array cut short": (_edit_arrays(_cut_every_fold), "retrain"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_or_edited_file_is_a_router_model_error(saved: Path, tmp_path: Path, case: str) -> None:
    damage, says = DAMAGED[case]
    d = _copy(saved, tmp_path)
    damage(d)
    with pytest.raises(RouterModelError, match=says):
        TrainedRouter.load(str(d), embedder=HashingEmbedder(64))


def test_the_saved_file_itself_loads_and_routes(saved: Path) -> None:
    router = TrainedRouter.load(str(saved))
    assert router.route(RouteRequest("What is 2 plus 2?"), TIERS).tier in TIERS
    assert RouterModel.load(saved).tiers == TIERS


def test_a_file_from_a_newer_version_says_upgrade(saved: Path, tmp_path: Path) -> None:
    d = _copy(saved, tmp_path)
    _edit_json(lambda m: m.update(format_version=99))(d)
    with pytest.raises(RouterModelError, match="newer version of llm-cost-hooks.*upgrade"):
        TrainedRouter.load(str(d))


def test_an_embedder_this_version_does_not_ship_is_named_not_replaced(saved: Path, tmp_path: Path) -> None:
    # Never a silent switch to the default MiniLM (other vectors: another policy).
    d = _copy(saved, tmp_path)
    _edit_json(lambda m: m["embedder"].update(name="my-custom-embedder"))(d)
    with pytest.raises(RouterModelError, match="my-custom-embedder.*embedder="):
        TrainedRouter.load(str(d))


def test_other_tier_names_than_the_file_is_a_typed_error_at_route_time(saved: Path) -> None:
    router = TrainedRouter.load(str(saved))
    with pytest.raises(ConfigurationError, match="tier_map"):
        router.route(RouteRequest("What is 2 plus 2?"), ["small", "large"])


def test_tiers_the_file_does_not_know_are_warned_about(saved: Path, caplog: pytest.LogCaptureFixture) -> None:
    router = TrainedRouter.load(str(saved))
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        router.check_tiers(["gpt-4o-mini", "gpt-4o", "claude-3-haiku"])
    assert "claude-3-haiku" in caplog.text and "never" in caplog.text


def test_loading_without_numpy_names_the_extra(saved: Path) -> None:
    # numpy is not a core dependency: the error must name the extra, not be numpy's own.
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from llm_cost_hooks.routing import TrainedRouter\n"
        "from llm_cost_hooks import MissingExtraError\n"
        f"try:\n    TrainedRouter.load({str(saved)!r})\n"
        "except MissingExtraError as e:\n    print('MissingExtraError', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "MissingExtraError" in out.stdout and "llm-cost-hooks[embed]" in out.stdout, out.stderr[-2000:]


def _scorer_file(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    from llm_cost_hooks.routing._scorer import FEATURES

    n = len(FEATURES)
    scorer = AnswerScorer(mean=np.zeros(n), scale=np.ones(n), weights=np.zeros(n), bias=0.0, l2=1.0)
    path = scorer.save(tmp_path / "scorer.json")
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: "[1]",
        lambda d: json.dumps(d)[:50],
        lambda d: json.dumps({k: v for k, v in d.items() if k != "bias"}),
        lambda d: json.dumps({**d, "weights": [0.0]}),
        lambda d: json.dumps({**d, "weights": "abc"}),
        lambda d: json.dumps({**d, "bias": "nan"}),
        lambda d: json.dumps({**d, "features": ["length"]}),
    ],
    ids=["list", "truncated", "no-bias", "short", "text", "nan", "other-features"],
)
def test_a_damaged_or_edited_scorer_file_is_a_router_model_error(
    tmp_path: Path, damage: Callable[[dict[str, Any]], str]
) -> None:
    path, saved = _scorer_file(tmp_path)
    assert 0.0 <= AnswerScorer.load(path).score("What is 2 + 2?", "4") <= 1.0
    path.write_text(damage(saved))
    with pytest.raises(RouterModelError, match="retrain it"):
        AnswerScorer.load(path)


@pytest.mark.parametrize("mode", ["utility", "threshold"])
def test_a_file_without_the_calibrated_point_used_is_warned_about(
    saved: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    d = _copy(saved, tmp_path)
    if mode == "utility":
        _edit_json(lambda m: m["info"].pop("operating_point"))(d)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        TrainedRouter.load(str(d), mode=mode)  # type: ignore[arg-type]
    assert "no calibrated operating point" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        TrainedRouter.load(str(saved))
        TrainedRouter.load(str(d), mode=mode, knob=0.5)  # type: ignore[arg-type]
    assert "operating point" not in caplog.text


def test_a_request_with_a_lone_surrogate_is_routed_as_its_readable_text(saved: Path) -> None:
    # A broken emoji decoded from JSON ("\ud83d" alone): the tokenizers and the hashing
    # embedder refuse it, and the request must not fail on the router's reading of it.
    router = TrainedRouter.load(str(saved))
    broken = router.route(RouteRequest("Prove the conjecture about prime gaps number 4242. \ud83d"), TIERS)
    readable = router.route(RouteRequest("Prove the conjecture about prime gaps number 4242. ?"), TIERS)
    assert broken.tier == readable.tier and broken.scores == readable.scores
    # a router without text selection (saved before it) embeds the raw text
    old = TrainedRouter(RouterModel.fit(_outcomes(40), HashingEmbedder(64)), knob=0.0)
    assert old.route(RouteRequest("What is 2 plus 2? \ud83d"), TIERS).tier in TIERS


def test_the_path_of_router_json_names_its_router(saved: Path) -> None:
    assert TrainedRouter.load(str(saved / "router.json")).model.tiers == TIERS
    assert RouterModel.load(saved / "router.npz").tiers == TIERS


def test_saving_into_a_file_is_a_configuration_error(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigurationError, match="is a file"):
        RouterModel.load(saved).save(tmp_path / "afile")


@pytest.mark.parametrize("content", [b"not a database", b"prompt,model,quality\nhi,gpt-4o,1\n"])
def test_a_file_that_is_not_a_ledger_is_named(tmp_path: Path, content: bytes) -> None:
    from llm_cost_hooks import OutcomeDataError
    from llm_cost_hooks.routing import outcomes_from_ledger

    (tmp_path / "x.db").write_bytes(content)
    with pytest.raises(OutcomeDataError, match="is not a ledger file.*without --from-ledger"):
        outcomes_from_ledger(tmp_path / "x.db")
