"""The token budget of the text a trained router embeds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, QualityTarget, TextSelector, train_router
from llm_cost_hooks.routing._text import DEFAULT_MAX_TOKENS


def _units(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def test_a_long_last_turn_keeps_its_head_and_tail_within_the_budget() -> None:
    sel = TextSelector(max_tokens=20)
    words = [f"w{i}" for i in range(300)]
    body, _ = sel.select("Summarise: " + " ".join(words) + " What is the gist?")
    units = _units(body)
    assert len(units) == 20
    assert units[:5] == ["Summarise", ":", "w0", "w1", "w2"]  # a quarter from the head
    assert units[-15:] == [*[f"w{i}" for i in range(289, 300)], "What", "is", "the", "gist", "?"][-15:]
    short = "What is 2 + 2?"
    assert sel.select(short)[0] == short  # within the budget: unchanged
    exact = " ".join(words[:20])
    assert sel.select(exact)[0] == exact


def test_learned_selectors_get_the_budget_and_saved_ones_keep_theirs() -> None:
    sel = TextSelector.learn([f"shared line\nquestion {i}" for i in range(10)])
    assert sel.max_tokens == DEFAULT_MAX_TOKENS and sel.params()["max_tokens"] == DEFAULT_MAX_TOKENS
    assert TextSelector.learn(["a", "b"], max_tokens=None).max_tokens is None
    # A router saved before the budget existed has no such setting: it keeps reading as it did.
    old = {k: v for k, v in sel.params().items() if k != "max_tokens"}
    legacy = TextSelector.from_saved(sel.shared_array(), old)
    long_text = " ".join(["word"] * 200)
    assert legacy.max_tokens is None and legacy.select(long_text)[0] == long_text
    assert len(_units(sel.select(long_text)[0])) == DEFAULT_MAX_TOKENS
    again = TextSelector.from_saved(sel.shared_array(), sel.params())
    assert again.max_tokens == DEFAULT_MAX_TOKENS and again.shared == sel.shared
    with pytest.raises(ConfigurationError, match="max_tokens"):
        TextSelector(max_tokens=1)


def test_a_trained_router_routes_on_the_budgeted_text(tmp_path: object) -> None:
    # Whether the cheap tier is right is said at the end of a long request: the tail is kept.
    rng = np.random.default_rng(0)
    filler = " ".join(f"background{k}" for k in range(150))
    prompts, quality = [], []
    for i in range(160):
        a = int(rng.integers(1, 99))
        hard = i % 2 == 1
        tail = f"prove the conjecture on prime gaps {a}" if hard else f"what is {a} plus {a}"
        prompts.append(f"{filler} {tail}?")
        quality.append([0.0, 1.0] if hard else [1.0, 1.0])
    ds = OutcomeDataset(
        prompts=prompts,
        tiers=["small", "large"],
        quality=np.array(quality),
        cost=np.tile([1e-4, 2e-3], (160, 1)),
    )
    router = train_router(ds, HashingEmbedder(128), target=QualityTarget(share=0.95))
    assert router.model.selector is not None and router.model.selector.max_tokens == DEFAULT_MAX_TOKENS
    q, _ = router.predict_texts(
        [f"{filler} what is 5 plus 5?", f"{filler} prove the conjecture on prime gaps 7?"]
    )
    assert q[0, 0] > 0.7 and q[1, 0] < 0.3
