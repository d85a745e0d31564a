"""Price-map key vocabulary shared by the map reader and the override validator."""

from __future__ import annotations

import re
from typing import Final

_RATE_PREFIXES: Final = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
)
_PREFIX_GROUP: Final = "|".join(_RATE_PREFIXES)

#: ``input_cost_per_token_above_200k_tokens`` and friends (also ``_above_128000_tokens``).
TIER_KEY: Final = re.compile(rf"^({_PREFIX_GROUP})_above_(\d+(?:\.\d+)?k?)_tokens$")
#: The batch variant: ``input_cost_per_token_above_272k_tokens_batches``.
BATCH_TIER_KEY: Final = re.compile(rf"^({_PREFIX_GROUP})_above_(\d+(?:\.\d+)?k?)_tokens_batches$")

#: Flat per-token price keys the price book reads, LiteLLM spelling.
FLAT_RATE_KEYS: Final = frozenset(
    {
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
        "input_cost_per_token_batches",
        "output_cost_per_token_batches",
        "cache_read_input_token_cost_batches",
        "cache_creation_input_token_cost_batches",
    }
)

#: Friendly override names -> LiteLLM base key. ``_per_million`` values are divided by 1e6.
FRIENDLY_KINDS: Final = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
}

#: ``input_per_million``, ``batch_cache_read_per_token``, ``output_per_million_above_200k_tokens``.
FRIENDLY_KEY: Final = re.compile(
    r"^(batch_)?(input|output|cache_read|cache_write|reasoning)_per_(million|token)"
    r"(?:_above_(\d+(?:\.\d+)?k?)_tokens)?$"
)

#: Non-price keys an override may set and the price book uses.
META_KEYS: Final = frozenset(
    {"litellm_provider", "provider", "mode", "max_tokens", "max_input_tokens", "max_output_tokens",
     "supports_prompt_caching"}
)  # fmt: skip

#: Keys accepted (so a copied LiteLLM entry loads) but not used for pricing.
DESCRIPTIVE_KEYS: Final = frozenset({"source", "deprecation_date", "metadata", "comment", "tpm", "rpm"})
DESCRIPTIVE_PREFIXES: Final = ("supports_", "supported_")

#: LiteLLM keys for usage this package does not price (audio, images, service tiers, ...).
UNMODELLED_KEY: Final = re.compile(
    r"^(?:(?:input|output)_cost_per_(?:audio|image|video|character|pixel|second|query|request|"
    r"text_message|reasoning_token_(?:flex|priority))\w*"
    r"|(?:input|output)_cost_per_token_(?:flex|priority|balanced|ultrafast|decisions|cache_hit)\w*"
    r"|cache_(?:read|creation)_input_(?:audio_|image_)?token_cost_(?:flex|priority|balanced|ultrafast|"
    r"decisions|above_1hr)\w*"
    r"|cache_(?:read|creation)_input_(?:audio|image)_token_cost"
    r"|\w+_above_\d+k?_tokens_(?:flex|priority|ultrafast|decisions)"
    r"|search_context_cost_per_query|google_maps_grounding_cost_per_query|citation_cost_per_token"
    r"|cost_per_second|regional_\w+|provider_specific_entry|explicit_cache_read_input_token_cost)$"
)
