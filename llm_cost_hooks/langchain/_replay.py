"""ReplayChatModel: a chat model that answers with real recorded responses and costs
(the outcome-file lookup is ``routing._replay.OutcomeReplay``; docs/routing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from langchain_core.language_models import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, UsageMetadata
from pydantic import ConfigDict, Field, PrivateAttr

from .._errors import ReplayMissError
from ..routing._replay import OutcomeReplay
from ._callback import BILLED_MARKER_KEY
from ._fake import AnswerChatModel

__all__ = ["REPLAY_MARKER_KEY", "ReplayChatModel", "ReplayMissError"]

#: ``response_metadata`` key with the replayed row: ``{"quality", "row", "cost_usd"}``.
REPLAY_MARKER_KEY = "llm_cost_hooks_replay"


class ReplayChatModel(AnswerChatModel):
    """Answers from an :class:`~llm_cost_hooks.routing.OutcomeDataset` as model ``tier``.

    The request's last user message must be a recorded prompt; the answer is that model's
    recorded response, billed at its recorded cost (docs/routing.md).

    >>> import numpy as np
    >>> from llm_cost_hooks.routing import OutcomeDataset
    >>> data = OutcomeDataset(prompts=["2+2?"], tiers=["m"], quality=np.ones((1, 1)),
    ...     cost=np.full((1, 1), 0.002), responses={"m": ["4"]})
    >>> ReplayChatModel(data=data, tier="m").invoke("2+2?").content
    '4'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    # An llm_cost_hooks.routing.OutcomeDataset (imported lazily: it needs numpy). Kept out of
    # repr: LangChain reprs models (e.g. a router's tiers) and the data runs to megabytes.
    data: Any = Field(repr=False)
    tier: str
    model_name: str | None = None
    provider: str = "replay"

    _replay: OutcomeReplay = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._replay = OutcomeReplay(self.data, self.tier)  # typed ConfigurationError
        if self.model_name is None:
            self.model_name = self.tier

    @classmethod
    def tiers_from(cls, data: Any, tiers: Sequence[str] | None = None) -> dict[str, ReplayChatModel]:
        """One replay model per tier (default: every model in the data)."""
        return {t: cls(data=data, tier=t) for t in (tiers or data.tiers)}

    def blended_price(self) -> Any:
        """A per-token price whose average matches the recorded dollars (for tier ordering)."""
        return self._replay.blended_price(str(self.model_name))

    @property
    def _llm_type(self) -> str:
        return "llm-cost-hooks-replay"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "tier": self.tier}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(
            ls_provider=self.provider,
            ls_model_name=str(kwargs.get("model") or self.model_name),
            ls_model_type="chat",
        )

    def row_of(self, messages: Sequence[BaseMessage]) -> int:
        query = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        return self._replay.row_of(query.text if query is not None else "\n".join(m.text for m in messages))

    def _reply(self, messages: Sequence[BaseMessage], stream: bool = False) -> AIMessage:
        text, usage, cost, replay = self._replay.answer(self.row_of(messages))
        return AIMessage(
            content=text,
            usage_metadata=cast(UsageMetadata, usage),
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop",
                BILLED_MARKER_KEY: {"cost_usd": cost, "tokens_estimated": True},
                REPLAY_MARKER_KEY: replay,
            },
        )
