"""Reading and validating price overrides (private models, negotiated prices).

An override file is a YAML or JSON mapping of model name -> price fields::

    # prices.yaml
    my-private-llm:                  # a model the price map does not know
      provider: vllm                 # optional
      input_per_million: 0.20        # USD per million tokens
      output_per_million: 0.60
    gpt-4o:                          # a price-map model: only the given fields change
      input_per_million: 2.0
    claude-sonnet-4-5:
      replace: true                  # drop everything the map says about this model
      input_cost_per_token: 3.0e-6   # LiteLLM spelling works too (USD per token)
      output_cost_per_token: 1.5e-5

The whole mapping may also sit under a top-level ``models:`` key.

Price fields, per model:

* Friendly names, in USD per million tokens: ``input_per_million``,
  ``output_per_million``, ``cache_read_per_million``, ``cache_write_per_million``,
  ``reasoning_per_million``, ``batch_input_per_million``, ``batch_output_per_million``,
  ``batch_cache_read_per_million``, ``batch_cache_write_per_million`` and long-context
  tiers such as ``input_per_million_above_200k_tokens`` or
  ``batch_output_per_million_above_272k_tokens``. ``_per_token`` instead of
  ``_per_million`` gives USD per token.
* LiteLLM's names, in USD per token: ``input_cost_per_token``,
  ``output_cost_per_token``, ``cache_read_input_token_cost``,
  ``cache_creation_input_token_cost``, ``output_cost_per_reasoning_token``, their
  ``_batches`` variants and ``..._above_<N>k_tokens[_batches]`` tiers.
* ``provider`` (or ``litellm_provider``), ``mode``, ``max_input_tokens``,
  ``max_output_tokens``, ``max_tokens``, ``supports_prompt_caching``; ``replace``.
* Descriptive LiteLLM keys (``supports_*``, ``source``, ...) and LiteLLM's keys for other
  usage (audio, images, service tiers, 1-hour cache writes) are accepted, so a copied
  LiteLLM entry loads; those the price book reads (``output_cost_per_image_token``,
  ``input_cost_per_token_flex``, ``output_cost_per_token_priority``, ...) price that usage.

Numbers may be strings (YAML reads ``3e-6`` as a string). Negative, non-numeric or
unknown fields raise :class:`~llm_cost_hooks.PriceOverrideError` naming the source, the
model and the field.

Which entry an override changes: a name that is a price-map key (case-insensitively,
optionally behind its provider, e.g. ``anthropic/claude-haiku-4-5``) updates that entry,
key by key; setting its input or output price also drops the map's tier table and
off-peak schedule, which would otherwise shadow the price you set. Setting any standard
rate (not only batch rates) drops the map's service-tier (``*_flex``, ``*_priority``) rates
of that model too: tier calls bill at your rates, flagged estimated, unless you give tier
rates as well. ``replace: true``
drops all of the map's prices for it. Any other name adds a new model, which needs both
an input and an output price; it matches every provider unless it names one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import PriceOverrideError
from ._keys import (
    BATCH_TIER_KEY,
    DESCRIPTIVE_KEYS,
    DESCRIPTIVE_PREFIXES,
    FLAT_RATE_KEYS,
    FRIENDLY_KEY,
    FRIENDLY_KINDS,
    META_KEYS,
    TIER_KEY,
    UNMODELLED_KEY,
)

__all__ = ["OverrideEntry", "OverrideSet", "load_overrides"]

INPUT_KEY = "input_cost_per_token"
OUTPUT_KEY = "output_cost_per_token"
_UNSUPPORTED = {
    "tiered_pricing": "tier tables are not supported in overrides; give flat prices and "
    "'<kind>_per_million_above_<N>k_tokens' tiers instead.",
    "off_peak_pricing": "off-peak schedules are not supported in overrides; give the flat prices you pay.",
}
_SUGGESTABLE = sorted(
    {f"{kind}_per_million" for kind in FRIENDLY_KINDS}
    | {f"batch_{kind}_per_million" for kind in FRIENDLY_KINDS if kind != "reasoning"}
    | FLAT_RATE_KEYS
    | META_KEYS
    | {"replace"}
)


@dataclass(frozen=True)
class OverrideEntry:
    """One validated override: LiteLLM-format ``fields`` for model ``name``."""

    name: str
    fields: dict[str, Any]
    replace: bool = False

    @property
    def has_input_and_output(self) -> bool:
        return INPUT_KEY in self.fields and OUTPUT_KEY in self.fields

    @property
    def sets_base_rate(self) -> bool:
        return INPUT_KEY in self.fields or OUTPUT_KEY in self.fields


@dataclass(frozen=True)
class OverrideSet:
    """All overrides from one source, plus where they came from (for error messages)."""

    origin: str
    entries: tuple[OverrideEntry, ...] = ()
    digest: str = field(default="")
    source_text: str | None = field(default=None, repr=False, compare=False)

    def error(self, model: str, field_name: str | None, problem: str, fix: str) -> PriceOverrideError:
        return _error(self.origin, model, field_name, problem, fix, text=self.source_text)


def _error(
    origin: str,
    model: str | None,
    field_name: str | None,
    problem: str,
    fix: str,
    *,
    text: str | None = None,
) -> PriceOverrideError:
    where = origin
    line = _locate(text, model, field_name) if text is not None and model is not None else None
    if line is not None:
        where += f", line {line}"
    if model is not None:
        where += f", model {model!r}"
    if field_name is not None:
        where += f", field {field_name!r}"
    error = PriceOverrideError(f"{where}: {problem} Fix: {fix}")
    error.model, error.field_name = model, field_name  # type: ignore[attr-defined]
    return error


def _locate(text: str, model: str, field_name: str | None) -> int | None:
    """The 1-based line of ``model``'s key in a YAML/JSON file (of ``field_name`` under it
    when given), found by reading the keys as written; None when not found."""

    def key_at(line: str, key: str) -> bool:
        stripped = line.strip().lstrip("{,").strip()
        return any(
            stripped.startswith(f"{q}{key}{q}:") or stripped.startswith(f"{q}{key}{q} :")
            for q in ("", '"', "'")
        )

    lines = text.splitlines()
    for i, line in enumerate(lines):
        if key_at(line, model) or (f'"{model}"' in line and ":" in line.split(f'"{model}"', 1)[1][:3]):
            if field_name is None:
                return i + 1
            for j in range(i, len(lines)):
                if j > i and key_at(lines[j], model):
                    break
                if f"{field_name}" in lines[j] and (j > i or lines[j].count(":") > 1):
                    return j + 1
            return i + 1
    return None


def load_overrides(
    source: Mapping[str, Any] | str | os.PathLike[str],
    *,
    env_var: str | None = None,
    origin: str | None = None,
) -> OverrideSet:
    """Validate overrides given as a mapping or as a path to a YAML/JSON file.

    ``env_var`` names the environment variable the path came from and ``origin`` replaces
    the source description, both for error messages.

    >>> load_overrides({"m": {"input_per_million": 1, "output_per_million": 2}}).entries[0].fields
    {'input_cost_per_token': 1e-06, 'output_cost_per_token': 2e-06}
    """
    text: str | None = None
    if isinstance(source, Mapping):
        origin = origin or "price overrides (dict)"
        data: object = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        origin = origin or f"price overrides file {str(path)!r}" + (f" (from {env_var})" if env_var else "")
        text = _read_text(path, origin)
        data = _parse(path, text, origin)
    else:
        raise _error(
            "price overrides",
            None,
            None,
            f"expected a mapping or a path to a YAML/JSON file, got {type(source).__name__}.",
            "pass a file path or a dict like "
            "{'my-model': {'input_per_million': 1.0, 'output_per_million': 2.0}}.",
        )

    if data is None:  # an empty file
        data = {}
    if isinstance(data, Mapping) and set(data) == {"models"} and isinstance(data["models"], Mapping):
        data = data["models"]
    if not isinstance(data, Mapping):
        raise _error(
            origin,
            None,
            None,
            f"the top level must be a mapping of model name -> prices, got {type(data).__name__}.",
            "write 'my-model: {input_per_million: 1.0, output_per_million: 2.0}' (one model per key).",
        )

    try:
        entries = tuple(_normalize_entry(origin, name, raw) for name, raw in data.items())
    except PriceOverrideError as exc:
        line = (
            _locate(text, str(getattr(exc, "model", "")), getattr(exc, "field_name", None)) if text else None
        )
        if line is None:
            raise
        raise PriceOverrideError(str(exc).replace(f"{origin}, ", f"{origin}, line {line}, ", 1)) from None
    digest_source = json.dumps(
        [[entry.name, entry.fields, entry.replace] for entry in entries], sort_keys=True, default=str
    )
    return OverrideSet(
        origin=origin,
        entries=entries,
        digest=hashlib.sha256(digest_source.encode()).hexdigest()[:12],
        source_text=text,
    )


def _read_text(path: Path, origin: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(origin, None, None, "the file does not exist.", "check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(
            origin, None, None, f"cannot read the file ({exc}).", "check the path and permissions."
        ) from None


def _parse(path: Path, text: str, origin: str) -> object:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(
                origin,
                None,
                None,
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                "fix the JSON syntax.",
            ) from None
    import yaml  # only needed for YAML files

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _error(origin, None, None, f"invalid YAML{where}: {problem}.", "fix the YAML syntax.") from None


def _normalize_entry(origin: str, name: object, raw: object) -> OverrideEntry:
    if not isinstance(name, str) or not name.strip():
        raise _error(
            origin,
            str(name),
            None,
            "model names must be non-empty strings.",
            "quote the model name (e.g. '\"123\": {...}').",
        )
    name = name.strip()
    if not isinstance(raw, Mapping):
        raise _error(
            origin,
            name,
            None,
            f"expected a mapping of price fields, got {raw!r}.",
            "write e.g. {input_per_million: 1.0, output_per_million: 2.0}.",
        )

    fields: dict[str, Any] = {}
    spelled: dict[str, str] = {}  # LiteLLM key -> the key the user wrote, to report duplicates
    replace = False

    def put(target: str, value: Any, written: str) -> None:
        if target in fields:
            raise _error(
                origin,
                name,
                written,
                f"sets the same price as {spelled[target]!r}.",
                f"keep only one of {spelled[target]!r} and {written!r}.",
            )
        fields[target] = value
        spelled[target] = written

    for key, value in raw.items():
        if not isinstance(key, str):
            raise _error(
                origin,
                name,
                str(key),
                "field names must be strings.",
                "use a field name such as 'input_per_million'.",
            )
        friendly = FRIENDLY_KEY.match(key)
        if key == "replace":
            if not isinstance(value, bool):
                raise _error(
                    origin,
                    name,
                    key,
                    f"must be true or false, got {value!r}.",
                    "write 'replace: true' or remove it.",
                )
            replace = value
        elif friendly is not None:
            batch, kind, unit, threshold = friendly.groups()
            if kind == "reasoning" and (batch or threshold):
                raise _error(
                    origin,
                    name,
                    key,
                    "reasoning tokens have one price, without batch or long-context variants.",
                    "use 'reasoning_per_million'.",
                )
            target = FRIENDLY_KINDS[kind]
            if threshold:
                target += f"_above_{threshold}_tokens"
            if batch:
                target += "_batches"
            rate = _price(origin, name, key, value, per_million=unit == "million")
            put(target, rate, key)
        elif key in FLAT_RATE_KEYS or TIER_KEY.match(key) or BATCH_TIER_KEY.match(key):
            put(key, _price(origin, name, key, value, per_million=False), key)
        elif key in ("provider", "litellm_provider"):
            if not isinstance(value, str) or not value.strip():
                raise _error(
                    origin,
                    name,
                    key,
                    f"must be a provider name, got {value!r}.",
                    "write e.g. 'provider: openai' or remove it.",
                )
            put("litellm_provider", value.strip(), key)
        elif key == "mode":
            if not isinstance(value, str):
                raise _error(
                    origin, name, key, f"must be a string, got {value!r}.", "write e.g. 'mode: chat'."
                )
            put(key, value, key)
        elif key in ("max_tokens", "max_input_tokens", "max_output_tokens"):
            put(key, _count(origin, name, key, value), key)
        elif key == "supports_prompt_caching":
            if not isinstance(value, bool):
                raise _error(
                    origin, name, key, f"must be true or false, got {value!r}.", "write true or false."
                )
            put(key, value, key)
        elif key in _UNSUPPORTED:
            raise _error(origin, name, key, _UNSUPPORTED[key], f"remove {key!r}.")
        elif key in DESCRIPTIVE_KEYS or key.startswith(DESCRIPTIVE_PREFIXES) or UNMODELLED_KEY.match(key):
            # Accepted so a copied LiteLLM entry loads; not used for pricing text tokens.
            fields[key] = value
        else:
            close = difflib.get_close_matches(key, _SUGGESTABLE, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise _error(
                origin,
                name,
                key,
                "unknown field.",
                f"{hint}Use input_per_million, output_per_million, cache_read_per_million, "
                "cache_write_per_million, reasoning_per_million, batch_input_per_million, "
                "batch_output_per_million, '<kind>_per_million_above_<N>k_tokens', or the "
                "LiteLLM key names (input_cost_per_token, ...).",
            )

    if replace and not (INPUT_KEY in fields and OUTPUT_KEY in fields):
        missing = "input" if INPUT_KEY not in fields else "output"
        raise _error(
            origin,
            name,
            f"{missing}_per_million",
            f"'replace: true' drops the map's prices, so an {missing} price is required.",
            f"add {missing}_per_million (USD per million tokens).",
        )
    return OverrideEntry(name=name, fields=fields, replace=replace)


def _price(origin: str, model: str, key: str, value: object, *, per_million: bool) -> float:
    unit = "USD per million tokens (e.g. 3.0)" if per_million else "USD per token (e.g. 3.0e-6)"
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        # YAML 1.1 reads '3e-6' (no dot) as a string; accept numeric strings.
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _error(
            origin, model, key, f"{value!r} is not a number.", f"give a non-negative number in {unit}."
        )
    if not math.isfinite(number):
        raise _error(
            origin, model, key, f"{value!r} is not a finite number.", f"give a non-negative number in {unit}."
        )
    if number < 0:
        raise _error(
            origin, model, key, f"price {value!r} is negative.", f"give a non-negative number in {unit}."
        )
    return number / 1_000_000 if per_million else number


def _count(origin: str, model: str, key: str, value: object) -> int:
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
        and value == int(value)
    ):
        return int(value)
    raise _error(
        origin,
        model,
        key,
        f"must be a non-negative whole number, got {value!r}.",
        "give a token count such as 128000.",
    )
