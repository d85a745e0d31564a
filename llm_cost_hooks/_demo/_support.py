"""The support side of ``llm-cost demo``, framework-free: the stand-in for
claude-sonnet-4-5 (each Banking77 query answered with its intent's reply, with the usage
Anthropic would report under its prompt-cache rules) and an in-process batch API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

SUPPORT_MODEL = "claude-sonnet-4-5"
SUPPORT_PROVIDER = "anthropic"
ANSWER_KEY = "demo_answer_intent"


def answer_text(intent: str) -> str:
    topic = intent.replace("_", " ")
    return (
        f"Thanks for getting in touch about {topic}. I have looked into it for you, and here is what to do "
        f'next: open the ACME app, go to Help, choose "{topic}" and follow the steps shown there; they '
        "cover the usual causes and how long each one takes to resolve. If something still looks wrong "
        "afterwards, reply to this message and a specialist will pick it up within one working day. For "
        "your security, never share your full card number, PIN, passcode or one-time codes with anyone, "
        "including us."
    )


def system_prompt(train: Sequence[tuple[str, str]]) -> str:
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


# -- Anthropic's prompt-cache rules over the requests one provider account sees --------------------
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


class AnthropicPrefixCache:
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


class SupportAnswers:
    """What the stand-in support model "knows": each query's intent, and the usage its
    answer is billed at (``provider_cache``: an :class:`AnthropicPrefixCache`)."""

    def __init__(self, intents: Mapping[str, str | None], provider_cache: AnthropicPrefixCache) -> None:
        self.intents = intents
        self.provider_cache = provider_cache

    def reply(self, messages: Sequence[Any]) -> tuple[str, str, dict[str, Any]]:
        """(intent, answer text, usage) for a conversation whose last message is the query
        (LangChain messages or OpenAI-format dicts)."""
        last = messages[-1]
        question = last.get("content") if isinstance(last, dict) else last.text
        intent = str(self.intents[str(question)])
        text = answer_text(intent)
        return intent, text, self.provider_cache.usage(messages, text)


class InProcessBatchAPI:
    """A :class:`~llm_cost_hooks.batch.BatchBackend` answering each batch at once in this
    process (no provider endpoint here): the same bot, the same usage rules."""

    def __init__(self, bot: SupportAnswers) -> None:
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
        batch: dict[str, Any] = {
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
