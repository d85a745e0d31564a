"""``llm-cost demo``: replay a real workload through real LangChain chains, first with no
lever and then with the levers switched on one at a time, and show what each saved.

The workload (see :mod:`llm_cost_hooks._demo._workload`): Banking77 customer queries to
a support bot (chat, and e-mail threads with retrieved tickets and history) and
RouterBench prompts to an assistant, with retries and re-asks. Each step is a full
replay through ``prompt | chat model | parser`` chains with a
:class:`CostCallbackHandler` writing to one SQLite ledger (records tagged
``demo.step``); the table is read back from that ledger.

* Assistant answers are RouterBench's real recorded answers, correctness and dollars
  (:class:`ReplayChatModel`).
* Support answers come from a stand-in for claude-sonnet-4-5 (:class:`_SupportBot`): it
  answers the query's intent with that intent's reply, reports the usage Anthropic would
  (tokens counted offline, prompt-cache reads/writes by Anthropic's rules for the
  ``cache_control`` breakpoints it receives) and is priced by the price book. Banking77
  has no recorded answers, so a fresh answer counts as correct and quality measures what
  caching serves: a hit with another intent's answer is a false hit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import BaseGenerationOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult, Generation
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from pydantic import ConfigDict, PrivateAttr

from .._demo import (
    DATA_HINT,
    Progress,
    StepResult,
    Workload,
    build_workload,
    data_dir,
    format_waterfall,
    load_demo_data,
    write_waterfall_png,
)
from ._callback import BILLED_MARKER_KEY, CACHE_MARKER_KEY, CostCallbackHandler

__all__ = ["DATA_HINT", "data_dir", "run_demo"]

SUPPORT_MODEL = "claude-sonnet-4-5"
SUPPORT_PROVIDER = "anthropic"
TENANT = "acme-bank"
ANSWER_KEY = "demo_answer_intent"
STEP_TAG = "demo.step"
# Cumulative: each step switches one more lever on.
STEPS: list[tuple[str, str]] = [
    ("baseline", "strongest model, no cache, no budget"),
    ("dedup", "single-flight on idempotency keys"),
    ("routing", "trained + calibrated router (assistant)"),
    ("exact cache", "exact-match cache"),
    ("semantic cache", "calibrated semantic cache (support chat)"),
    ("prompt caching", "cache_control breakpoints (support)"),
    ("context budget", "trim e-mail history + retrieved tickets"),
    ("batch", "e-mails through the batch API"),
]
BUDGET = {"system": None, "history": 300, "retrieved": 350, "output": 400}
RETRIEVED_TICKETS = 8
CACHE_TARGET_PRECISION = 0.98  # semantic hits must be right this often (95% lower bound on calibration data)
CALIBRATION_QUERIES = 600
PREFILL_MIN = 100
PROMPT_VERSION = "support_v1"
_NS = uuid.UUID("6f1c2a0e-3b7d-4c55-9e61-2d4f6a8b9c10")


def _answer_text(intent: str) -> str:
    topic = intent.replace("_", " ")
    return (
        f"Thanks for getting in touch about {topic}. I have looked into it for you, and here is what to do "
        f'next: open the ACME app, go to Help, choose "{topic}" and follow the steps shown there; they '
        "cover the usual causes and how long each one takes to resolve. If something still looks wrong "
        "afterwards, reply to this message and a specialist will pick it up within one working day. For "
        "your security, never share your full card number, PIN, passcode or one-time codes with anyone, "
        "including us."
    )


def _system_prompt(train: Sequence[tuple[str, str]]) -> str:
    first: dict[str, str] = {}
    for text, intent in train:
        first.setdefault(intent, text)
    examples = "\n".join(f'- {intent}: "{text}"' for intent, text in sorted(first.items()))
    return (
        "You are ACME Bank's customer-support assistant. Identify what the customer needs, answer in "
        "plain language, and point them to the in-app steps that resolve it. Rules: never ask for or "
        "repeat full card numbers, PINs, passcodes or one-time codes; never promise refunds, reversals "
        "or limits before review; for suspected fraud tell the customer to freeze the card in the app "
        "first; keep answers under 150 words; if you are unsure which topic applies, ask one short "
        "clarifying question. Topics you handle, each with a real example of how customers ask:\n"
        f"{examples}"
    )


# -- the support model: a stand-in for claude-sonnet-4-5 with Anthropic's cache rules -----------
def _blocks(messages: Sequence[Any]) -> list[tuple[str, bool]]:
    """(text, has cache_control) per content block, in prefix order; LangChain messages or
    OpenAI-format dicts."""
    out: list[tuple[str, bool]] = []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else m.type
        content = m.get("content") if isinstance(m, dict) else m.content
        for b in [content] if isinstance(content, str) else (content or []):
            if isinstance(b, str):
                out.append((f"{role}:{b}", False))
            elif isinstance(b, dict):
                out.append((f"{role}:{b.get('text', '')}", "cache_control" in b))
    return out


_TOKENS: dict[tuple[str, str], int] = {}  # the prompts repeat across steps: count each text once


class _AnthropicPrefixCache:
    """Anthropic's prompt-cache rules, applied to the requests one provider account sees:
    the prefix up to the last ``cache_control`` breakpoint is written (billed as a cache
    write) unless it was cached before; the longest earlier-cached prefix that ends at a
    block boundary up to 20 blocks before a breakpoint is read; prefixes below the model's
    minimum are not cached. Requests of a replay arrive within the 5-minute TTL (each read
    refreshes it)."""

    LOOKBACK = 20

    def __init__(self, model: str) -> None:
        from ..prompt_cache import resolve_cache_rule
        from ..tokens import default_counter

        self.model = model
        self.minimum = resolve_cache_rule(model, SUPPORT_PROVIDER).min_tokens
        self.counter = default_counter()
        self.seen: set[str] = set()

    def tokens(self, text: str) -> int:
        key = (self.model, text)
        n = _TOKENS.get(key)
        if n is None:
            n = _TOKENS[key] = self.counter.count_text(text, self.model).tokens
        return n

    def usage(self, messages: Sequence[Any], answer: str) -> dict[str, Any]:
        blocks = _blocks(messages)
        tokens = [self.tokens(text) for text, _ in blocks]
        total = sum(tokens) + 3 * len(messages) + 3
        sizes: list[int] = []
        keys: list[str] = []
        prefix, key = 0, ""
        for (text, _), n in zip(blocks, tokens):
            prefix += n
            key = hashlib.sha256((key + "\x00" + text).encode()).hexdigest()
            sizes.append(prefix)
            keys.append(key)
        marks = [i for i, (_, marked) in enumerate(blocks) if marked and sizes[i] >= self.minimum]
        read = 0
        for i in marks:
            for j in range(i, max(-1, i - self.LOOKBACK - 1), -1):
                if keys[j] in self.seen:
                    read = max(read, sizes[j])
                    break
        write = 0
        if marks:
            write = max(sizes[marks[-1]] - read, 0)
            self.seen.update(keys[i] for i in marks)
        output = self.tokens(answer)
        details = {k: v for k, v in (("cache_read", read), ("cache_creation", write)) if v}
        usage: dict[str, Any] = {
            "input_tokens": total,
            "output_tokens": output,
            "total_tokens": total + output,
        }
        if details:
            usage["input_token_details"] = details
        return usage


class _SupportBot(BaseChatModel):
    """Answers a Banking77 query with its intent's reply; usage as Anthropic would report."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    intents: dict[str, str]
    provider_cache: Any
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

    def reply(self, messages: Sequence[Any]) -> tuple[str, str, dict[str, Any]]:
        last = messages[-1]
        question = last.get("content") if isinstance(last, dict) else last.text
        intent = self.intents[str(question)]
        text = _answer_text(intent)
        return intent, text, self.provider_cache.usage(messages, text)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        intent, text, usage = self.reply(messages)
        msg = AIMessage(
            content=text,
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata={"model_name": self.model_name, "finish_reason": "stop", ANSWER_KEY: intent},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


class _InProcessBatchAPI:
    """A :class:`~llm_cost_hooks.batch.BatchBackend` answering each batch at once in this
    process (no provider endpoint here): the same bot, the same usage rules."""

    def __init__(self, bot: _SupportBot) -> None:
        self.bot = bot
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def upload(self, data: bytes, filename: str) -> str:
        fid = f"file-{len(self.files)}"
        self.files[fid] = data
        return fid

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        lines = []
        for raw in self.files[input_file_id].splitlines():
            req = json.loads(raw)
            intent, text, u = self.bot.reply(req["body"]["messages"])
            details = u.get("input_token_details", {})
            usage = {
                "prompt_tokens": u["input_tokens"],
                "completion_tokens": u["output_tokens"],
                "prompt_tokens_details": {"cached_tokens": details.get("cache_read", 0)},
                "cache_creation_input_tokens": details.get("cache_creation", 0),
            }
            body = {
                "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
                "model": req["body"]["model"],
                "demo_intent": intent,
            }
            lines.append(
                json.dumps({"custom_id": req["custom_id"], "response": {"status_code": 200, "body": body}})
            )
        out = self.upload("\n".join(lines).encode(), "output.jsonl")
        batch = {
            "id": f"batch-{len(self.batches)}",
            "status": "completed",
            "output_file_id": out,
            "metadata": metadata,
        }
        self.batches[batch["id"]] = batch
        return batch

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self.batches[batch_id]

    def content(self, file_id: str) -> bytes:
        return self.files[file_id]

    def find(self, metadata_key: str, value: str) -> dict[str, Any] | None:
        return next(
            (b for b in self.batches.values() if (b.get("metadata") or {}).get(metadata_key) == value), None
        )


def _batch_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Messages for the batch body with their content blocks as they are (the
    ``cache_control`` breakpoints included: Anthropic's batch API caches prompts too)."""
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles.get(m.type, m.type), "content": m.content} for m in messages]


