"""Replaying recorded answers: one model's answers, correctness and dollars from an
outcomes file (:class:`~llm_cost_hooks.routing.OutcomeDataset`), looked up by prompt.

The adapters' replay chat models (``langchain.ReplayChatModel``) answer from it; usage is
counted offline (the files record dollars, not token counts) and flagged estimated.
"""

from __future__ import annotations

from typing import Any

from .._errors import ConfigurationError, ReplayMissError

__all__ = ["OutcomeReplay"]

#: The tokenizer replayed usage is counted with (the files record no token counts).
_COUNT_MODEL = "gpt-4"


def _norm(text: str) -> str:
    return " ".join(text.split())


class OutcomeReplay:
    """The recorded answers of model ``tier`` in ``data``, by (whitespace-normalised)
    prompt. Raises :class:`~llm_cost_hooks.ConfigurationError` for data that is not an
    ``OutcomeDataset`` or has no recorded responses for ``tier``."""

    def __init__(self, data: Any, tier: str) -> None:
        from ._data import OutcomeDataset

        if not isinstance(data, OutcomeDataset):
            raise ConfigurationError(
                "data must be an OutcomeDataset (llm_cost_hooks.routing.load_outcomes(path)), "
                f"got {type(data).__name__}."
            )
        if tier not in data.tiers:
            raise ConfigurationError(f"tier {tier!r} is not in the outcomes (models: {data.tiers}).")
        if not data.responses or tier not in data.responses:
            raise ConfigurationError(f"the outcomes have no recorded responses for {tier!r}.")
        self.data = data
        self.tier = tier
        self.responses: list[str | None] = data.responses[tier]
        self.col = data.tiers.index(tier)
        self.index: dict[str, int] = {}
        for i, prompt in enumerate(data.prompts):
            self.index.setdefault(_norm(prompt), i)

    def row_of(self, text: str) -> int:
        """The row whose prompt is ``text``; :class:`~llm_cost_hooks.ReplayMissError` if none."""
        text = _norm(text)
        i = self.index.get(text)
        if i is None:
            raise ReplayMissError(
                f"prompt not in the outcomes {self.data.source or ''}: {text[:60]!r}...; replay only "
                "prompts from the file (the last user message must match a recorded prompt)."
            )
        return i

    def blended_price(self, model_name: str) -> Any:
        """A per-token :class:`~llm_cost_hooks.pricing.ModelPrice` whose average matches the
        recorded dollars (for ordering tiers by price)."""
        from ..pricing import ModelPrice
        from ..tokens import default_counter

        counter = default_counter()
        data = self.data
        sample = range(0, len(data), max(1, len(data) // 50))
        tokens = 0
        for i in sample:
            tokens += counter.count_text(data.prompts[i], _COUNT_MODEL).tokens
            tokens += counter.count_text(self.responses[i] or "", _COUNT_MODEL).tokens
        dollars = sum(float(data.cost[i, self.col]) for i in sample)
        per_token = dollars / tokens if tokens else 0.0
        return ModelPrice(
            model=model_name, input_per_token=per_token, output_per_token=per_token, source="override"
        )

    def answer(self, i: int) -> tuple[str, dict[str, int], float, dict[str, Any]]:
        """Row ``i``'s (answer text, usage counted offline, recorded dollars, replay metadata
        ``{"quality", "cost_usd", "row"}``)."""
        from ..tokens import default_counter

        data = self.data
        text = self.responses[i] or ""
        counter = default_counter()
        n_in = counter.count_text(data.prompts[i], _COUNT_MODEL).tokens
        n_out = counter.count_text(text, _COUNT_MODEL).tokens
        cost = float(data.cost[i, self.col])
        usage = {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}
        replay = {
            "quality": float(data.quality[i, self.col]),
            "cost_usd": cost,
            "row": data.ids[i] if data.ids else i,
        }
        return text, usage, cost, replay
