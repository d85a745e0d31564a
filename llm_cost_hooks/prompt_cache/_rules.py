"""Which providers cache prompt prefixes, how, and within which limits.

The table is data, not code: :data:`DEFAULT_CACHE_RULES` is searched in order and the
first row whose ``match`` regex is found in the normalised model name (and whose
``providers``, when given, include the call's provider family) decides. A model no row
names falls back on its price-map entry: a cache-write price above the input price means
the provider bills writes, so it uses explicit (Anthropic-style) breakpoints; a cache-read
price alone means implicit caching; neither means no caching.

Sources of the numbers (checked November 2026):

* Anthropic, "Prompt caching" (docs.claude.com / platform.claude.com), as quoted in
  anthropics/anthropic-sdk-python issue #1194: minimum cacheable prompt length 4096 tokens
  for Claude Opus 4.6 and 4.5 and Claude Haiku 4.5; 1024 for Claude Sonnet 4.6, 4.5,
  Opus 4.1, Opus 4, Sonnet 4, Sonnet 3.7; 2048 for Claude Haiku 3.5 and Haiku 3. Up to 4
  ``cache_control`` breakpoints per request; a prompt shorter than the minimum is
  processed uncached without an error. (That issue reports caching on Sonnet 4.6 only
  from ~2048 tokens; we keep the documented 1024: a breakpoint below the real minimum
  costs nothing, it is just not cached.)
* LiteLLM docs "Prompt Caching" (minimum-token table, 2026): Opus 4.7 4096 on Anthropic
  and Bedrock; the 2026 Claude 5 generation (Opus 5, Fable 5, Mythos 5) 512; Sonnet 5 and
  Opus 4.8 1024; Bedrock and Vertex AI serve Claude with Anthropic's rules.
* OpenAI "Prompt caching": automatic for prompts of 1024 tokens or more, no markers.
  DeepSeek (context caching on disk), xAI and Gemini 2.5+ (implicit caching) likewise
  need no markers.

Override or extend the table with ``resolve_cache_rule(..., rules=my_rules + DEFAULT_CACHE_RULES)``.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ANTHROPIC_MAX_BREAKPOINTS",
    "DEFAULT_CACHE_RULES",
    "CacheMode",
    "CacheRule",
    "ResolvedCacheRule",
    "normalize_model_name",
    "resolve_cache_rule",
]

#: Anthropic's limit of ``cache_control`` breakpoints per request (also Bedrock, Vertex AI).
ANTHROPIC_MAX_BREAKPOINTS = 4


class CacheMode(str, Enum):
    """How a provider caches prompt prefixes.

    >>> resolve_cache_rule("claude-sonnet-4-5").mode, resolve_cache_rule("gpt-4o-mini").mode
    (<CacheMode.EXPLICIT: 'explicit'>, <CacheMode.IMPLICIT: 'implicit'>)
    """

    EXPLICIT = "explicit"  # only up to ``cache_control`` breakpoints the request marks
    IMPLICIT = "implicit"  # automatically, on any long enough repeated prefix
    NONE = "none"  # no prefix caching (or no discount for it)


class CacheRule(BaseModel):
    """One row of the provider rule table.

    >>> CacheRule(match=r"^claude-haiku-4-5", mode="explicit", min_tokens=4096,
    ...           max_breakpoints=4).min_tokens
    4096
    """

    model_config = ConfigDict(frozen=True)

    match: str = Field(description="Regex searched in the normalised model name.")
    providers: frozenset[str] | None = Field(
        default=None, description="Provider families (LiteLLM ids) this row is limited to; None = any."
    )
    mode: CacheMode
    min_tokens: int = Field(ge=0, description="Shortest prefix the provider caches.")
    max_breakpoints: int = Field(default=0, ge=0, description="Explicit breakpoints allowed per request.")
    source: str = ""


def _claude(match: str, min_tokens: int, source: str) -> CacheRule:
    return CacheRule(
        match=match,
        mode=CacheMode.EXPLICIT,
        min_tokens=min_tokens,
        max_breakpoints=ANTHROPIC_MAX_BREAKPOINTS,
        source=source,
    )


_ANTHROPIC_DOCS = "Anthropic prompt-caching docs"
_LITELLM_DOCS = "LiteLLM prompt-caching docs"
_FAMILY = r"(?![0-9])"  # "claude-opus-4-5" must not match "claude-opus-4-50"

#: The rule table, searched top to bottom. Claude rows apply on every host (Anthropic,
#: Bedrock, Vertex AI, Azure AI, Databricks, gateways): the breakpoint rules are the model's.
DEFAULT_CACHE_RULES: tuple[CacheRule, ...] = (
    _claude(rf"claude-opus-4-[567]{_FAMILY}", 4096, _ANTHROPIC_DOCS + " (4.5, 4.6); " + _LITELLM_DOCS + " (4.7)"),
    _claude(rf"claude-haiku-4-5{_FAMILY}", 4096, _ANTHROPIC_DOCS),
    _claude(rf"claude-(?:3-5-haiku|3-haiku|haiku-3-5|haiku-3){_FAMILY}", 2048, _ANTHROPIC_DOCS),
    _claude(rf"claude-(?:opus-5|fable-5|mythos-5){_FAMILY}", 512, _LITELLM_DOCS),
    _claude(r"claude-", 1024, _ANTHROPIC_DOCS + " (Sonnet 3.7-4.6, Opus 3-4.1; default for other Claude models)"),
    CacheRule(match=r"", providers=frozenset({"openai", "azure"}), mode=CacheMode.IMPLICIT, min_tokens=1024,
              source="OpenAI prompt-caching docs"),
    CacheRule(match=r"", providers=frozenset({"deepseek"}), mode=CacheMode.IMPLICIT, min_tokens=64,
              source="DeepSeek context caching (64-token units)"),
    CacheRule(match=r"", providers=frozenset({"xai"}), mode=CacheMode.IMPLICIT, min_tokens=1024,
              source="xAI cached prompt tokens (automatic)"),
    CacheRule(match=r"gemini", providers=frozenset({"gemini", "vertex_ai"}), mode=CacheMode.IMPLICIT,
              min_tokens=1024, source=_LITELLM_DOCS + " (Google Gemini implicit caching)"),
)  # fmt: skip


class ResolvedCacheRule(BaseModel):
    """The caching rules that apply to one model, with its per-token rates.

    ``input_rate``/``cache_read_rate``/``cache_write_rate`` are USD per token (base tier);
    a missing cache rate equals the input rate (no discount, no premium).
    :func:`resolve_cache_rule` makes one.

    >>> rule = resolve_cache_rule("claude-haiku-4-5")
    >>> rule.provider, rule.min_tokens, rule.needs_breakpoints
    ('anthropic', 4096, True)
    >>> rule.input_rate, rule.cache_read_rate, rule.cache_write_rate
    (1e-06, 1e-07, 1.25e-06)
    """

    model_config = ConfigDict(frozen=True)

    model: str
    provider: str | None = None
    mode: CacheMode
    min_tokens: int
    max_breakpoints: int
    source: str
    input_rate: float = 0.0
    cache_read_rate: float = 0.0
    cache_write_rate: float = 0.0
    priced: bool = False

    @property
    def needs_breakpoints(self) -> bool:
        return self.mode is CacheMode.EXPLICIT and self.max_breakpoints > 0

    @property
    def read_discount(self) -> float:
        """USD saved per token read from the cache instead of billed as input."""
        return max(self.input_rate - self.cache_read_rate, 0.0)

    @property
    def write_premium(self) -> float:
        """USD extra per token written to the cache (0 where writes cost plain input)."""
        return max(self.cache_write_rate - self.input_rate, 0.0)


_GEO = re.compile(r"^(?:global|us|eu|apac|jp|au|us-gov)\.")
_SUFFIXES = re.compile(r"(?:-v\d+(?::\d+)?|@\d{8}|@latest|@default|-\d{4}-\d{2}-\d{2}|-\d{8}|:\d+k)$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")


@lru_cache(maxsize=1024)
def normalize_model_name(model: str) -> str:
    """A model name without host, region, vendor prefix, snapshot or version suffix.

    >>> normalize_model_name("bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0")
    'claude-haiku-4-5'
    >>> normalize_model_name("github_copilot/claude-haiku-4.5")
    'claude-haiku-4-5'
    """
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _GEO.sub("", name)
    for vendor in ("anthropic.", "meta.", "amazon.", "mistral.", "cohere."):
        if name.startswith(vendor):
            name = name[len(vendor) :]
    if "claude" in name:  # "databricks-claude-..." and similar gateway spellings
        name = name[name.index("claude") :]
    for _ in range(3):  # "-20251001-v1:0" has two suffixes
        stripped = _SUFFIXES.sub("", name)
        if stripped == name:
            break
        name = stripped
    return _DOTTED_VERSION.sub("-", name)


def _family(provider: str | None) -> str | None:
    if not provider:
        return None
    from ..pricing._names import canonical_provider, provider_family

    return provider_family(canonical_provider(provider))


def _price(model: str, provider: str | None, price_book: Any) -> Any:
    from .._errors import UnknownModelError

    if price_book is None:
        from ..pricing import PriceBook

        price_book = PriceBook.default()
    try:
        return price_book.lookup(model, provider)
    except UnknownModelError:
        return None
    except Exception:
        return None


def resolve_cache_rule(
    model: str,
    provider: str | None = None,
    *,
    price_book: Any = None,
    rules: tuple[CacheRule, ...] | list[CacheRule] = DEFAULT_CACHE_RULES,
) -> ResolvedCacheRule:
    """The prompt-caching rules and cache rates of ``model`` (optionally on ``provider``).

    >>> r = resolve_cache_rule("claude-haiku-4-5")
    >>> r.mode.value, r.max_breakpoints, r.min_tokens
    ('explicit', 4, 4096)
    >>> resolve_cache_rule("gpt-4o-mini").mode.value
    'implicit'
    """
    price = _price(model, provider, price_book)
    family = _family(provider) or _family(getattr(price, "provider", None))
    name = normalize_model_name(model)
    chosen: CacheRule | None = None
    for rule in rules:
        if rule.providers is not None and family not in rule.providers:
            continue
        if re.search(rule.match, name):
            chosen = rule
            break
    input_rate = float(getattr(price, "input_per_token", 0.0) or 0.0)
    read = getattr(price, "cache_read_per_token", None)
    write = getattr(price, "cache_write_per_token", None)
    read_rate = input_rate if read is None else float(read)
    write_rate = input_rate if write is None else float(write)
    if chosen is None:
        if price is not None and write is not None and write_rate > input_rate:
            chosen = CacheRule(
                match="",
                mode=CacheMode.EXPLICIT,
                min_tokens=1024,
                max_breakpoints=ANTHROPIC_MAX_BREAKPOINTS,
                source="price map: cache writes cost more than input",
            )
        elif price is not None and (read is not None or getattr(price, "supports_prompt_caching", False)):
            chosen = CacheRule(
                match="",
                mode=CacheMode.IMPLICIT,
                min_tokens=1024,
                source="price map: cache-read price, no write premium",
            )
        else:
            chosen = CacheRule(match="", mode=CacheMode.NONE, min_tokens=0, source="no cache prices known")
    return ResolvedCacheRule(
        model=model,
        provider=provider or getattr(price, "provider", None),
        mode=chosen.mode,
        min_tokens=chosen.min_tokens,
        max_breakpoints=chosen.max_breakpoints if chosen.mode is CacheMode.EXPLICIT else 0,
        source=chosen.source,
        input_rate=input_rate,
        cache_read_rate=read_rate,
        cache_write_rate=write_rate,
        priced=price is not None,
    )
