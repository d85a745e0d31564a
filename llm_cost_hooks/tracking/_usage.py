"""Token usage in the provider (OpenAI-shaped) formats, read into a TokenUsage.

Framework-free and duck-typed: reads plain dicts (a batch output file, ``llm_output``)
and pydantic objects (LiteLLM's ``Usage``) alike, and the ``usage_metadata`` of chat
messages (LangChain's standard field). The adapters build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from .._records import Counts, TokenUsage, with_service_tier

_setattr = object.__setattr__

__all__ = [
    "counts_from_metadata",
    "fields_of",
    "model_name_of",
    "replayed_by_cache",
    "split_writes",
    "usage_from_llm_output",
    "usage_from_metadata",
    "usage_from_openai",
    "usage_of_message",
    "usage_of_response",
]


def fields_of(obj: Any) -> Mapping[str, Any]:
    """The fields of a mapping or a (pydantic) object, without attribute look-ups:
    a missing name on a LiteLLM pydantic model goes through its slow ``__getattr__``."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    fields = getattr(obj, "__dict__", None)
    if not isinstance(fields, dict):
        return {}
    extra = getattr(obj, "__pydantic_extra__", None)
    return {**fields, **extra} if extra else fields


def usage_from_openai(usage: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from an OpenAI-shaped usage (a dict or a LiteLLM ``Usage``).

    Reads chat-completions fields (``prompt_tokens``, ``completion_tokens``,
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``),
    Anthropic-style ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` and
    Responses-API fields (``input_tokens``, ``output_tokens``, ``*_tokens_details``), and
    Anthropic's own usage, whose ``input_tokens`` leaves the cache reads and writes out.
    Returns None when there is no usage at all. Broken counts are repaired and flagged
    (``usage_invalid``), never a lost record.

    >>> usage_from_openai({"prompt_tokens": 1200, "completion_tokens": 30,
    ...     "prompt_tokens_details": {"cached_tokens": 1000}}).cache_read_tokens
    1000
    """
    if usage is None:
        return None
    u = fields_of(usage)
    prompt = u.get("prompt_tokens")
    if prompt is None:
        prompt = u.get("input_tokens")
    completion = u.get("completion_tokens")
    if completion is None:
        completion = u.get("output_tokens")
    if prompt is None and completion is None:
        return None
    pdetails = fields_of(u.get("prompt_tokens_details") or u.get("input_tokens_details"))
    cdetails = fields_of(u.get("completion_tokens_details") or u.get("output_tokens_details"))
    # LiteLLM normalises both spellings; prefer the OpenAI one, fall back to Anthropic's.
    read = pdetails.get("cached_tokens") or u.get("cache_read_input_tokens") or 0
    write = u.get("cache_creation_input_tokens") or pdetails.get("cache_creation_tokens") or 0
    # Anthropic's split of the writes by cache lifetime (LiteLLM: in prompt_tokens_details).
    lifetimes = fields_of(pdetails.get("cache_creation_token_details") or u.get("cache_creation"))
    hour = lifetimes.get("ephemeral_1h_input_tokens") or 0
    if (
        u.get("prompt_tokens") is None
        and not pdetails
        and (u.get("cache_read_input_tokens") or u.get("cache_creation_input_tokens"))
        and isinstance(prompt, int)
        and isinstance(read, int)
        and isinstance(write, int)
    ):
        # Anthropic's own usage: input_tokens leaves out the cache reads and writes.
        prompt += read + write
    # Counted inside input/output (the OpenTelemetry convention, as providers report them).
    return TokenUsage.from_reported(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=cdetails.get("reasoning_tokens") or 0,
        cache_write_1h_tokens=hour,
        audio_input_tokens=pdetails.get("audio_tokens") or 0,
        audio_output_tokens=cdetails.get("audio_tokens") or 0,
        # Generated images (LiteLLM's Gemini usage: candidatesTokensDetails, modality IMAGE).
        image_output_tokens=cdetails.get("image_tokens") or 0,
    )


# -- the chat-message usage shape (``usage_metadata``: input/output tokens and details) --
def usage_from_metadata(um: Mapping[str, Any]) -> TokenUsage | None:
    """A :class:`TokenUsage` from a message's ``usage_metadata`` (``input_tokens``,
    ``input_token_details.cache_read``, ``output_token_details.reasoning``, ...); None
    when it is not a mapping at all.

    >>> usage_from_metadata({"input_tokens": 12, "output_tokens": 3,
    ...     "input_token_details": {"cache_read": 8}}).cache_read_tokens
    8
    """
    counts = counts_from_metadata(um)
    return TokenUsage._counted(counts) if isinstance(counts, tuple) else counts


def counts_from_metadata(um: Mapping[str, Any]) -> Counts | TokenUsage | None:
    """:func:`usage_from_metadata`'s counts as a plain tuple (``Counts``) when they need no
    repair, which the tracker takes without building a :class:`TokenUsage`; else the
    repaired, flagged usage. None when ``um`` is not a mapping or lacks the input or the
    output count (a broken integration): read as no usage reported, so the caller counts
    the tokens and flags them estimated."""
    # try costs nothing until it raises (3.11+): the usual dict pays no type checks.
    try:
        details = um.get("input_token_details")
        i, o = um.get("input_tokens"), um.get("output_tokens")
    except AttributeError:
        return None
    r = w = z = h = a = b = 0
    try:
        if details:
            r, w, a = (
                details.get("cache_read") or 0,
                details.get("cache_creation") or 0,
                details.get("audio") or 0,
            )
            # No cache reads may be a service tier's usage (its counts under other keys).
            if not r and ("flex" in details or "priority" in details):
                return _tier_usage(um, details, i, o)
            # The lifetime split comes with cache_read and cache_creation (more than 2 keys).
            if len(details) > 2 and (
                "ephemeral_1h_input_tokens" in details or "ephemeral_5m_input_tokens" in details
            ):
                h = details.get("ephemeral_1h_input_tokens") or 0
                if not w:
                    w = _ttl_writes(details)
        if details := um.get("output_token_details"):
            z, b = details.get("reasoning") or 0, details.get("audio") or 0
    except AttributeError:
        r, w, z = _odd_details(um)
    if h or a or b:
        # 1-hour writes and audio bill at rates of their own: a usage that carries them.
        return TokenUsage.from_reported(i, o, r, w, z, h, a, b) if i is not None and o is not None else None
    # What plain_counts() checks, inline (a call frame less per model call).
    if (
        type(i) is int
        and type(o) is int
        and type(r) is int
        and type(w) is int
        and type(z) is int
        and 0 <= z <= o
        and r >= 0
        and w >= 0
        and r + w <= i
    ):
        return i, o, r, w, z
    if i is None or o is None:
        # A count left out is not zero tokens: read as no usage reported, so the caller
        # counts the tokens and flags them estimated.
        return None
    return TokenUsage.from_reported(i, o, r, w, z)


def _tier_usage(um: Mapping[str, Any], details: Mapping[str, Any], i: Any, o: Any) -> TokenUsage | None:
    """langchain-openai's usage of a call served on the ``flex`` or ``priority`` tier: the
    tier's uncached tokens under ``input_token_details[tier]`` and its cache reads, cache
    writes and reasoning under ``<tier>_cache_read``, ``<tier>_cache_creation`` and
    ``output_token_details["<tier>_reasoning"]``."""
    if i is None or o is None:
        return None
    tier = "flex" if "flex" in details else "priority"
    out = um.get("output_token_details") or {}
    usage = TokenUsage.from_reported(
        i,
        o,
        details.get(f"{tier}_cache_read") or 0,
        details.get(f"{tier}_cache_creation") or details.get("cache_creation") or 0,
        out.get(f"{tier}_reasoning") or out.get("reasoning") or 0,
        0,
        details.get("audio") or 0,
        out.get("audio") or 0,
    )
    return with_service_tier(usage, tier)


def usage_of_response(response: Any, requested_tier: Any = None) -> TokenUsage | None:
    """The usage of an OpenAI-shaped response (a dict or a LiteLLM ``ModelResponse``) with
    the service tier that served it: the response's ``service_tier`` (or its usage's), as
    LiteLLM's cost calculator reads it; ``requested_tier`` (the request's
    ``service_tier``) when the response names no billable tier."""
    if isinstance(response, Mapping):
        raw, served = response.get("usage"), response.get("service_tier")
    else:
        # A LiteLLM ModelResponse keeps both among its pydantic extras: read there, without
        # copying its fields (fields_of) or a missing name's slow __getattr__.
        extra = getattr(response, "__pydantic_extra__", None) or {}
        raw = extra["usage"] if "usage" in extra else getattr(response, "usage", None)
        served = extra.get("service_tier") or getattr(response, "__dict__", {}).get("service_tier")
    usage = usage_from_openai(raw)
    if usage is None:
        return None
    if not isinstance(served, str):
        if type(raw) is dict:
            served = raw.get("service_tier")
        else:  # a LiteLLM Usage: its fields, then its extras (no ABC check, no copy)
            served = getattr(raw, "__dict__", {}).get("service_tier") or (
                getattr(raw, "__pydantic_extra__", None) or {}
            ).get("service_tier")
    tier = served.lower() if isinstance(served, str) and served else None
    if tier in ("default", "standard"):
        return usage
    if tier is None or tier == "auto":
        tier = requested_tier.lower() if isinstance(requested_tier, str) else None
    # Any other tier is kept: one the price map has no rates for is flagged, not hidden.
    return with_service_tier(usage, tier) if tier and tier != "auto" else usage


def split_writes(counts: Counts, um: Mapping[str, Any], run: Any) -> Counts | TokenUsage:
    """The usage of ``counts`` whose cache writes came without their split by lifetime
    (langchain-anthropic's streams: built from ``message_delta``, which has no split; the
    split in ``message_start`` is dropped before any callback sees it), read from the
    cache breakpoints of the run's request (``cache_control`` on its messages' content
    blocks): all asking for 1 hour, the writes are 1-hour writes; 1-hour and 5-minute
    markers mixed, the split is unknown: the writes are priced at the 5-minute rate (the
    least they cost) and the record is flagged ``price_estimated``."""
    ttls = _marker_ttls(um, run)
    if ttls == "1h":
        return TokenUsage.from_reported(*counts, counts[3])
    if ttls == "mixed":
        usage = TokenUsage.from_reported(*counts)
        _setattr(
            usage, "__pydantic_private__", {**(usage.__pydantic_private__ or {}), "write_ttls_unknown": True}
        )
        return usage
    return counts


def _marker_ttls(um: Mapping[str, Any], run: Any) -> str | None:
    """``"1h"`` when every cache breakpoint of the run's request asks for 1 hour,
    ``"mixed"`` when 1-hour and 5-minute ones are mixed, else None (the usage splits the
    writes itself, or all are 5-minute writes)."""
    details = um.get("input_token_details") or {}
    if "ephemeral_1h_input_tokens" in details or "ephemeral_5m_input_tokens" in details:
        return None
    messages = getattr(run, "messages", None)
    if isinstance(messages, partial):  # the LangChain handler's deferred conversion
        messages = messages.args[0] if messages.args else None
    hour = short = False
    for message in messages or ():
        content = (
            message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
        )
        if not isinstance(content, list):
            continue
        for block in content:
            control = block.get("cache_control") if isinstance(block, Mapping) else None
            if control is None:
                continue
            if isinstance(control, Mapping) and control.get("ttl") == "1h":
                hour = True
            else:
                short = True
    return ("mixed" if short else "1h") if hour else None


def _ttl_writes(details: Mapping[str, Any]) -> Any:
    """The cache writes of a usage that splits them by cache lifetime: langchain-anthropic
    then reports ``cache_creation`` 0 and the writes in ``ephemeral_5m_input_tokens`` and
    ``ephemeral_1h_input_tokens`` (both inside ``input_tokens``)."""
    five, hour = details.get("ephemeral_5m_input_tokens") or 0, details.get("ephemeral_1h_input_tokens") or 0
    # An odd value is passed on as the count, so it is repaired and flagged, not lost.
    return five + hour if type(five) is int and type(hour) is int else (five or hour)


def _odd_details(um: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """Token details of which one is not a mapping: that one is kept as the count's value,
    so it is repaired to 0 and flagged (``usage_invalid``) instead of losing the record."""
    r: Any = 0
    w: Any = 0
    z: Any = 0
    if details := um.get("input_token_details"):
        if isinstance(details, Mapping):
            r, w = details.get("cache_read") or 0, details.get("cache_creation") or 0
            if not w and ("ephemeral_5m_input_tokens" in details or "ephemeral_1h_input_tokens" in details):
                w = _ttl_writes(details)
        else:
            r = details
    if details := um.get("output_token_details"):
        z = (details.get("reasoning") or 0) if isinstance(details, Mapping) else details
    return r, w, z


def usage_from_llm_output(llm_output: Mapping[str, Any]) -> TokenUsage | None:
    """``llm_output["token_usage"]`` (or ``["usage"]``; OpenAI's field names) as a
    :class:`TokenUsage`, or None when there is none."""
    token_usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(token_usage, Mapping) or not token_usage:
        return None
    return usage_from_openai(token_usage) or TokenUsage()


def replayed_by_cache(um: Mapping[str, Any] | None) -> bool:
    """A framework cache that replays the stored usage adds ``total_cost: 0`` to it."""
    try:
        return um is not None and "total_cost" in um and not um["total_cost"]
    except (TypeError, KeyError, IndexError):  # not a mapping (a broken integration)
        return False


def usage_of_message(message: Any) -> TokenUsage | None:
    """The usage a message reports in ``usage_metadata``, or None when it reports none."""
    um = getattr(message, "usage_metadata", None)
    return usage_from_metadata(um) if um else None


def model_name_of(model: Any) -> tuple[str, str | None]:
    """(model name, provider) of a chat model, as its LangSmith parameters report them."""
    try:
        params = model._get_ls_params()
    except Exception:  # a model whose params need call-time arguments
        params = {}
    name = params.get("ls_model_name") or getattr(model, "model_name", None) or getattr(model, "model", None)
    return (str(name) if name else type(model).__name__), params.get("ls_provider")