class _BatchedSupportBot(BaseChatModel):
    """Sends the request through :class:`~llm_cost_hooks.batch.BatchQueue` and returns the
    batch's answer, billed at what the queue recorded: the price book's batch price."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bot: _SupportBot
    model_name: str = SUPPORT_MODEL
    _queue: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from ..batch import BatchQueue

        # The queue's own ledger is private: the chain's cost handler records the call once.
        # Simulated time: the in-process batch is done at once, so polling must not wait.
        now = [0.0]
        self._queue = BatchQueue(
            _InProcessBatchAPI(self.bot),
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
        custom_id = str(run_manager.run_id) if run_manager is not None else uuid.uuid4().hex
        self._queue.add(self.model_name, _batch_messages(messages), custom_id=custom_id)
        self._queue.submit()
        result = self._queue.run(timeout=60)[custom_id]
        body = result.response or {}
        u = body.get("usage") or {}
        read = (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        write = u.get("cache_creation_input_tokens", 0)
        usage: dict[str, Any] = {
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "total_tokens": result.input_tokens + result.output_tokens,
        }
        details = {k: v for k, v in (("cache_read", read), ("cache_creation", write)) if v}
        if details:
            usage["input_token_details"] = details
        msg = AIMessage(
            content=result.text,
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop",
                ANSWER_KEY: body.get("demo_intent"),
                BILLED_MARKER_KEY: {"cost_usd": result.cost_usd},
                "llm_cost_hooks_batch": {
                    "batch_id": result.batch_id,
                    "realtime_cost_usd": result.realtime_cost_usd,
                },
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


class _ServedAnswer(BaseGenerationOutputParser[dict]):
    """The chain's parser: the answer text plus what is needed to grade it."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> dict:
        message = getattr(result[0], "message", None)
        rm = (message.response_metadata if message is not None else {}) or {}
        replay = rm.get("llm_cost_hooks_replay") or {}
        return {
            "text": result[0].text,
            "intent": rm.get(ANSWER_KEY),
            "quality": replay.get("quality"),
            "cache": (rm.get(CACHE_MARKER_KEY) or {}).get("status", "miss"),
        }


