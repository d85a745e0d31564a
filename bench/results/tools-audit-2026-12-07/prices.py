"""Prompt-cache and batch pricing against the providers' published ratios, on the price book in
use: python prices.py. Anthropic: cache write 1.25x input, cache read 0.1x; OpenAI: cached input
0.5x (gpt-4o, gpt-4o-mini). Batch: half of every rate on Anthropic (its batch discount stacks
with caching); on OpenAI, whose map has no batch cache price, every input token at half the input
rate (LiteLLM's batch_cost_calculator rule, docs/pricing.md). Cache tokens count inside input."""

from __future__ import annotations

import math

from llm_cost_hooks._records import TokenUsage
from llm_cost_hooks.pricing import PriceBook

book = PriceBook.default()
usage = TokenUsage(input_tokens=10_000, output_tokens=100, cache_read_tokens=6_000, cache_write_tokens=2_000)
bad = 0
for model, write_x, read_x, stacks in [
    ("claude-sonnet-4-5", 1.25, 0.1, True),
    ("anthropic/claude-haiku-4-5", 1.25, 0.1, True),
    ("gpt-4o", 1.0, 0.5, False),
    ("gpt-4o-mini", 1.0, 0.5, False),
]:
    plain = book.cost(TokenUsage(input_tokens=1_000_000, output_tokens=0), model).total  # $ per M input
    out = book.cost(TokenUsage(input_tokens=0, output_tokens=1_000_000), model).total
    expect = (2_000 * plain + 6_000 * plain * read_x + 2_000 * plain * write_x + 100 * out) / 1e6
    got = book.cost(usage, model).total
    batch = book.cost(usage, model, batch=True).total
    batch_expect = got / 2 if stacks else (10_000 * plain + 100 * out) / 2e6
    ok = math.isclose(got, expect, rel_tol=1e-9) and math.isclose(batch, batch_expect, rel_tol=1e-9)
    bad += not ok
    print(
        f"{model:28s} input ${plain:.2f}/M  cost ${got:.6f} (expected ${expect:.6f})  batch ${batch:.6f}  {'ok' if ok else 'WRONG'}"
    )
raise SystemExit(1 if bad else 0)
