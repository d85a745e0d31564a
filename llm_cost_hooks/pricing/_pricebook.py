"""The price book: LiteLLM's price map, read as data, plus your overrides.

The map is LiteLLM's ``model_prices_and_context_window.json``: a snapshot ships in this
package, an installed ``litellm`` at least as new is preferred, and a map fetched with
``llm-cost prices update`` beats both (see :mod:`._map_source`). We read the file directly:
importing LiteLLM takes seconds and fetches a newer map from the network, and pricing
must do neither. The file is parsed on first use (not at import) and cached per process.

To use another map -- for instance a newer one downloaded from
https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json
-- pass ``PriceBook(price_map_path=...)`` or set ``LLM_COST_HOOKS_PRICE_MAP=/path/map.json``.
Prices you negotiated and private models go in overrides: ``PriceBook(overrides=...)``
(a dict or a YAML/JSON file) or ``LLM_COST_HOOKS_PRICE_OVERRIDES=/path/prices.yaml``; see
:mod:`llm_cost_hooks.pricing._overrides` for the format.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from .._errors import ConfigurationError, UnknownModelError
from .._records import CostBreakdown, TokenUsage
from ._keys import FLAT_RATE_KEYS, TIER_KEY
from ._map_source import default_map_source
from ._model_price import _TIER_TAILS, ModelPrice, PriceSource, coerce_usage, price_from_entry
from ._names import (
    PROVIDER_ALIASES,
    canonical_provider,
    first_party_provider,
    name_variants,
    provider_family,
    providers_compatible,
)
from ._overrides import OverrideEntry, OverrideSet, load_overrides

__all__ = ["PRICE_MAP_ENV", "PRICE_OVERRIDES_ENV", "PriceBook", "PricedCost", "ResolvedPrice"]

#: Environment variable: path of a price map (LiteLLM JSON format) to use instead of the bundled one.
PRICE_MAP_ENV = "LLM_COST_HOOKS_PRICE_MAP"
#: Environment variable: path of a YAML or JSON price-override file.
PRICE_OVERRIDES_ENV = "LLM_COST_HOOKS_PRICE_OVERRIDES"

_BUNDLED_MAP_FILE = "model_prices_and_context_window_backup.json"
# Top-level keys of the map that are not models.
_NOT_MODELS = frozenset({"sample_spec", "fallback_generalizations"})
# Map fields an override with replace=true keeps: they describe the model, not its price.
_DESCRIPTIVE = ("litellm_provider", "mode", "max_tokens", "max_input_tokens", "max_output_tokens",
                "supports_prompt_caching")  # fmt: skip


class ResolvedPrice(NamedTuple):
    """A price and whether it is the configured fallback (``estimated=True``).

    >>> book = PriceBook(overrides={"my-llm": {"input_per_million": 0.5, "output_per_million": 1.5}})
    >>> book.resolve("my-llm").estimated
    False
    """

    price: ModelPrice
    estimated: bool


class PricedCost(NamedTuple):
    """The dollars of a call and whether they come from the fallback price (``estimated``).

    >>> book = PriceBook(overrides={"my-llm": {"input_per_million": 0.5, "output_per_million": 1.5}})
    >>> priced = book.cost_with_flag({"input_tokens": 1000, "output_tokens": 200}, "my-llm")
    >>> round(priced.cost.total, 6), priced.estimated
    (0.0008, False)
    """

    cost: CostBreakdown
    estimated: bool


# ------------------------------------------------------------------- the raw map


@dataclass(frozen=True)
class _PriceMap:
    path: Path
    version: str
    entries: Mapping[str, Mapping[str, Any]]
    lower: Mapping[str, str]


def _bundled_map_path() -> Path:
    return default_map_source().path


@lru_cache(maxsize=4)
def _read_map(path: str, mtime_ns: int, size: int, bundled: bool) -> _PriceMap:
    # mtime/size are part of the cache key so an edited custom map is re-read.
    del mtime_ns, size
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"Price map {path!r} is not valid JSON: {exc}. Fix the JSON at that line, or unset "
            f"{PRICE_MAP_ENV} / price_map_path to use the map bundled with litellm."
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"Price map {path!r} must be a JSON object of model name -> prices, got {type(data).__name__}."
        )
    entries = {
        key: value for key, value in data.items() if isinstance(value, dict) and key not in _NOT_MODELS
    }
    version = _map_version(path, raw, bundled=bundled)
    lower: dict[str, str] = {}
    for key in entries:
        lower.setdefault(key.lower(), key)  # first spelling wins, as in LiteLLM
    return _PriceMap(path=Path(path), version=version, entries=entries, lower=lower)


def _map_version(path: str, raw: bytes, *, bundled: bool) -> str:
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return f"{default_map_source().label}+{digest}" if bundled else f"override:{path}+{digest}"


def _load_map(path: Path, *, bundled: bool, origin: str) -> _PriceMap:
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the price map {str(path)!r} ({origin}): {exc.strerror}."
        ) from None
    try:
        return _read_map(str(path), stat.st_mtime_ns, stat.st_size, bundled)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the price map {str(path)!r} ({origin}): {exc.strerror}."
        ) from None


# ------------------------------------------------------------ the loaded state


@dataclass
class _State:
    base: _PriceMap
    version: str
    patched: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: dict[str, PriceSource] = field(default_factory=dict)
    extra_lower: dict[str, str] = field(default_factory=dict)
    known_providers: frozenset[str] = frozenset()
    _bare: dict[str, list[str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key_for(self, name: str) -> str | None:
        lowered = name.lower()
        return self.extra_lower.get(lowered) or self.base.lower.get(lowered)

    def entry(self, key: str) -> Mapping[str, Any]:
        patched = self.patched.get(key)
        return patched if patched is not None else self.base.entries[key]

    def provider_of(self, key: str) -> str | None:
        provider = self.entry(key).get("litellm_provider")
        return provider if isinstance(provider, str) and provider else None

    def all_keys(self) -> list[str]:
        return [
            *self.base.entries,
            *(key for key in self.extra_lower.values() if key not in self.base.entries),
        ]

    def bare(self, name: str) -> list[str]:
        """Keys whose part after the first ``/`` is ``name``.

        ``deepseek-chat`` -> ``["deepseek/deepseek-chat"]``.
        """
        if self._bare is None:
            with self._lock:
                if self._bare is None:
                    index: dict[str, list[str]] = {}
                    for key in self.all_keys():
                        if "/" in key:
                            index.setdefault(key.split("/", 1)[1].lower(), []).append(key)
                    self._bare = index
        return self._bare.get(name.lower(), [])


class PriceBook:
    """Per-token prices of LLMs, from LiteLLM's bundled price map plus your overrides.

    Args:
        price_map_path: A price map in LiteLLM's JSON format to use instead of the one
            bundled with LiteLLM. Default: ``$LLM_COST_HOOKS_PRICE_MAP`` if set.
        overrides: Prices that replace or extend the map: a mapping, or the path of a
            YAML/JSON file. Default: the file named by ``$LLM_COST_HOOKS_PRICE_OVERRIDES``.
        fallback_price: Price for models the book does not know (a :class:`ModelPrice`
            or an override-style mapping). Without it an unknown model raises
            :class:`~llm_cost_hooks.UnknownModelError`; with it, the result is flagged
            ``estimated``.

    Overrides are validated when the book is built; the price map is read on first use.

    >>> book = PriceBook(overrides={"my-llm": {"input_per_million": 1.0, "output_per_million": 4.0}})
    >>> book.cost({"input_tokens": 2000, "output_tokens": 500}, "my-llm").total
    0.004
    >>> book.lookup("gpt-4o").input_per_token
    2.5e-06
    """

    _default: PriceBook | None = None
    _default_lock = threading.Lock()

    def __init__(
        self,
        price_map_path: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        fallback_price: ModelPrice | Mapping[str, Any] | None = None,
    ) -> None:
        self._map_path: Path | None
        if price_map_path is not None:
            if not isinstance(price_map_path, (str, os.PathLike)):
                raise ConfigurationError(
                    f"price_map_path must be a path, got {type(price_map_path).__name__}."
                )
            self._map_path, self._map_origin = Path(price_map_path).expanduser(), "price_map_path argument"
        elif os.environ.get(PRICE_MAP_ENV, "").strip():
            self._map_path = Path(os.environ[PRICE_MAP_ENV].strip()).expanduser()
            self._map_origin = f"from {PRICE_MAP_ENV}"
        else:
            self._map_path, self._map_origin = None, "default price map"

        self._overrides: OverrideSet | None
        if overrides is not None:
            self._overrides = load_overrides(overrides)
        elif os.environ.get(PRICE_OVERRIDES_ENV, "").strip():
            self._overrides = load_overrides(
                os.environ[PRICE_OVERRIDES_ENV].strip(), env_var=PRICE_OVERRIDES_ENV
            )
        else:
            self._overrides = None

        self._fallback = _coerce_fallback(fallback_price)
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._resolved: dict[tuple[str, str | None], str | None] = {}
        # Suggestions for unknown names: difflib over every key takes ~0.1-0.4 s, and a
        # caller may ask about the same unknown model on every call.
        self._suggestions: dict[tuple[str, str | None], list[str]] = {}
        self._prices: dict[str, ModelPrice] = {}

        if self._map_path is not None or (
            self._overrides is not None and any(not e.has_input_and_output for e in self._overrides.entries)
        ):
            # A price map you chose, and partial overrides (valid only for a model the map
            # knows), are checked now: a bad file fails at start-up with what to fix, never
            # as a $0 price on every call.
            self._loaded()

    # -------------------------------------------------------------- default book

    @classmethod
    def default(cls) -> PriceBook:
        """The process-wide book (bundled map + ``$LLM_COST_HOOKS_PRICE_*``), built once.

        >>> PriceBook.default() is PriceBook.default()
        True
        """
        book = cls._default
        if book is None:
            with cls._default_lock:
                book = cls._default
                if book is None:
                    book = cls._default = cls()
        return book

    @classmethod
    def reset_default(cls) -> None:
        """Forget the process-wide book, e.g. after changing the environment variables."""
        with cls._default_lock:
            cls._default = None

    # ---------------------------------------------------------------- properties

    @property
    def price_map_path(self) -> Path:
        """The price-map file this book reads (located, not loaded)."""
        return self._map_path if self._map_path is not None else _bundled_map_path()

    @property
    def version(self) -> str:
        """Which prices this book holds, for records and reports.

        ``litellm-<version>+<sha256[:12] of the map file>`` for the bundled map,
        ``override:<path>+<sha256[:12]>`` for a map given by path or environment, and
        ``+overrides-<sha256[:12]>`` appended when price overrides are in effect.
        """
        return self._loaded().version

    def _version_without_loading(self) -> str:
        """:attr:`version`, computed from the file's bytes when the map is not loaded yet:
        parsing the whole map (tens of thousands of entries) only to print its version cost
        a report most of its run time."""
        state = self._state
        if state is not None:
            return state.version
        if self._map_path is None:
            path, bundled = default_map_source().path, True
        else:  # a chosen map was loaded (checked) by __init__; kept for completeness
            path, bundled = self._map_path, False
        try:
            raw = path.read_bytes()
        except OSError:
            return self.version  # the loader's error, with what to fix
        version = _map_version(str(path), raw, bundled=bundled)
        if self._overrides is not None:
            version = f"{version}+overrides-{self._overrides.digest}"
        return version

    @property
    def fallback_price(self) -> ModelPrice | None:
        return self._fallback

    # -------------------------------------------------------------------- lookup

    def lookup(self, model: str, provider: str | None = None) -> ModelPrice:
        """The price of ``model``, or the fallback price if one is configured.

        Use :meth:`resolve` to learn whether the fallback was used. Names resolve
        case-insensitively (a leading ``models/`` is dropped):

        * With ``provider`` (a LiteLLM id or a LangChain name such as ``google_genai``,
          ``amazon_bedrock``, ``azure_openai`` or ``openai-chat``): ``provider/model``, then
          ``model``, then each generic spelling of it, taking only entries of that provider
          family (all Bedrock ids count as one, so do Vertex AI's; Azure AI also takes
          Azure and OpenAI prices). If none matches, the maker's own price (``gpt-*`` ->
          OpenAI, ``claude-*`` -> Anthropic, ``gemini-*`` -> Google, ...), never another
          host's.
        * Without: the exact key; a known ``<provider>/`` prefix is read as ``provider=``;
          then each generic spelling, as a key or as the part after a host prefix
          (``grok-4.20`` -> ``xai/grok-4.20``) when a single host lists it or one of the
          hosts is the maker.

        Generic spellings strip a Bedrock ARN, route (``converse/``), region path,
        throughput suffix and cross-region prefix (``us.``); an OpenAI fine-tune suffix and
        then ``ft:``; a snapshot suffix (``-2024-08-06``, ``-20250929``, ``@20250929``); a
        Gemini ``-00N`` version.

        >>> PriceBook.default().lookup("claude-haiku-4-5", provider="anthropic").provider
        'anthropic'
        """
        return self.resolve(model, provider).price

    def resolve(self, model: str, provider: str | None = None) -> ResolvedPrice:
        """Like :meth:`lookup`, but also says whether the price is the fallback.

        >>> price, estimated = PriceBook.default().resolve("gpt-4o-mini")
        >>> estimated
        False
        """
        name, wanted = _check_names(model, provider)
        state = self._loaded()
        cache_key = (name.lower(), wanted)
        if cache_key in self._resolved:
            key = self._resolved[cache_key]
        else:  # two threads may both resolve a name; they store the same answer
            key = self._resolved[cache_key] = self._find(state, name, wanted)
        if key is None:
            if self._fallback is not None:
                return ResolvedPrice(self._fallback, True)
            suggestions = self._suggestions.get(cache_key)
            if suggestions is None:
                if len(self._suggestions) > 1024:  # bounded: names may come from user input
                    self._suggestions.clear()
                suggestions = self._suggestions[cache_key] = self._suggest(state, name, wanted)
            raise UnknownModelError(model, suggestions=list(suggestions))
        return ResolvedPrice(self._price_for(state, key), False)

    # -------------------------------------------------------------------- costing

    def cost(
        self,
        usage: TokenUsage | Mapping[str, Any],
        model: str,
        provider: str | None = None,
        *,
        batch: bool = False,
        at: datetime | None = None,
        service_tier: str | None = None,
    ) -> CostBreakdown:
        """Dollars of one call. ``usage`` is a :class:`TokenUsage` or a dict of its fields.

        ``batch=True`` prices a batch-API call; ``at`` is the billing moment for
        off-peak schedules (default now); ``service_tier`` the tier that served the call
        (``"flex"``, ``"priority"``). See :meth:`ModelPrice.cost` for the rules.

        >>> PriceBook.default().cost({"input_tokens": 1_000_000}, "gpt-4o").total
        2.5
        """
        return self.cost_with_flag(usage, model, provider, batch=batch, at=at, service_tier=service_tier).cost

    def cost_with_flag(
        self,
        usage: TokenUsage | Mapping[str, Any],
        model: str,
        provider: str | None = None,
        *,
        batch: bool = False,
        at: datetime | None = None,
        service_tier: str | None = None,
    ) -> PricedCost:
        """Like :meth:`cost`, plus whether the dollars are estimated: the fallback price was
        used, the map has no rates for ``service_tier`` (standard rates billed), or the usage
        has image output tokens and the map no image output rate (text rate billed).

        >>> book = PriceBook(fallback_price={"input_per_million": 1, "output_per_million": 1})
        >>> cost, estimated = book.cost_with_flag({"input_tokens": 10}, "no-such-model")
        >>> estimated
        True
        """
        price, estimated = self.resolve(model, provider)
        if service_tier is not None and not batch:
            price, priced = price.for_tier(service_tier)
            estimated = estimated or not priced
        tokens = coerce_usage(usage)
        if tokens.image_output_tokens and price.image_output_per_token is None:
            estimated = True
        return PricedCost(price.cost(tokens, batch=batch, at=at), estimated)

    # ------------------------------------------------------------------ internals

    def __repr__(self) -> str:
        overrides = f", overrides={len(self._overrides.entries)}" if self._overrides else ""
        return f"PriceBook(map={self._map_origin!r}{overrides})"

    def _loaded(self) -> _State:
        state = self._state
        if state is None:
            with self._lock:
                state = self._state
                if state is None:
                    state = self._state = self._build_state()
        return state

    def _build_state(self) -> _State:
        if self._map_path is None:
            source = default_map_source()
            base = _load_map(source.path, bundled=True, origin=source.origin)
        else:
            base = _load_map(self._map_path, bundled=False, origin=self._map_origin)
        providers: set[str] = set(PROVIDER_ALIASES.values())
        for entry in base.entries.values():
            provider = entry.get("litellm_provider")
            if isinstance(provider, str) and provider:
                providers.update((provider, provider_family(provider)))
        version = base.version
        state = _State(base=base, version=version)
        if self._overrides is not None:
            for override in self._overrides.entries:
                self._apply_override(state, override)
                provider = override.fields.get("litellm_provider")
                if isinstance(provider, str):
                    providers.update((provider, provider_family(provider)))
            state.version = f"{version}+overrides-{self._overrides.digest}"
        state.known_providers = frozenset(providers)
        return state

    def _apply_override(self, state: _State, override: OverrideEntry) -> None:
        assert self._overrides is not None
        target = _override_target(state, override.name)
        if target is None:
            if not override.has_input_and_output:
                missing = "input" if "input_cost_per_token" not in override.fields else "output"
                close = difflib.get_close_matches(
                    override.name.lower(), list(state.base.lower), n=3, cutoff=0.7
                )
                hint = (
                    f" or, if you meant a known model, use its price-map name "
                    f"({', '.join(repr(state.base.lower[c]) for c in close)})"
                    if close
                    else ""
                )
                raise self._overrides.error(
                    override.name,
                    f"{missing}_per_million",
                    "this model is not in the price map, so it needs both an input and an output price.",
                    f"add input_per_million and output_per_million (USD per million tokens){hint}.",
                )
            state.patched[override.name] = dict(override.fields)
            state.extra_lower[override.name.lower()] = override.name
            state.sources[override.name] = "override"
            return
        current = state.entry(target)
        if override.replace:
            merged = {key: current[key] for key in _DESCRIPTIVE if key in current}
            merged.update(override.fields)
        else:
            merged = {**current, **override.fields}
            if override.sets_base_rate:
                # A tier table or an off-peak schedule would shadow the flat price you set.
                merged.pop("tiered_pricing", None)
                merged.pop("off_peak_pricing", None)
            if _sets_standard_rate(override.fields):
                # The map's flex / priority rates go with the map's standard rates, not with
                # yours: tier calls bill at your rates (flagged estimated) unless the override
                # gives tier rates of its own.
                merged = {
                    key: value
                    for key, value in merged.items()
                    if key in override.fields or "cost" not in key or not key.endswith(_TIER_TAILS)
                }
        state.patched[target] = merged
        state.sources[target] = "override"

    def _price_for(self, state: _State, key: str) -> ModelPrice:
        price = self._prices.get(key)
        if price is None:
            price = price_from_entry(key, state.entry(key), source=state.sources.get(key, "litellm"))
            self._prices[key] = price
        return price

    def _find(self, state: _State, name: str, provider: str | None) -> str | None:
        if name.lower().startswith("models/"):  # Google GenAI reports "models/gemini-..."
            name = name[len("models/") :]
        if provider is None:
            return self._find_any(state, name)
        key = self._find_for_provider(state, name, provider)
        if key is not None:
            return key
        # No entry for this provider (an OpenAI-compatible endpoint, an Azure model the map
        # lists only for OpenAI, ...): use the maker's own price, never another host's.
        key = self._find_any(state, name)
        if key is not None and _is_makers_price(name, state.provider_of(key)):
            return key
        return None

    def _find_for_provider(self, state: _State, name: str, provider: str) -> str | None:
        family = provider_family(provider)
        head, slash, tail = name.partition("/")
        if slash and provider_family(canonical_provider(head)) == family:
            name = tail  # "azure/gpt-4o" with provider="azure"
        prefixes = dict.fromkeys((provider, family))  # "bedrock_converse" keys live under "bedrock/"
        variants = name_variants(name)
        for variant in variants:
            for candidate in (*(f"{prefix}/{variant}" for prefix in prefixes), variant):
                key = state.key_for(candidate)
                if key is not None and providers_compatible(provider, state.provider_of(key)):
                    return key
        for variant in variants:  # e.g. provider="bedrock" -> "bedrock/us-east-1/<model>"
            for key in state.bare(variant):
                if providers_compatible(provider, state.provider_of(key)):
                    return key
        return None

    def _find_any(self, state: _State, name: str) -> str | None:
        key = state.key_for(name)
        if key is not None:
            return key
        head, slash, tail = name.partition("/")
        if slash and canonical_provider(head) in state.known_providers:
            # "anthropic/claude-..." means provider="anthropic"; never a gateway's
            # "<gateway>/anthropic/claude-..." entry.
            return self._find(state, tail, canonical_provider(head))
        for variant in name_variants(name):
            key = state.key_for(variant) or _choose(state, state.bare(variant), variant)
            if key is not None:
                return key
        return None

    def _suggest(self, state: _State, name: str, provider: str | None) -> list[str]:
        suggestions: list[str] = []
        for variant in name_variants(name):
            suggestions.extend(state.bare(variant))  # ambiguous hosts first
        names = {key.lower(): key for key in state.all_keys()}
        queries = [name.lower()] + ([f"{provider}/{name}".lower()] if provider else [])
        for query in queries:
            suggestions.extend(
                names[m] for m in difflib.get_close_matches(query, list(names), n=5, cutoff=0.6)
            )
        return list(dict.fromkeys(suggestions))[:5]


def _choose(state: _State, keys: list[str], name: str) -> str | None:
    if len(keys) == 1:
        return keys[0]
    maker = first_party_provider(name.rsplit("/", 1)[-1])
    if keys and maker is not None:
        for key in keys:
            if providers_compatible(maker, state.provider_of(key)):
                return key
    return None  # several hosts, none of them the maker: ambiguous, ask for a provider


def _is_makers_price(name: str, entry_provider: str | None) -> bool:
    maker = first_party_provider(name.rsplit("/", 1)[-1])
    if maker is None or entry_provider is None:
        return entry_provider is None  # a private model override has no host
    if maker == "gemini" and provider_family(entry_provider) == "vertex_ai":
        return True  # Google lists Gemini under both of its APIs at the same prices
    return providers_compatible(maker, entry_provider)


def _sets_standard_rate(fields: Mapping[str, Any]) -> bool:
    """Whether override fields change a rate of realtime calls on the standard tier (input,
    output, cache, reasoning, long-context); batch rates and service-tier rates do not."""
    return any(
        (key in FLAT_RATE_KEYS or TIER_KEY.match(key) is not None) and not key.endswith("_batches")
        for key in fields
    )


def _override_target(state: _State, name: str) -> str | None:
    """The map key an override updates: its exact (case-insensitive) name, or
    ``provider/<key>`` for a key of that provider. Anything else is a new model."""
    key = state.base.lower.get(name.lower())
    if key is not None:
        return key
    head, slash, tail = name.partition("/")
    if slash:
        key = state.base.lower.get(tail.lower())
        entry_provider = state.base.entries[key].get("litellm_provider") if key else None
        if key is not None and providers_compatible(canonical_provider(head), entry_provider):
            return key
    return None


def _check_names(model: object, provider: object) -> tuple[str, str | None]:
    if not isinstance(model, str):
        raise ConfigurationError(
            f"model must be a model name string such as 'gpt-4o', got {model!r} ({type(model).__name__})."
        )
    name = model.strip()
    if not name:
        raise ConfigurationError("model must be a non-empty model name such as 'gpt-4o'.")
    if provider is None:
        return name, None
    if not isinstance(provider, str):
        raise ConfigurationError(
            f"provider must be a provider name string such as 'openai', got {provider!r} "
            f"({type(provider).__name__})."
        )
    return name, canonical_provider(provider) if provider.strip() else None


def _coerce_fallback(fallback: ModelPrice | Mapping[str, Any] | None) -> ModelPrice | None:
    if fallback is None:
        return None
    if isinstance(fallback, ModelPrice):
        return fallback.model_copy(update={"source": "fallback"})
    if isinstance(fallback, Mapping):
        overrides = load_overrides({"fallback": fallback}, origin="fallback_price")
        entry = overrides.entries[0]
        if not entry.has_input_and_output:
            raise overrides.error(
                "fallback",
                "input_per_million" if "input_cost_per_token" not in entry.fields else "output_per_million",
                "a fallback price needs both an input and an output price.",
                "add input_per_million and output_per_million (USD per million tokens).",
            )
        return price_from_entry("fallback", entry.fields, source="fallback")
    raise ConfigurationError(
        f"fallback_price must be a ModelPrice or a mapping of prices, got {type(fallback).__name__}."
    )
