"""ReplayChatModel: a chat model that answers with real recorded responses and costs.

It looks the request's last user message up in an outcomes file (RouterBench or
RouteLLM layout, see :mod:`llm_cost_hooks.routing`) and returns that model's real
recorded answer. Its cost record equals the recorded ``total_cost``: the message carries
``response_metadata["llm_cost_hooks_billed"] = {"cost_usd": <recorded>, "tokens_estimated": True}``,
which :class:`~llm_cost_hooks.langchain.CostCallbackHandler` records as the call's
dollars instead of pricing tokens (the files record dollars, not token counts; the
reported usage is counted offline and flagged estimated). The recorded correctness is
in ``response_metadata["llm_cost_hooks_replay"]["quality"]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from .._errors import ConfigurationError, ReplayMissError
from ._callback import BILLED_MARKER_KEY

__all__ = ["REPLAY_MARKER_KEY", "ReplayChatModel", "ReplayMissError"]

#: ``response_metadata`` key with the replayed row: ``{"quality", "row", "cost_usd"}``.
REPLAY_MARKER_KEY = "llm_cost_hooks_replay"


def _norm(text: str) -> str:
    return " ".join(text.split())


class ReplayChatModel(BaseChatModel):
    """Answers from an :class:`~llm_cost_hooks.routing.OutcomeDataset` as model ``tier``.

    The request's last user message must equal (whitespace-normalised) a recorded
    prompt. ``ReplayChatModel.tiers_from(data)`` builds one per model for a
    :class:`RoutedChatModel`.

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

    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _col: int = PrivateAttr(default=0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._build()  # typed ConfigurationError, not a pydantic ValidationError

    def _build(self) -> ReplayChatModel:
        from ..routing import OutcomeDataset

        if not isinstance(self.data, OutcomeDataset):
            raise ConfigurationError(
                f"data must be an OutcomeDataset (llm_cost_hooks.routing.load_outcomes(path)), got {type(self.data).__name__}."
            )
        if self.tier not in self.data.tiers:
            raise ConfigurationError(
                f"tier {self.tier!r} is not in the outcomes (models: {self.data.tiers})."
            )
        if not self.data.responses or self.tier not in self.data.responses:
            raise ConfigurationError(f"the outcomes have no recorded responses for {self.tier!r}.")
        self._col = self.data.tiers.index(self.tier)
        self._index = {}
        for i, p in enumerate(self.data.prompts):
            self._index.setdefault(_norm(p), i)
        if self.model_name is None:
            self.model_name = self.tier
        return self

    @classmethod
    def tiers_from(cls, data: Any, tiers: Sequence[str] | None = None) -> dict[str, ReplayChatModel]:
        """One replay model per tier (default: every model in the data)."""
        return {t: cls(data=data, tier=t) for t in (tiers or data.tiers)}

    def blended_price(self) -> Any:
        """A per-token price whose average matches the recorded dollars (for tier ordering)."""
        from ..pricing import ModelPrice
        from ..tokens import default_counter

        counter = default_counter()
        sample = range(0, len(self.data), max(1, len(self.data) // 50))
        tokens = sum(
            counter.count_text(self.data.prompts[i], "gpt-4").tokens
            + counter.count_text(self.data.responses[self.tier][i] or "", "gpt-4").tokens
            for i in sample
        )
        dollars = sum(float(self.data.cost[i, self._col]) for i in sample)
        per_token = dollars / tokens if tokens else 0.0
        return ModelPrice(
            model=str(self.model_name),
            input_per_token=per_token,
            output_per_token=per_token,
            source="override",
        )

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
        text = _norm(query.text if query is not None else "\n".join(m.text for m in messages))
        i = self._index.get(text)
        if i is None:
            raise ReplayMissError(
                f"prompt not in the outcomes {self.data.source or ''}: {text[:60]!r}...; replay only "
                "prompts from the file (the last user message must match a recorded prompt)."
            )
        return i

    def _message(self, messages: Sequence[BaseMessage]) -> AIMessage:
        from ..tokens import default_counter

        i = self.row_of(messages)
        text = self.data.responses[self.tier][i] or ""
        counter = default_counter()
        n_in = counter.count_text(self.data.prompts[i], "gpt-4").tokens
        n_out = counter.count_text(text, "gpt-4").tokens
        cost = float(self.data.cost[i, self._col])
        return AIMessage(
            content=text,
            usage_metadata={"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out},
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop",
                BILLED_MARKER_KEY: {"cost_usd": cost, "tokens_estimated": True},
                REPLAY_MARKER_KEY: {
                    "quality": float(self.data.quality[i, self._col]),
                    "cost_usd": cost,
                    "row": self.data.ids[i] if self.data.ids else i,
                },
            },
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._message(messages)
        text = str(msg.content)
        words = text.split(" ") if text else []
        for j, w in enumerate(words):
            piece = w if j == 0 else " " + w
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        last = AIMessageChunk(
            content="", usage_metadata=msg.usage_metadata, response_metadata=msg.response_metadata
        )
        last.chunk_position = "last"
        yield ChatGenerationChunk(message=last)
