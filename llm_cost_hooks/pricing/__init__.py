"""Model prices: LiteLLM's price map read as data, plus your overrides.

Importing this package imports neither LiteLLM nor the price map, and pricing never
touches the network. The map is read on first use: one fetched by ``llm-cost prices
update`` (the only network call, opt-in), else an installed ``litellm``'s when at least as
new as the snapshot shipped in this package, else that snapshot.

>>> from llm_cost_hooks.pricing import PriceBook
>>> book = PriceBook.default()
>>> round(book.cost({"input_tokens": 10_000, "output_tokens": 1_000,
...                  "cache_read_tokens": 8_000}, "gpt-4o").total, 6)
0.025
>>> book.lookup("claude-haiku-4-5").cache_write_per_token
1.25e-06

Environment variables: ``LLM_COST_HOOKS_PRICE_MAP`` (a price map in LiteLLM's JSON format,
e.g. a newer one you downloaded, used instead of the bundled one) and
``LLM_COST_HOOKS_PRICE_OVERRIDES`` (a YAML/JSON file of your own prices).
"""

from ._model_price import (
    ModelPrice,
    OffPeakPricing,
    OffPeakWindow,
    PriceSource,
    RangeTier,
    ThresholdTier,
    TokenRates,
)
from ._pricebook import PRICE_MAP_ENV, PRICE_OVERRIDES_ENV, PriceBook, PricedCost, ResolvedPrice

__all__ = [
    "PRICE_MAP_ENV",
    "PRICE_OVERRIDES_ENV",
    "ModelPrice",
    "OffPeakPricing",
    "OffPeakWindow",
    "PriceBook",
    "PriceSource",
    "PricedCost",
    "RangeTier",
    "ResolvedPrice",
    "ThresholdTier",
    "TokenRates",
]