_VECTORS: dict[tuple[str, str], Any] = {}  # (embedder, text) -> vector, shared by runs in one process


class _MemoEmbedder:
    """The offline embedder with a memo: each distinct text is embedded once (calibration,
    retrieval and every replay use the same vectors; a deterministic function, so
    memoising changes no result)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        if len(_VECTORS) > 50_000:
            _VECTORS.clear()
        self._memo = _MemoView(inner.name)

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        for start in range(0, len(todo), 64):
            chunk = todo[start : start + 64]
            for t, v in zip(chunk, self.inner.embed(chunk)):
                self._memo[t] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    def embed_one(self, text: str) -> Any:
        return self.embed([text])[0]


class _MemoView:
    def __init__(self, name: str) -> None:
        self.name = name

    def __contains__(self, text: str) -> bool:
        return (self.name, text) in _VECTORS

    def __getitem__(self, text: str) -> Any:
        return _VECTORS[(self.name, text)]

    def __setitem__(self, text: str, vec: Any) -> None:
        _VECTORS[(self.name, text)] = vec


class _Outcomes:
    """Builds an OutcomeDataset whose repr is one line: LangChain puts a model's fields
    into its cache key with ``str()``, and the dataclass repr of thousands of prompts made
    every cached call of a replayed model slow (ReplayChatModel keeps the dataset as a field)."""

    @staticmethod
    def of(data: Any) -> Any:
        import dataclasses

        from ..routing import OutcomeDataset

        class _Short(OutcomeDataset):
            def __repr__(self) -> str:
                return f"OutcomeDataset(source={self.source!r}, rows={len(self)}, tiers={self.tiers})"

        _Short.__name__ = _Short.__qualname__ = "OutcomeDataset"
        return _Short(**{f.name: getattr(data, f.name) for f in dataclasses.fields(data)})


# -- building the replay ---------------------------------------------------------------------------
class _Replay:
    """Everything prepared once per run: prompts, router, calibrated cache policy, retrieval."""

    def __init__(self, workload: Workload, data: Any, progress: Progress) -> None:
        from ..cache import calibrate_intents
        from ..embeddings import default_embedder
        from ..routing import HashingEmbedder, QualityTarget, RouterModel, TrainedRouter

        self.workload = workload
        support = [r for r in workload.requests.values() if r.kind != "assistant"]
        self.intents = {r.text: r.intent for r in support}  # what the stand-in model "knows"
        self.system = _system_prompt(data.banking_train)
        self.embedder = _MemoEmbedder(default_embedder())

        # The caches start warm with earlier traffic (train queries, answered before the
        # replay and not billed in it). The semantic policy is calibrated on other train
        # queries looked up in exactly those entries: the neighbourhoods it learns from are
        # the ones it will see.
        n_chat = sum(1 for r in support if r.kind == "support_chat")
        train = data.banking_train
        n_entries = max(1, min(len(train) // 2, max(PREFILL_MIN, 2 * n_chat)))
        n_queries = min(len(train) - n_entries, CALIBRATION_QUERIES, max(PREFILL_MIN, 2 * n_chat))
        total = n_entries + n_queries
        picked = [train[int(i * len(train) / total)] for i in range(total)]

        def entries_before(i: int) -> int:  # ceil(i * n_entries / total): entries spread evenly
            return -(-i * n_entries // total)

        entry = [entries_before(i + 1) > entries_before(i) for i in range(total)]
        entries = [row for row, e in zip(picked, entry) if e]
        queries = [row for row, e in zip(picked, entry) if not e]
        sample = entries + queries
        self.prefill = entries  # "yesterday's" chat traffic: the caches start warm with it
        self.intents = {**{t: c for t, c in entries}, **self.intents}
        progress.advance("calibrating semantic cache", 0)
        self.calibration = calibrate_intents(
            [t for t, _ in queries],
            [c for _, c in queries],
            embedder=self.embedder,
            cache_texts=[t for t, _ in entries],
            cache_labels=[c for _, c in entries],
            target_precision=CACHE_TARGET_PRECISION,
            kind="combined",
            holdout=0.0,
        )  # the replay is the held-out check
        self.policy = self.calibration.policy

        # Retrieval for e-mails: the most similar resolved tickets of the calibration sample.
        import numpy as np

        emails = [r for r in support if r.kind == "support_email"]
        self.retrieved: dict[str, list[tuple[str, float]]] = {}
        if emails:
            lib = self.embedder.embed([t for t, _ in sample])
            q = self.embedder.embed([r.text for r in emails])
            sims = q @ lib.T
            for r, row in zip(emails, sims):
                top = np.argsort(-row, kind="stable")[:RETRIEVED_TICKETS]
                self.retrieved[r.key] = [
                    (
                        f'Resolved ticket ({sample[j][1].replace("_", " ")}). Customer wrote: "{sample[j][0]}" '
                        f"Resolution sent: {_answer_text(sample[j][1])}",
                        float(row[j]),
                    )
                    for j in top
                ]

        # Router: trained on one RouterBench split, calibrated on another, replayed on a third.
        progress.advance("training the router", 0)
        self.router_embedder = _MemoEmbedder(HashingEmbedder(256))
        model = RouterModel.fit(workload.routerbench_train, self.router_embedder)
        self.router = TrainedRouter(model, embedder=self.router_embedder)
        self.router_point = self.router.calibrate(workload.routerbench_calibration, QualityTarget(share=0.95))
        self.replay_data = _Outcomes.of(workload.routerbench_replay)
        self.strongest = workload.routerbench_train.strongest  # judged on training rows only
        from ..pricing import PriceBook
        from ._replay import ReplayChatModel

        # Replayed models bill their recorded dollars; the caches price what a hit saved with
        # the same per-token blend (most RouterBench models are not in LiteLLM's map).
        self.replay_models = ReplayChatModel.tiers_from(self.replay_data)
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
            [SystemMessage(content=self.system), ("human", "{question}")]
        )
        self.email_prompt = ChatPromptTemplate.from_messages(
            [SystemMessage(content=self.system), MessagesPlaceholder("context"), ("human", "{question}")]
        )
        self.assistant_prompt = ChatPromptTemplate.from_messages([("human", "{prompt}")])

    def email_context(self, key: str) -> list[BaseMessage]:
        req = self.workload.requests[key]
        msgs: list[BaseMessage] = []
        for earlier in req.history:
            prev = self.workload.requests[earlier]
            msgs += [HumanMessage(prev.text), AIMessage(_answer_text(str(prev.intent)))]
        # Retrieved tickets go after the thread, in user turns: Anthropic hoists system
        # messages into the system prompt, where per-request text would end the cacheable prefix.
        for doc, score in self.retrieved.get(key, []):
            msgs.append(
                HumanMessage(
                    f"Reference: {doc}", additional_kwargs={"segment": "retrieved", "score": round(score, 6)}
                )
            )
        return msgs

    # One set of chains per step, all levers up to the step switched on.
    def chains(self, levers: set[str]) -> dict[str, Any]:
        from ..budget import ContextBudget, SegmentBudgets
        from ..cache import CacheConfig
        from ..dedup import SingleFlight
        from ._budget import GuardedChatModel
        from ._cache import SemanticCache
        from ._prompt_cache import PromptCacheBreakpoints
        from ._routed import RoutedChatModel

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
                path=":memory:", embedder=self.embedder, config=CacheConfig(default=self.policy)
            )
        provider_cache = _AnthropicPrefixCache(SUPPORT_MODEL)
        bot = _SupportBot(intents=self.intents, provider_cache=provider_cache)
        email_bot: BaseChatModel = _BatchedSupportBot(bot=bot) if "batch" in levers else bot
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
                strategy=self.router,
                prices=self.blended,
                builtin_checks=False,
            )
        else:
            assistant_model = wrap(replay_models[self.strongest], cache=rb_cache)
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

        from ._cache import cache_scope

        llm_string = model._get_llm_string()
        earlier = _SupportBot(intents=bot.intents, provider_cache=_AnthropicPrefixCache(SUPPORT_MODEL))
        with cache_scope(tenant=TENANT, feature="support_chat", prompt_version=PROMPT_VERSION):
            for text, _ in self.prefill:
                messages: Any = self.chat_prompt.invoke({"question": text})
                for step in head:
                    messages = step.invoke(messages)
                messages = messages.to_messages() if hasattr(messages, "to_messages") else messages
                model.cache.update(dumps(messages), llm_string, earlier._generate(messages).generations)


def _run_step(
    replay: _Replay, step: str, levers: set[str], handler: CostCallbackHandler, progress: Progress
) -> None:
    """Replay every submission and record each task's verdict in the ledger."""
    chains = replay.chains(levers)
    verdicts: dict[str, tuple[bool, str | None]] = {}
    for n, sub in enumerate(replay.workload.submissions):
        req = sub.request
        task = str(uuid.uuid5(_NS, f"{step}/{sub.task}"))
        config = {
            "callbacks": [handler],
            "run_id": uuid.uuid5(_NS, f"{step}/{n}"),
            "metadata": {
                "tenant_id": TENANT,
                "feature": req.kind,
                "task_id": task,
                "idempotency_key": sub.idempotency_key,
                "prompt_version": PROMPT_VERSION,
                "user_id": req.customer or "assistant-user",
                "cost_tags": {STEP_TAG: step, "demo.submission": sub.how},
            },
        }
        if req.kind == "assistant":
            out = chains["assistant"].invoke({"prompt": req.text}, config=config)
            ok = bool(out["quality"] is not None and out["quality"] >= 0.5)
            reason = None if ok else "wrong answer (RouterBench correctness)"
        else:
            inputs: dict[str, Any] = {"question": req.text}
            if req.kind == "support_email":
                inputs["context"] = replay.email_context(req.key)
            out = chains[req.kind].invoke(inputs, config=config)
            ok = out["intent"] == req.intent
            reason = None
            if not ok:
                reason = "false cache hit" if out["cache"] in ("exact", "semantic") else "wrong answer"
        verdicts[task] = (ok, reason)
        progress.advance(f"{step}")
    for task, (ok, reason) in verdicts.items():
        handler.mark_task(task, success=ok, reason=reason)


