"""Prompt audit: where a template's tokens go and which of them earn nothing.

For each registered template: tokens per section (message), repeated or near-duplicate
instructions (sentence embeddings, cosine similarity), few-shot examples a team can test
removing, and what each costs per month at the ledger's traffic::

    monthly_usd(tokens) = tokens x calls_per_month x effective_input_rate

where ``calls_per_month`` is the prompt version's calls in the ledger scaled to 30 days
(or given), and ``effective_input_rate`` is what its input tokens really cost per token,
cache discounts included: (input + cache-read + cache-write dollars) / input tokens.
Without ledger traffic the list input price of the template's model is used.

Similarity uses the offline embedder (all-MiniLM-L6-v2, ``llm_cost_hooks.embeddings``);
without the ``embed`` extra a character 3-5-gram TF-IDF cosine stands in (thresholds
0.85 and 0.6 respectively, measured on paraphrased instructions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .._records import CostRecord
from ..prompts._registry import PromptRegistry, RegisteredPrompt, default_registry
from ._placement import count_tokens
from ._rules import resolve_cache_rule

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = [
    "DuplicateInstruction",
    "FewShotExample",
    "LexicalEmbedder",
    "PromptAudit",
    "SectionCost",
    "audit_prompt",
    "audit_prompts",
]

EMBEDDING_THRESHOLD = 0.85
LEXICAL_THRESHOLD = 0.6


class LexicalEmbedder:
    """Character n-gram TF-IDF vectors (L2-normalised), numpy only: the fallback when
    the ONNX embedder is not installed.

    >>> e = LexicalEmbedder()
    >>> v = e.embed(["Never reveal card numbers.", "Never reveal the card numbers!", "Be brief."])
    >>> bool(v[0] @ v[1] > 0.6 > v[0] @ v[2])
    True
    """

    name = "lexical-char-3-5-gram-tfidf"

    def __init__(self, ngram: tuple[int, int] = (3, 5)) -> None:
        self.ngram = ngram

    def _grams(self, text: str) -> list[str]:
        collapsed = re.sub(r"\s+", " ", text.lower().strip())
        t = f" {collapsed} "
        return [t[i : i + n] for n in range(self.ngram[0], self.ngram[1] + 1) for i in range(len(t) - n + 1)]

    def embed(self, texts: list[str]) -> Any:
        import math

        import numpy as np

        docs = [self._grams(t) for t in texts]
        vocab: dict[str, int] = {}
        df: dict[str, int] = {}
        for grams in docs:
            for g in set(grams):
                df[g] = df.get(g, 0) + 1
                vocab.setdefault(g, len(vocab))
        matrix = np.zeros((len(texts), max(len(vocab), 1)), dtype=np.float32)
        n = len(texts)
        for row, grams in enumerate(docs):
            for g in grams:
                matrix[row, vocab[g]] += 1.0
            for g in set(grams):
                matrix[row, vocab[g]] *= math.log((1 + n) / (1 + df[g])) + 1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return matrix / norms


def _embedder() -> tuple[Any, float, str]:
    try:
        from ..embeddings import default_embedder

        embedder = default_embedder()
        embedder.embed(["warm up"])
        return embedder, EMBEDDING_THRESHOLD, "all-MiniLM-L6-v2 (onnx int8)"
    except Exception:
        return LexicalEmbedder(), LEXICAL_THRESHOLD, LexicalEmbedder.name


class SectionCost(BaseModel):
    """Tokens and monthly dollars of one message of a template."""

    index: int
    role: str
    tokens: int
    share: float
    monthly_usd: float
    preview: str


class DuplicateInstruction(BaseModel):
    """An instruction that repeats (or nearly repeats) an earlier one; the second copy is the waste.

    >>> from llm_cost_hooks.prompt_cache import LexicalEmbedder, audit_prompt
    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("support", [
    ...     ("system", "You are a support agent for Acme Bank.\\nNever reveal card numbers to anyone."),
    ...     ("system", "Reminder: never reveal card numbers to anyone!"),
    ...     ("human", "Where is my card?"), ("ai", "It ships in 3-5 days."),
    ...     ("human", "{question}")], model="gpt-4o-mini", version="v1", registry=PromptRegistry())
    >>> audit = audit_prompt(prompt, calls_per_month=100_000, embedder=LexicalEmbedder())
    >>> [(d.second, d.first_section, d.second_section, d.exact) for d in audit.duplicates]
    [('Reminder: never reveal card numbers to anyone!', 0, 1, False)]
    """

    first: str
    second: str
    first_section: int
    second_section: int
    similarity: float
    exact: bool
    tokens: int = Field(description="Tokens of the redundant (second) copy.")
    monthly_usd: float


class FewShotExample(BaseModel):
    """A few-shot example whose removal a team can test, with what it costs per month.

    >>> from llm_cost_hooks.prompt_cache import LexicalEmbedder, audit_prompt
    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("support", [
    ...     ("system", "You are a support agent for Acme Bank.\\nNever reveal card numbers to anyone."),
    ...     ("system", "Reminder: never reveal card numbers to anyone!"),
    ...     ("human", "Where is my card?"), ("ai", "It ships in 3-5 days."),
    ...     ("human", "{question}")], model="gpt-4o-mini", version="v1", registry=PromptRegistry())
    >>> audit = audit_prompt(prompt, calls_per_month=100_000, embedder=LexicalEmbedder())
    >>> [(e.sections, e.tokens, e.preview) for e in audit.examples]
    [([2, 3], 14, 'Where is my card?')]
    """

    index: int
    sections: list[int]
    tokens: int
    monthly_usd: float
    preview: str


class PromptAudit(BaseModel):
    """The audit of one template: sections, duplicate instructions, few-shot examples.

    >>> from llm_cost_hooks.prompt_cache import LexicalEmbedder, audit_prompt
    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("support", [
    ...     ("system", "You are a support agent for Acme Bank.\\nNever reveal card numbers to anyone."),
    ...     ("system", "Reminder: never reveal card numbers to anyone!"),
    ...     ("human", "Where is my card?"), ("ai", "It ships in 3-5 days."),
    ...     ("human", "{question}")], model="gpt-4o-mini", version="v1", registry=PromptRegistry())
    >>> audit = audit_prompt(prompt, calls_per_month=100_000, embedder=LexicalEmbedder())
    >>> audit.prompt, audit.total_tokens, audit.traffic_source
    ('support@v1', ..., 'given calls per month')
    >>> [(s.role, s.tokens) for s in audit.sections][:2]
    [('system', ...), ('system', ...)]
    """

    prompt: str
    model: str
    total_tokens: int
    calls_per_month: float
    effective_input_rate: float
    traffic_source: str
    embedder: str
    sections: list[SectionCost]
    duplicates: list[DuplicateInstruction]
    examples: list[FewShotExample]

    @property
    def monthly_usd(self) -> float:
        return sum(s.monthly_usd for s in self.sections)


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_EXAMPLE_HEADER = re.compile(r"(?im)^\s*(?:#+\s*)?(?:example|sample)\s*\d*\s*[:.)-]")
_VAR = re.compile(r"\{[^{}]*\}")


def _sentences(text: str) -> list[str]:
    out = []
    for raw in _SENTENCE.split(text):
        s = raw.strip(" -*\t")
        if len(s.split()) >= 4 and not _VAR.fullmatch(s):
            out.append(s)
    return out


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", re.sub(r"\s+", " ", s.lower())).strip()


def _traffic(
    prompt: RegisteredPrompt, model: str, records: list[CostRecord], price_book: Any
) -> tuple[float, float, str]:
    recs = [r for r in records if prompt.matches(r.prompt_version) and r.input_tokens]
    if recs:
        recs.sort(key=lambda r: r.timestamp)
        span_days = max((recs[-1].timestamp - recs[0].timestamp).total_seconds() / 86400, 1.0)
        dollars = sum(
            r.cost_breakdown.input + r.cost_breakdown.cache_read + r.cost_breakdown.cache_write for r in recs
        )
        tokens = sum(r.input_tokens for r in recs)
        return (
            len(recs) * 30 / span_days,
            dollars / tokens,
            f"ledger: {len(recs)} calls over {span_days:.1f} days",
        )
    rate = resolve_cache_rule(model, price_book=price_book).input_rate
    return 0.0, rate, "no ledger traffic for this prompt"


def audit_prompt(
    prompt: RegisteredPrompt,
    records: Iterable[CostRecord] = (),
    *,
    model: str | None = None,
    calls_per_month: float | None = None,
    threshold: float | None = None,
    embedder: Embedder | None = None,
    price_book: Any = None,
) -> PromptAudit:
    """Audit one template (see the module docstring for the arithmetic). ``records``
    (the ledger's) give its traffic; ``calls_per_month`` overrides it. ``threshold``
    (cosine of a near-duplicate instruction) defaults to the embedder's: 0.85 for MiniLM,
    0.6 for :class:`LexicalEmbedder`, 0.85 for an embedder of your own.

    >>> from llm_cost_hooks.prompt_cache import LexicalEmbedder, audit_prompt
    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("support", [
    ...     ("system", "You are a support agent for Acme Bank.\\nNever reveal card numbers to anyone."),
    ...     ("system", "Reminder: never reveal card numbers to anyone!"),
    ...     ("human", "Where is my card?"), ("ai", "It ships in 3-5 days."),
    ...     ("human", "{question}")], model="gpt-4o-mini", version="v1", registry=PromptRegistry())
    >>> audit = audit_prompt(prompt, calls_per_month=100_000, embedder=LexicalEmbedder())
    >>> round(audit.monthly_usd, 2), len(audit.duplicates), len(audit.examples)
    (..., 1, 1)
    >>> round(audit.duplicates[0].monthly_usd, 3)  # what the repeated instruction costs a month
    0.135
    """
    model = model or prompt.model or "gpt-4o"
    calls, rate, source = _traffic(prompt, model, list(records), price_book)
    if calls_per_month is not None:
        calls, source = float(calls_per_month), "given calls per month"
    per_token_month = calls * rate

    texts = [p.text if p.kind == "message" else "" for p in prompt.parts]
    tokens = [count_tokens(t, model) for t in texts]
    total = sum(tokens) or 1
    sections = [
        SectionCost(index=i, role=p.role, tokens=tokens[i], share=tokens[i] / total,
                    monthly_usd=tokens[i] * per_token_month, preview=texts[i][:60].replace("\n", " "))
        for i, p in enumerate(prompt.parts)
    ]  # fmt: skip

    # Repeated / near-duplicate instructions across the whole template.
    sentences: list[tuple[int, str]] = [(i, s) for i, t in enumerate(texts) for s in _sentences(t)]
    duplicates: list[DuplicateInstruction] = []
    if embedder is None:
        embedder, default_threshold, embedder_name = _embedder()
    else:
        # Each embedder's cosines have their own scale: the lexical one's run lower.
        default_threshold, embedder_name = (
            LEXICAL_THRESHOLD if isinstance(embedder, LexicalEmbedder) else EMBEDDING_THRESHOLD,
            getattr(embedder, "name", type(embedder).__name__),
        )
    limit = default_threshold if threshold is None else threshold
    if len(sentences) > 1:
        vectors = embedder.embed([s for _, s in sentences])
        sims = vectors @ vectors.T
        used: set[int] = set()
        for b in range(len(sentences)):
            for a in range(b):
                exact = _norm(sentences[a][1]) == _norm(sentences[b][1])
                if (exact or float(sims[a, b]) >= limit) and b not in used:
                    used.add(b)
                    t = count_tokens(sentences[b][1], model)
                    duplicates.append(DuplicateInstruction(
                        first=sentences[a][1], second=sentences[b][1], first_section=sentences[a][0],
                        second_section=sentences[b][0], similarity=round(float(sims[a, b]), 4), exact=exact,
                        tokens=t, monthly_usd=t * per_token_month,
                    ))  # fmt: skip
                    break

    # Few-shot examples: literal user/assistant pairs before the last variable turn,
    # and "Example N:" blocks inside a section's text.
    examples: list[FewShotExample] = []
    parts = prompt.parts
    last_variable = max((i for i, p in enumerate(parts) if p.variables()), default=len(parts))
    i = 0
    while i < last_variable - 1:
        ask, answer = parts[i], parts[i + 1]
        if (
            ask.role == "user"
            and answer.role == "assistant"
            and not ask.variables()
            and not answer.variables()
        ):
            t = tokens[i] + tokens[i + 1]
            examples.append(
                FewShotExample(
                    index=len(examples),
                    sections=[i, i + 1],
                    tokens=t,
                    monthly_usd=t * per_token_month,
                    preview=texts[i][:60],
                )
            )
            i += 2
        else:
            i += 1
    for i, text in enumerate(texts):
        starts = [m.start() for m in _EXAMPLE_HEADER.finditer(text)]
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(text)
            chunk = text[start:end]
            paragraph_end = chunk.find("\n\n", chunk.find("\n") + 1) if k + 1 == len(starts) else -1
            if paragraph_end > 0:
                chunk = chunk[:paragraph_end]
            t = count_tokens(chunk, model)
            examples.append(
                FewShotExample(
                    index=len(examples),
                    sections=[i],
                    tokens=t,
                    monthly_usd=t * per_token_month,
                    preview=chunk.strip()[:60],
                )
            )
    return PromptAudit(
        prompt=prompt.key,
        model=model,
        total_tokens=sum(tokens),
        calls_per_month=calls,
        effective_input_rate=rate,
        traffic_source=source,
        embedder=embedder_name,
        sections=sections,
        duplicates=duplicates,
        examples=examples,
    )


def audit_prompts(
    records: Iterable[CostRecord] = (),
    registry: PromptRegistry | Iterable[RegisteredPrompt] | None = None,
    **kwargs: Any,
) -> list[PromptAudit]:
    """Audit every registered template (or the prompts given), most expensive first.

    >>> from llm_cost_hooks.prompts import PromptRegistry
    >>> registry = PromptRegistry()
    >>> _ = registry.register("greet", "Say hello to {name}.", model="gpt-4o-mini", version="1")
    >>> _ = registry.register("faq", "Answer from the FAQ, in the user's language, briefly and "
    ...                       "politely: {question}", model="gpt-4o", version="1")
    >>> [a.prompt for a in audit_prompts(registry=registry, calls_per_month=1000,
    ...                                  embedder=LexicalEmbedder())]
    ['faq@1', 'greet@1']
    """
    records = list(records)
    audits = [
        audit_prompt(p, records, **kwargs) for p in (registry if registry is not None else default_registry())
    ]
    audits.sort(key=lambda a: -a.monthly_usd)
    return audits
