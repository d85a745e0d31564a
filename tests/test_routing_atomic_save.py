"""Saving a router (``router.json`` + ``router.npz``) or an answer scorer replaces the old
files whole: a process reading them while they are saved, or a save cut short (a full disk,
a crash), finds the old router or the new one, never half of a file or a mixed pair."""

from __future__ import annotations

import errno
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_cost_hooks.routing import (
    AnswerScorer,
    HashingEmbedder,
    OutcomeDataset,
    QualityTarget,
    RouterModel,
    train_router,
)
from llm_cost_hooks.routing import _model as model_module

TIERS = ["gpt-4o-mini", "gpt-4o"]


def _outcomes(n: int, seed: int) -> OutcomeDataset:
    rng = np.random.default_rng(seed)
    prompts, quality = [], []
    for i in range(n):
        a, b = rng.integers(1, 99, size=2)
        hard = i % 2 == 1
        prompts.append(
            f"Prove the conjecture about prime gaps number {a}{b}." if hard else f"What is {a} plus {b}?"
        )
        quality.append([0.0, 1.0] if hard else [1.0, 1.0])
    return OutcomeDataset(
        prompts=prompts, tiers=list(TIERS), quality=np.array(quality), cost=np.tile([1e-4, 2e-3], (n, 1))
    )


@pytest.fixture(scope="module")
def routers() -> dict[str, RouterModel]:
    """Two different routers, each marked with its name."""
    out = {}
    for name, (n, seed) in {"old": (120, 0), "new": (90, 1)}.items():
        model = train_router(_outcomes(n, seed), HashingEmbedder(64), target=QualityTarget(share=0.95)).model
        model.info["mark"] = name
        out[name] = model
    return out


def _is_whole(loaded: RouterModel, routers: dict[str, RouterModel]) -> bool:
    want = routers[loaded.info["mark"]]
    return set(loaded.arrays) == set(want.arrays) and all(
        np.array_equal(loaded.arrays[k], want.arrays[k]) for k in want.arrays
    )


def test_a_router_read_while_it_is_saved_again_is_always_one_whole_router(
    routers: dict[str, RouterModel], tmp_path: Path
) -> None:
    d = tmp_path / "router"
    routers["old"].save(d)
    done = threading.Event()
    errors: list[BaseException] = []

    def save_in_a_loop() -> None:
        try:
            for i in range(60):
                routers["new" if i % 2 == 0 else "old"].save(d)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            done.set()

    saver = threading.Thread(target=save_in_a_loop)
    saver.start()
    loads = 0
    try:
        while not done.is_set():
            loaded = RouterModel.load(d)
            assert _is_whole(loaded, routers)
            loads += 1
    finally:
        done.wait()
        saver.join()
    assert not errors
    assert loads > 0
    assert _is_whole(RouterModel.load(d), routers)


class _FullDisk:
    """Files opened for writing in ``directory`` fail after their first bytes (ENOSPC), as on
    a full disk; files opened by descriptor (temporary files) too."""

    def __init__(self, directory: Path, real_open: Any) -> None:
        self.directory = str(directory)
        self.real_open = real_open

    def __call__(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = self.real_open(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and (isinstance(file, int) or str(file).startswith(self.directory)):
            return _Failing(f)
        return f


class _Failing:
    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, data: Any) -> int:
        self._f.write(data[:8])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _Failing:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()


def test_a_router_save_that_fails_on_a_full_disk_leaves_the_old_router(
    routers: dict[str, RouterModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "router"
    routers["old"].save(d)
    monkeypatch.setattr(io, "open", _FullDisk(d, io.open))
    with pytest.raises(OSError):
        routers["new"].save(d)
    monkeypatch.undo()
    loaded = RouterModel.load(d)
    assert loaded.info["mark"] == "old" and _is_whole(loaded, routers)
    routers["new"].save(d)  # the next save, with room, replaces it
    assert RouterModel.load(d).info["mark"] == "new"


@pytest.mark.parametrize("cut", ["before-json", "before-arrays"])
def test_a_router_save_cut_short_at_either_rename_leaves_a_whole_router(
    routers: dict[str, RouterModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    # The json's rename is the moment the new router counts: cut before it, the old one
    # loads; cut after it (the arrays still staged), the new one does.
    d = tmp_path / "router"
    routers["old"].save(d)
    real_replace = model_module.replace_file
    real_os_replace = model_module.os.replace

    def replace_file(path: Path, data: bytes) -> None:
        if cut == "before-json" and path.name == "router.json":
            raise KeyboardInterrupt
        real_replace(path, data)

    def os_replace(src: Any, dst: Any) -> None:
        if cut == "before-arrays" and Path(dst).name == "router.npz":
            raise KeyboardInterrupt
        real_os_replace(src, dst)

    monkeypatch.setattr(model_module, "replace_file", replace_file)
    monkeypatch.setattr(model_module.os, "replace", os_replace)
    with pytest.raises(KeyboardInterrupt):
        routers["new"].save(d)
    monkeypatch.undo()
    loaded = RouterModel.load(d)
    assert loaded.info["mark"] == ("old" if cut == "before-json" else "new")
    assert _is_whole(loaded, routers)
    routers["old"].save(d)
    assert RouterModel.load(d).info["mark"] == "old"


def _scorers() -> dict[float, AnswerScorer]:
    from llm_cost_hooks.routing._scorer import FEATURES

    n = len(FEATURES)
    return {
        bias: AnswerScorer(
            mean=np.full(n, bias), scale=np.ones(n), weights=np.linspace(0, 1, n) * bias, bias=bias, l2=1.0
        )
        for bias in (0.25, -0.75)
    }


def test_a_scorer_read_while_it_is_saved_again_is_always_one_whole_scorer(tmp_path: Path) -> None:
    scorers = _scorers()
    path = tmp_path / "scorer.json"
    scorers[0.25].save(path)
    done = threading.Event()

    def save_in_a_loop() -> None:
        try:
            for i in range(300):
                scorers[-0.75 if i % 2 == 0 else 0.25].save(path)
        finally:
            done.set()

    saver = threading.Thread(target=save_in_a_loop)
    saver.start()
    try:
        while not done.is_set():
            loaded = AnswerScorer.load(path)
            assert np.array_equal(loaded.weights, scorers[loaded.bias].weights)
    finally:
        done.wait()
        saver.join()


def test_a_scorer_save_that_fails_on_a_full_disk_leaves_the_old_scorer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorers = _scorers()
    path = tmp_path / "scorer.json"
    scorers[0.25].save(path)
    monkeypatch.setattr(io, "open", _FullDisk(tmp_path, io.open))
    with pytest.raises(OSError):
        scorers[-0.75].save(path)
    monkeypatch.undo()
    assert AnswerScorer.load(path).bias == 0.25
    assert [p.name for p in tmp_path.iterdir()] == ["scorer.json"]  # no temporary file left


def test_saved_files_get_the_permissions_a_plain_write_gives(
    routers: dict[str, RouterModel], tmp_path: Path
) -> None:
    # Temporary files made by tempfile are private (0o600); a router trained by one account and
    # served by another must stay readable as before.
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    want = plain.stat().st_mode & 0o777
    d = tmp_path / "router"
    routers["old"].save(d)
    scorer = _scorers()[0.25].save(tmp_path / "scorer.json")
    assert {p.name: p.stat().st_mode & 0o777 for p in (d / "router.json", d / "router.npz", scorer)} == {
        "router.json": want,
        "router.npz": want,
        "scorer.json": want,
    }