def _by_step(ledger: Any) -> tuple[dict[str, list[Any]], list[Any]]:
    """The ledger's records grouped by their step tag, and all task outcomes (read once)."""
    records: dict[str, list[Any]] = {}
    for r in ledger.records():
        records.setdefault(r.tags.get(STEP_TAG, ""), []).append(r)
    return records, list(ledger.task_outcomes())


def _step_result(
    records: list[Any], all_outcomes: list[Any], step: str, lever: str, seconds: float
) -> StepResult:
    from ..ledger import LedgerReports

    task_ids = {r.task_id for r in records}
    outcomes = [o for o in all_outcomes if o.task_id in task_ids]
    reports = LedgerReports.from_records(records, outcomes)
    totals = (reports.totals() or [{}])[0]
    tasks = (reports.tasks() or [{}])[0]
    hits = {row["cache_status"]: int(row["hits"]) for row in reports.cache_savings()}
    # The last verdict per task (a user mark wins over the run's own outcome).
    last: dict[str, Any] = {}
    for o in sorted((o for o in outcomes if o.source == "user"), key=lambda o: o.timestamp):
        last[o.task_id] = o
    false_hits = sum(1 for o in last.values() if not o.success and o.reason == "false cache hit")
    reports.close()
    return StepResult(
        step=step,
        lever=lever,
        cost_usd=float(totals.get("cost_usd") or 0.0),
        calls=int(totals.get("calls") or 0),
        hits=hits,
        tasks=int(tasks.get("tasks") or 0),
        successful_tasks=int(tasks.get("successful_tasks") or 0),
        false_cache_hits=false_hits,
        cost_per_successful_task=tasks.get("cost_per_successful_task"),
        saved_usd_recorded=float(totals.get("saved_usd") or 0.0),
        seconds=seconds,
    )


