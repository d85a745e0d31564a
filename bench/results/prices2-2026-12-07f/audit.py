"""Image output tokens and price overrides on service tiers, priced through LiteLLM's
``completion`` (``mock_response`` carrying the usage a provider reports) with
CostHooksLogger: our dollars, a hand computation from the price map, LiteLLM's own
``response_cost``. Usage: python audit.py TABLE.md"""

from __future__ import annotations

import sys
import time
from typing import Any

import litellm
from litellm.types.utils import Usage

from llm_cost_hooks import PriceBook
from llm_cost_hooks.litellm import CostHooksLogger, uninstall

M = 1e-6
IMAGE_USAGE = dict(  # Gemini image answer as LiteLLM reports it (candidatesTokensDetails IMAGE)
    prompt_tokens=20,
    completion_tokens=1_400,
    total_tokens=1_420,
    completion_tokens_details={"image_tokens": 1_290, "text_tokens": 60, "reasoning_tokens": 50},
)
TIER_USAGE = dict(
    prompt_tokens=1_350,
    completion_tokens=260,
    total_tokens=1_610,
    prompt_tokens_details={"cached_tokens": 1_152},
    completion_tokens_details={"reasoning_tokens": 192},
)
MINE = {"gpt-5": {"input_per_million": 1.0, "output_per_million": 8.0}}
MINE_FLEX = {
    "gpt-5": {**MINE["gpt-5"], "input_cost_per_token_flex": 0.5e-6, "output_cost_per_token_flex": 4e-6}
}

# fmt: off
CASES: list[tuple[str, str, dict[str, Any], str | None, Any, float, str, bool]] = [
    # (case, model, usage, served tier, overrides, hand $, hand formula, LiteLLM comparable)
    ("Gemini 2.5 Flash Image (AI Studio)", "gemini/gemini-2.5-flash-image", IMAGE_USAGE, None, None,
     20 * 0.3 * M + 110 * 2.5 * M + 1_290 * 30 * M, "20 x $0.30/M + (60 + 50) x $2.50/M + 1290 x $30/M", True),
    ("Gemini 2.5 Flash Image (Vertex AI)", "gemini-2.5-flash-image", IMAGE_USAGE, None, None,
     20 * 0.3 * M + 110 * 2.5 * M + 1_290 * 30 * M, "as above", True),
    ("Gemini 3 Pro Image preview (Vertex AI)", "gemini-3-pro-image-preview", IMAGE_USAGE, None, None,
     20 * 2 * M + 110 * 12 * M + 1_290 * 120 * M, "20 x $2/M + 110 x $12/M + 1290 x $120/M", True),
    ("gpt-image-1 (no text output rate)", "gpt-image-1", IMAGE_USAGE, None, None,
     20 * 5 * M + 1_400 * 40 * M, "20 x $5/M + 1400 x $40/M", True),
    ("gemini-2.5-flash reporting image tokens (no image rate)", "gemini/gemini-2.5-flash", IMAGE_USAGE, None,
     None, 20 * 0.3 * M + 1_400 * 2.5 * M, "20 x $0.30/M + 1400 x $2.50/M (text rate: estimated)", True),
    ("gpt-5 flex, no override", "gpt-5", TIER_USAGE, "flex", None,
     198 * 0.625 * M + 1_152 * 0.0625 * M + 260 * 5 * M, "198 x $0.625/M + 1152 x $0.0625/M + 260 x $5/M", True),
    ("gpt-5 flex, override $1/M in, $8/M out", "gpt-5", TIER_USAGE, "flex", MINE,
     198 * 1 * M + 1_152 * 0.125 * M + 260 * 8 * M, "198 x $1/M + 1152 x $0.125/M + 260 x $8/M (estimated)", False),
    ("gpt-5 priority, override $1/M in, $8/M out", "gpt-5", TIER_USAGE, "priority", MINE,
     198 * 1 * M + 1_152 * 0.125 * M + 260 * 8 * M, "as above (estimated)", False),
    ("gpt-5 default, override $1/M in, $8/M out", "gpt-5", TIER_USAGE, "default", MINE,
     198 * 1 * M + 1_152 * 0.125 * M + 260 * 8 * M, "as above", False),
    ("gpt-5 flex, override with flex rates $0.50/M, $4/M", "gpt-5", TIER_USAGE, "flex", MINE_FLEX,
     198 * 0.5 * M + 1_152 * 0.125 * M + 260 * 4 * M, "198 x $0.50/M + 1152 x $0.125/M + 260 x $4/M", False),
]
# fmt: on


def run(
    case: tuple[str, str, dict[str, Any], str | None, Any, float, str, bool],
) -> tuple[float, bool, float | None]:
    name, model, usage, tier, overrides, *_ = case
    book = PriceBook(overrides=overrides) if overrides else None
    cl = CostHooksLogger(ledger="memory://", price_book=book)
    litellm.callbacks = [cl]
    extra = {"service_tier": tier} if tier else {}
    mock = litellm.ModelResponse(
        model=model,
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=Usage(**usage),
        **extra,
    )
    resp = litellm.completion(model=model, messages=[{"role": "user", "content": "hi"}], mock_response=mock)
    deadline = time.monotonic() + 10
    while not cl.records() and time.monotonic() < deadline:
        time.sleep(0.02)
    (rec,) = cl.records()
    cl.flush()
    uninstall(cl)
    return rec.cost_usd, rec.price_estimated, resp._hidden_params.get("response_cost")


def main() -> None:
    lines = [
        "| case | ours ($) | flagged estimated | hand ($) | LiteLLM response_cost ($) | ours = hand | hand computation |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        ours, estimated, theirs = run(case)
        name, _m, _u, _t, _o, hand, formula, comparable = case
        ll = f"{theirs:.9g}" if comparable and theirs is not None else "- (knows no override)"
        ok = abs(ours - hand) <= 1e-12 * max(hand, 1e-9)
        lines.append(f"| {name} | {ours:.9g} | {estimated} | {hand:.9g} | {ll} | {ok} | {formula} |")
        print(name, ours, estimated, hand, theirs, ok, flush=True)
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
