"""``llm-cost demo`` through LangChain: the chains each step replays (``prompt | chat model
| parser``), the support stand-in as a chat model, and :class:`CostCallbackHandler` as
the recorder. An application on the LangChain adapter's public face; the demo itself
(workload, preparation, steps, report) is the rest of :mod:`llm_cost_hooks._demo`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, UsageMetadata
from langchain_core.output_parsers import BaseGenerationOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult, Generation
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from pydantic import ConfigDict, PrivateAttr

from .._records import TokenUsage
from ..langchain import (
    CACHE_MARKER_KEY,
    CostCallbackHandler,
    GuardedChatModel,
    PromptCacheBreakpoints,
    ReplayChatModel,
    RoutedChatModel,
    SemanticCache,
    cache_scope,
)
from ..tokens._reply import usage_metadata
from ._prepare import Prepared
from ._run import PROMPT_VERSION, STEP_TAG, STEPS, TENANT
from ._run import run_demo as _run_demo
from ._support import (
    ANSWER_KEY,
    SUPPORT_MODEL,
    SUPPORT_PROVIDER,
    AnthropicPrefixCache,
    InProcessBatchAPI,
    SupportAnswers,
)
from ._workload import DATA_HINT, data_dir

__all__ = ["DATA_HINT", "STEPS", "STEP_TAG", "data_dir", "run_demo"]

#: ``response_metadata`` key whose ``cost_usd`` CostCallbackHandler records as the call's
#: dollars (documented with ReplayChatModel): the batch's answer is billed at its batch price.
BILLED_KEY = "llm_cost_hooks_billed"

BUDGET = {"system": None, "history": 300, "retrieved": 350, "output": 400}


class _SupportBot(BaseChatModel):
    """The support stand-in as a LangChain chat model (see :class:`SupportAnswers`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    answers: SupportAnswers
    model_name: str = SUPPORT_MODEL

    @property
    def _llm_type(self) -> str:
        return "llm-cost-hooks-demo-support"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(
            ls_provider=SUPPORT_PROVIDER, ls_model_name=self.model_name, ls_model_type="chat"
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        intent, text, usage = self.answers.reply(messages)
        msg = AIMessage(
            content=text,
            usage_metadata=cast(UsageMetadata, usage),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop", ANSWER_KEY: intent},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def _batch_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Messages for the batch body with their content blocks as they are (the
    ``cache_control`` breakpoints included: Anthropic's batch API caches prompts too)."""
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles.get(m.type, m.type), "content": m.content} for m in messages]


class _BatchedSupportBot(_SupportBot):
    """Sends the request through :class:`~llm_cost_hooks.batch.BatchQueue` and returns the
    batch's answer, billed at what the queue recorded: the price book's batch price."""

    _queue: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from ..batch import BatchQueue

        # The queue's own ledger is private: the chain's cost handler records the call once.
        # Simulated time: the in-process batch is done at once, so polling must not wait.
        now = [0.0]
        self._queue = BatchQueue(
            InProcessBatchAPI(self.answers),
            state_path=None,
            ledger="memory://",
            provider=SUPPORT_PROVIDER,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )

    @property
    def _llm_type(self) -> str:
        return "llm-cost-hooks-demo-batch"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "batch": True}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        custom_id = str(run_manager.run_id) if run_manager is not None else uuid.uuid4().hex
        self._queue.add(self.model_name, _batch_messages(messages), custom_id=custom_id)
        self._queue.submit()
        result = self._queue.run(timeout=60)[custom_id]
        body = result.response or {}
        batch_saved = max(result.realtime_cost_usd - result.cost_usd, 0.0)
        u = body.get("usage") or {}
        read = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        write = u.get("cache_creation_input_tokens", 0)
        usage = usage_metadata(
            TokenUsage(
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                cache_read_tokens=read,
                cache_write_tokens=write,
            )
        )
        msg = AIMessage(
            content=result.text,
            usage_metadata=cast(UsageMetadata, usage),
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop",
                ANSWER_KEY: body.get("demo_intent"),
                BILLED_KEY: {
                    "cost_usd": result.cost_usd,
                    # What the batch price saved, credited to the batch lever in reports.
                    "saved_usd": batch_saved,
                    "tags": {
                        "batch": "true",
                        "batch_id": result.batch_id or "",
                        "batch.saved_usd": f"{batch_saved:.10g}",
                    },
                },
                "llm_cost_hooks_batch": {
                    "batch_id": result.batch_id,
                    "realtime_cost_usd": result.realtime_cost_usd,
                },
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


class _ServedAnswer(BaseGenerationOutputParser[dict[str, Any]]):
    """The chain's parser: the answer text plus what is needed to grade it."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> dict[str, Any]:
        message = getattr(result[0], "message", None)
        rm = (message.response_metadata if message is not None else {}) or {}
        replay = rm.get("llm_cost_hooks_replay") or {}
        return {
            "text": result[0].text,
            "intent": rm.get(ANSWER_KEY),
            "quality": replay.get("quality"),
            "cache": (rm.get(CACHE_MARKER_KEY) or {}).get("status", "miss"),
        }


class _LangChainReplay:
    """The chains of each step over a :class:`Prepared` run, recorded by one
    :class:`CostCallbackHandler`."""

    @staticmethod
    def recorder(ledger_url: str, observers: list[Any]) -> CostCallbackHandler:
        return CostCallbackHandler(ledger=ledger_url, observers=observers)

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        from ..pricing import PriceBook

        # Replayed models bill their recorded dollars; the caches price what a hit saved with
        # the same per-token blend (most RouterBench models are not in LiteLLM's map).
        self.replay_models = ReplayChatModel.tiers_from(prepared.replay_data)
        self.blended = {t: m.blended_price() for t, m in self.replay_models.items()}
        self.replay_book = PriceBook(
            overrides={
                t: {
                    "input_per_million": p.input_per_token * 1e6,
                    "output_per_million": p.output_per_token * 1e6,
                    "replace": True,
                }
                for t, p in self.blended.items()
            }
        )

        self.chat_prompt = ChatPromptTemplate.from_messages(
            [SystemMessage(content=prepared.system), ("human", "{question}")]
        )
        self.email_prompt = ChatPromptTemplate.from_messages(
            [SystemMessage(content=prepared.system), MessagesPlaceholder("context"), ("human", "{question}")]
        )
        self.assistant_prompt = ChatPromptTemplate.from_messages([("human", "{prompt}")])

    def answerer(self, levers: set[str], handler: CostCallbackHandler) -> Any:
        """The step's answer function: each request through its chain, as a run of its own
        (``run_id``) recorded by ``handler``."""
        chains = self.chains(levers)

        def answer(
            kind: str, inputs: Mapping[str, Any], run_id: uuid.UUID, metadata: Mapping[str, Any]
        ) -> Mapping[str, Any]:
            if "context" in inputs:
                inputs = {**inputs, "context": _thread_messages(inputs["context"])}
            config = {"callbacks": [handler], "run_id": run_id, "metadata": dict(metadata)}
            return chains[kind].invoke(dict(inputs), config=config)  # type: ignore[no-any-return]

        return answer

    # One set of chains per step, all levers up to the step switched on.
    def chains(self, levers: set[str]) -> dict[str, Any]:
        from ..budget import ContextBudget, SegmentBudgets
        from ..cache import CacheConfig
        from ..dedup import SingleFlight

        p = self.prepared
        flight = SingleFlight(result_ttl=3600) if "dedup" in levers else None
        budget = ContextBudget(SegmentBudgets(**BUDGET), model=SUPPORT_MODEL) if "budget" in levers else None
        parser = _ServedAnswer()

        def wrap(model: BaseChatModel, *, cache: Any = None, trim: bool = False) -> BaseChatModel:
            if flight is not None or (trim and budget is not None):
                model = GuardedChatModel(inner=model, dedup=flight, context_budget=budget if trim else None)
            if cache is not None:
                model.cache = cache
            return model

        def exact_cache(book: Any = None) -> Any:
            return (
                SemanticCache(path=":memory:", semantic=False, price_book=book) if "exact" in levers else None
            )

        chat_cache = exact_cache()
        if "semantic" in levers:
            chat_cache = SemanticCache(
                path=":memory:", embedder=p.embedder, config=CacheConfig.model_validate({"default": p.policy})
            )
        bot = _SupportBot(answers=SupportAnswers(p.intents, AnthropicPrefixCache(SUPPORT_MODEL)))
        email_bot: BaseChatModel = _BatchedSupportBot(answers=bot.answers) if "batch" in levers else bot
        head: list[Any] = []
        if "prompt_cache" in levers:
            head = [
                PromptCacheBreakpoints(model=SUPPORT_MODEL, provider=SUPPORT_PROVIDER, cache_documents=False)
            ]

        def chain(prompt: Any, model: BaseChatModel) -> Any:
            out = prompt
            for step in head:
                out = out | step
            return out | model | parser

        rb_cache = exact_cache(self.replay_book)
        replay_models = {t: m.model_copy() for t, m in self.replay_models.items()}
        if "routing" in levers:
            assistant_model: BaseChatModel = RoutedChatModel(
                tiers={t: wrap(m, cache=rb_cache) for t, m in replay_models.items()},
                strategy=p.router,
                prices=self.blended,
                builtin_checks=False,
            )
        else:
            assistant_model = wrap(replay_models[p.strongest], cache=rb_cache)
        chat_model = wrap(bot, cache=chat_cache)
        if chat_cache is not None:
            self._prefill(chat_model, bot, head)
        return {
            "support_chat": chain(self.chat_prompt, chat_model),
            "support_email": chain(self.email_prompt, wrap(email_bot, trim=True)),
            "assistant": self.assistant_prompt | assistant_model | parser,
        }

    def _prefill(self, model: BaseChatModel, bot: _SupportBot, head: list[Any]) -> None:
        """Store the earlier traffic's answers in ``model``'s cache under the keys the chain's
        calls use (LangChain's own: the serialised messages and the model's llm string),
        outside the ledger and on its own provider cache (it was yesterday)."""
        from langchain_core.load import dumps

        llm_string = model._get_llm_string()
        earlier = _SupportBot(
            answers=SupportAnswers(bot.answers.intents, AnthropicPrefixCache(SUPPORT_MODEL))
        )
        with cache_scope(tenant=TENANT, feature="support_chat", prompt_version=PROMPT_VERSION):
            for text, _ in self.prepared.prefill:
                messages: Any = self.chat_prompt.invoke({"question": text})
                for step in head:
                    messages = step.invoke(messages)
                messages = messages.to_messages() if hasattr(messages, "to_messages") else messages
                cast(Any, model.cache).update(
                    dumps(messages), llm_string, earlier._generate(messages).generations
                )


def _thread_messages(turns: Sequence[tuple[str, str, dict[str, Any]]]) -> list[BaseMessage]:
    return [
        HumanMessage(text, additional_kwargs=extra)
        if role == "human"
        else AIMessage(text, additional_kwargs=extra)
        for role, text, extra in turns
    ]


#: Run the demo through LangChain chains; returns a process exit code (see
#: :func:`llm_cost_hooks._demo._run.run_demo` for the arguments).
run_demo = functools.partial(_run_demo, _LangChainReplay)