def _otel(target: str | None) -> tuple[Any, Any, Any]:
    from ..telemetry import OTelObserver, configure_otel

    tp, mp = configure_otel(
        "llm-cost-demo",
        exporter="otlp",
        endpoint=target or None,
        protocol="http/protobuf",
        max_queue_size=65_536,
        max_export_batch_size=2048,
        schedule_delay_ms=500,
    )
    return OTelObserver(tracer_provider=tp, meter_provider=mp), tp, mp


def _postgres_has_records(url: str) -> bool:
    from ..ledger._postgres import connect_for_reports

    conn = connect_for_reports(url)
    try:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM cost_records)").fetchone()[0]
    finally:
        conn.close()


def run_demo(
    *,
    ledger_path: str | os.PathLike[str] = "demo_out/llm_costs.db",
    data: str | os.PathLike[str] | None = None,
    limit: int = 1000,
    chart: str | os.PathLike[str] | None = None,
    otlp: str | None = None,
    quiet: bool = False,
    out: Any = None,
) -> int:
    """Run the demo; returns a process exit code. ``otlp``: None (off), "" (the
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables) or a collector URL (OTLP/HTTP)."""
    out = out or sys.stdout
    started = time.perf_counter()
    root = data_dir(data)
    loaded = load_demo_data(root)
    if isinstance(loaded, str):
        print(f"{loaded}\n{DATA_HINT}", file=sys.stderr)
        return 2
    workload = build_workload(loaded, limit)
    n_subs = len(workload.submissions)
    progress = Progress(n_subs * len(STEPS), enabled=False if quiet else None)

    from ..ledger._postgres import is_postgres_url, redact

    if is_postgres_url(os.fspath(ledger_path)):
        # The report reads every record back: a database holding other records would mix in.
        ledger_url = os.fspath(ledger_path)
        if _postgres_has_records(ledger_url):
            print(
                f"The demo needs an empty PostgreSQL database; {redact(ledger_url)} already holds cost "
                "records. Create one (e.g. `createdb llm_cost_demo`) and pass its URL.",
                file=sys.stderr,
            )
            return 2
        ledger_label = redact(ledger_url)
        chart_file = Path(chart) if chart else Path("demo_out/savings_waterfall.png")
        chart_file.parent.mkdir(parents=True, exist_ok=True)
    else:
        ledger_file = Path(ledger_path)
        ledger_file.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger_file}{suffix}").unlink(missing_ok=True)
        chart_file = Path(chart) if chart else ledger_file.with_name("savings_waterfall.png")
        ledger_url, ledger_label = f"sqlite:///{ledger_file}", str(ledger_file)

    observers: list[Any] = []
    otel = None
    if otlp is not None:
        otel = _otel(otlp)
        observers.append(otel[0])
    handler = CostCallbackHandler(ledger=ledger_url, observers=observers)
    try:
        replay = _Replay(workload, loaded, progress)
        levers: set[str] = set()
        lever_of = {
            "dedup": "dedup",
            "routing": "routing",
            "exact cache": "exact",
            "semantic cache": "semantic",
            "prompt caching": "prompt_cache",
            "context budget": "budget",
            "batch": "batch",
        }
        timings: dict[str, float] = {}
        for step, _ in STEPS:
            if step in lever_of:
                levers.add(lever_of[step])
            t0 = time.perf_counter()
            _run_step(replay, step, set(levers), handler, progress)
            timings[step] = time.perf_counter() - t0
        progress.close()
        handler.flush()
        by_step, outcomes = _by_step(handler.ledger)
        results = [
            _step_result(by_step.get(step, []), outcomes, step, lever, timings[step]) for step, lever in STEPS
        ]
    finally:
        if otel is not None:
            otel[1].force_flush()
            otel[1].shutdown()
            otel[2].shutdown()

    _print_report(out, workload, replay, results, by_step.get(STEPS[-1][0], []))
    try:
        write_waterfall_png(
            results,
            chart_file,
            title=(
                f"Savings waterfall: {len(workload.requests):,} real requests replayed "
                f"({n_subs:,} submissions), cost after each lever"
            ),
        )
        print(f"Chart:  {chart_file}", file=out)
    except ImportError as exc:  # MissingExtraError: the table is still the result
        print(f"Chart not written: {exc}", file=out)
    print(f"Ledger: {ledger_label}  (all {len(STEPS)} replays; each record tagged {STEP_TAG})", file=out)
    print(f"Took {time.perf_counter() - started:.1f}s.", file=out)
    handler.tracker.close()
    return 0


def _print_report(
    out: Any, workload: Workload, replay: _Replay, results: list[StepResult], last_records: list[Any]
) -> None:
    from ..ledger import LedgerReports
    from ..ledger._html import savings_waterfall

    w = workload
    chat, email, asst = (
        w.count(kind=k, how="original") for k in ("support_chat", "support_email", "assistant")
    )
    cal = replay.calibration
    point = replay.router_point
    print(
        f"Replayed {len(w.requests):,} real requests ({chat + email:,} Banking77 support tickets: {chat:,} chat, "
        f"{email:,} e-mails in threads; {asst:,} RouterBench prompts) as {len(w.submissions):,} submissions "
        f"({w.count(how='retry'):,} retries with the same idempotency key, {w.count(how='reask'):,} asked again later; "
        f"chosen by a hash of each text),\n"
        f"through LangChain chains (prompt | chat model | parser), once per step; every number below is read back "
        f"from the ledger.\n"
        f"Support: {SUPPORT_MODEL} stand-in priced by the price book; assistant: RouterBench's recorded answers and "
        f"dollars, baseline model {replay.strongest} (best on the router's training rows).\n"
        f"Router: ridge regression on hashed prompts, {len(w.routerbench_train):,} training rows, calibrated on "
        f"{len(w.routerbench_calibration):,} other rows to 95% of the best model's quality "
        f"(there: {point.quality:.3f} at ${point.cost:.5f}/prompt). Semantic cache: calibrated on {cal.n_queries:,} "
        f"Banking77 train queries looked up in the {cal.n_cache:,} warm entries, for precision {cal.target_precision:.2f} "
        f"({'met' if cal.met else 'not reachable: semantic tier off'}; there {cal.point.precision:.3f} at "
        f"{cal.point.hit_rate:.1%} hits).\n",
        file=out,
    )
    print(format_waterfall(results), file=out)
    print(
        "\naccuracy: tasks answered right (assistant: RouterBench correctness of the model that answered; support: "
        "the served answer is for the query's intent,\nso false cache hits count as failures). $/successful task: "
        "all cost of the step / tasks answered right (retries are part of their task).",
        file=out,
    )
    # Cross-check with the ledger's own savings view of the last step.
    last = results[-1].step
    reports = LedgerReports.from_records(last_records)
    ledger_steps = savings_waterfall(reports)
    reports.close()
    parts = ", ".join(f"{s['step']} ${s['saving_usd']:.4f}" for s in ledger_steps[1:-1])
    print(
        f"Ledger check, step '{last}': billed ${ledger_steps[-1]['cost_usd']:.4f}; savings recorded on its "
        f"records: {parts or 'none'}.",
        file=out,
    )
