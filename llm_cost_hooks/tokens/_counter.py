"""Offline token counting.

OpenAI models are counted exactly with tiktoken, from the BPE files shipped in this
package (``tokens/data/``, in tiktoken's cache format, copied from LiteLLM's package). They
are read as data: ``TIKTOKEN_CACHE_DIR`` is not touched, so a user's own tiktoken cache
keeps working and nothing is downloaded.

Other providers publish no offline tokenizer for their current models; their counts are
an approximation (``o200k_base``) and flagged ``estimated``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from .._errors import ConfigurationError, SettingsError, TokenizerUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import tiktoken

__all__ = [
    "TokenCount",
    "TokenCounter",
    "count_message_tokens",
    "count_tokens",
    "default_counter",
]

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# name -> (file name in tiktoken's cache format = sha1 of the blob URL, sha256, pattern,
# special tokens). Same constants as tiktoken_ext.openai_public.
_ENCODINGS: dict[str, tuple[str, str, str, dict[str, int]]] = {
    "cl100k_base": (
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "p50k_base": (
        "ec7223a39ce59f226a68acc30dc1af2788490e15",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        _R50K_PAT,
        {_ENDOFTEXT: 50256},
    ),
}

# The encoding used to approximate models without an offline tokenizer.
_APPROX_ENCODING = "o200k_base"

# Providers whose models tiktoken counts exactly.
_OPENAI_PREFIXES = ("openai/", "azure/", "azure_ai/openai/", "text-completion-openai/")


class TokenCount(BaseModel):
    """A token count and whether it is exact.

    >>> TokenCounter().count_text("hello world", "gpt-4o")
    TokenCount(tokens=2, estimated=False, encoding='o200k_base')
    """

    model_config = ConfigDict(frozen=True)

    tokens: int
    estimated: bool
    encoding: str


_PACKAGED_DIR = Path(__file__).resolve().parent / "data"


def _bundled_dir() -> Path:
    override = os.environ.get("LLM_COST_HOOKS_TOKENIZER_DIR")
    if override:
        return Path(override)
    return _PACKAGED_DIR


def _parse_bpe(contents: bytes, source: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise TokenizerUnavailableError(f"Malformed line in {source}: {line[:60]!r}") from exc
    return ranks


class TokenCounter:
    """Counts tokens of text and chat messages for a model, offline.

    ``source="bundled"`` (default) reads the BPE files shipped in this package;
    ``source="tiktoken"`` uses ``tiktoken.get_encoding`` as is (its own cache, or a
    download when online). Encodings load once, lazily, on first use.

    >>> counter = TokenCounter()
    >>> counter.count_text("hello world", "gpt-4o")
    TokenCount(tokens=2, estimated=False, encoding='o200k_base')
    """

    def __init__(
        self,
        source: Literal["bundled", "tiktoken"] = "bundled",
        *,
        bundled_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if source not in ("bundled", "tiktoken"):
            raise ConfigurationError(f"source must be 'bundled' or 'tiktoken', got {source!r}.")
        self.source = source
        self._dir = Path(bundled_dir) if bundled_dir is not None else None
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._model_cache: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()

    # -- encodings -----------------------------------------------------------------
    def get_encoding(self, name: str) -> tiktoken.Encoding:
        enc = self._encodings.get(name)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._encodings.get(name)
            if enc is None:
                enc = self._load(name)
                self._encodings[name] = enc
        return enc

    def _load(self, name: str) -> tiktoken.Encoding:
        import tiktoken

        if self.source == "tiktoken":
            return tiktoken.get_encoding(name)
        if name not in _ENCODINGS:
            raise ConfigurationError(
                f"Encoding {name!r} is not bundled; bundled: {sorted(_ENCODINGS)}. "
                "Use TokenCounter(source='tiktoken') for other encodings."
            )
        file_name, sha256, pattern, special = _ENCODINGS[name]
        directory = self._dir or _bundled_dir()
        path = directory / file_name
        try:
            contents = path.read_bytes()
        except OSError as exc:
            where = ""
            if self._dir is None and os.environ.get("LLM_COST_HOOKS_TOKENIZER_DIR"):
                where = (
                    " (the folder comes from LLM_COST_HOOKS_TOKENIZER_DIR; point it at a folder "
                    f"holding {file_name}, or unset it to use the bundled files)"
                )
            raise TokenizerUnavailableError(
                f"Tokenizer file for {name} not found at {path}: {exc}{where}"
            ) from exc
        if hashlib.sha256(contents).hexdigest() != sha256:
            raise TokenizerUnavailableError(
                f"Tokenizer file {path} does not match the published sha256 of {name}."
            )
        return tiktoken.Encoding(
            name=name,
            pat_str=pattern,
            mergeable_ranks=_parse_bpe(contents, str(path)),
            special_tokens=special,
        )

    # -- models --------------------------------------------------------------------
    def encoding_name_for(self, model: str) -> tuple[str, bool]:
        """Return ``(encoding name, exact)`` for a model name."""
        if not isinstance(model, str) or not model:
            raise ConfigurationError(f"model must be a non-empty string, got {model!r}.")
        cached = self._model_cache.get(model)
        if cached is not None:
            return cached
        result = self._resolve(model)
        self._model_cache[model] = result
        return result

    @staticmethod
    def _resolve(model: str) -> tuple[str, bool]:
        from tiktoken.model import encoding_name_for_model

        name = model
        lowered = model.lower()
        is_openai_route = False
        for prefix in _OPENAI_PREFIXES:
            if lowered.startswith(prefix):
                name = model[len(prefix) :]
                is_openai_route = True
                break
        if "/" in name and not is_openai_route:
            return _APPROX_ENCODING, False
        try:
            encoding = encoding_name_for_model(name)
        except KeyError:
            return _APPROX_ENCODING, False
        if encoding not in _ENCODINGS and encoding != "r50k_base":
            # e.g. o200k_harmony (gpt-oss): same ranks as o200k_base for ordinary text.
            return ("o200k_base", encoding.startswith("o200k"))
        if encoding == "r50k_base":
            # Same merges as p50k_base for text without the few extra whitespace tokens.
            return "p50k_base", False
        return encoding, True

    # -- counting ------------------------------------------------------------------
    def count_text(self, text: str, model: str) -> TokenCount:
        """Count the tokens of a plain string as the model would."""
        if not isinstance(text, str):
            raise ConfigurationError(f"text must be a string, got {type(text).__name__}.")
        name, exact = self.encoding_name_for(model)
        enc = self.get_encoding(name)
        tokens = len(enc.encode(text, disallowed_special=()))
        return TokenCount(tokens=tokens, estimated=not exact, encoding=name)

    def count_messages(
        self,
        messages: Sequence[Mapping[str, Any]],
        model: str,
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> TokenCount:
        """Count the prompt tokens of OpenAI-format chat messages.

        Follows OpenAI's published recipe: 3 tokens of framing per message, 1 more for a
        ``name``, and 3 that prime the reply. Tool calls and tool definitions are counted
        from their JSON; OpenAI does not publish that recipe, so a request with tools is
        flagged ``estimated``.
        """
        name, exact = self.encoding_name_for(model)
        enc = self.get_encoding(name)
        per_message, per_name = 3, 1
        total = 3
        estimated = not exact or bool(tools)
        for message in messages:
            if not isinstance(message, Mapping):
                raise ConfigurationError(
                    "messages must be mappings with 'role' and 'content' (OpenAI format); "
                    f"got {type(message).__name__}."
                )
            total += per_message
            for key, value in message.items():
                if value is None:
                    continue
                if key == "content":
                    text, approx = _content_text(value)
                    estimated = estimated or approx
                    total += len(enc.encode(text, disallowed_special=()))
                    if approx:  # non-text parts: images count as the provider bills them
                        total += _images_tokens(value, model)
                elif key == "name":
                    total += per_name + len(enc.encode(str(value), disallowed_special=()))
                elif key == "role":
                    total += len(enc.encode(str(value), disallowed_special=()))
                elif key in ("tool_calls", "function_call"):
                    estimated = True
                    total += len(enc.encode(json.dumps(value, default=str), disallowed_special=()))
                elif key == "tool_call_id":
                    total += len(enc.encode(str(value), disallowed_special=()))
        if tools:
            total += len(enc.encode(json.dumps(list(tools), default=str), disallowed_special=()))
        return TokenCount(tokens=total, estimated=estimated, encoding=name)


def _content_text(content: Any) -> tuple[str, bool]:
    """Text of a message content; ``True`` when non-text parts were approximated."""
    if isinstance(content, str):
        return content, False
    if isinstance(content, Iterable):
        parts: list[str] = []
        approx = False
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
                else:
                    # Images, audio, files: token cost depends on provider-side resizing.
                    approx = True
        return "".join(parts), approx
    return str(content), True


# Images follow OpenAI's published recipe: 85 tokens, plus 170 per 512-px tile at high detail
# after fitting in 2048 px and scaling the short side to 768. A size not readable from the
# data (a URL, an unknown format) counts as the largest high-detail image (768 x 2048:
# 1,445 tokens), so a spend guard's reserve never takes a picture for free. Claude models
# use Anthropic's: width x height / 750, at most (and when the size is unknown) 1,600.
_IMAGE_BASE, _IMAGE_TILE, _IMAGE_UNKNOWN = 85, 170, (768, 2048)
_HEAD_CHARS = 87_384  # base64 of the first 64 KiB: where a JPEG's size is


def _images_tokens(content: Any, model: str) -> int:
    if isinstance(content, str) or not isinstance(content, Iterable):
        return 0
    return sum(
        _image_tokens(p, "claude" in model.lower())
        for p in content
        if isinstance(p, Mapping) and p.get("type") in ("image_url", "image")
    )


def _image_tokens(part: Mapping[str, Any], anthropic: bool = False) -> int:
    """Prompt tokens of one image part (OpenAI ``image_url``; LangChain / Anthropic ``image``)."""
    ref = part.get("image_url")
    source = part.get("source")
    detail = (ref.get("detail") if isinstance(ref, Mapping) else None) or part.get("detail")
    if detail == "low" and not anthropic:
        return _IMAGE_BASE
    url = ref.get("url") if isinstance(ref, Mapping) else ref if isinstance(ref, str) else part.get("url")
    data = (
        part.get("base64")
        or part.get("data")
        or (source.get("data") if isinstance(source, Mapping) else None)
    )
    if isinstance(url, str) and url.startswith("data:") and "," in url:
        start = url.index(",") + 1
        data = url[start : start + _HEAD_CHARS]
    size = _image_size(data) if isinstance(data, str) else None
    if anthropic:  # larger images are scaled down to about 1,600 tokens
        return min(1600, math.ceil(size[0] * size[1] / 750)) if size else 1600
    width, height = size or _IMAGE_UNKNOWN
    fit = min(1.0, 2048 / max(width, height))
    scale = fit * min(1.0, 768 / (min(width, height) * fit))
    return _IMAGE_BASE + _IMAGE_TILE * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def _image_size(data: str) -> tuple[int, int] | None:
    """(width, height) from a base64 PNG, GIF or JPEG header; ``None`` when not readable."""
    try:
        chars = data[:_HEAD_CHARS]
        head = base64.b64decode(chars + "=" * (-len(chars) % 4))
    except ValueError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
    elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
    elif head[:2] == b"\xff\xd8":  # JPEG: the first start-of-frame segment holds the size
        i, w, h = 2, 0, 0
        while i + 9 <= len(head) and head[i] == 0xFF:
            marker, length = head[i + 1], struct.unpack(">H", head[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", head[i + 5 : i + 9])
                break
            i += 2 + length
    else:
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None


_default_counter: TokenCounter | None = None
_default_lock = threading.Lock()


def default_counter() -> TokenCounter:
    """The process-wide counter (source from ``LLM_COST_HOOKS_TOKENIZER_SOURCE``).

    >>> default_counter() is default_counter()
    True
    """
    global _default_counter
    if _default_counter is None:
        with _default_lock:
            if _default_counter is None:
                source = os.environ.get("LLM_COST_HOOKS_TOKENIZER_SOURCE", "bundled")
                if source not in ("bundled", "tiktoken"):
                    raise SettingsError(
                        f"LLM_COST_HOOKS_TOKENIZER_SOURCE={source!r} is not valid. "
                        "Expected one of 'bundled', 'tiktoken' (or unset it).",
                        variable="LLM_COST_HOOKS_TOKENIZER_SOURCE",
                    )
                _default_counter = TokenCounter(source)  # type: ignore[arg-type]  # checked above
    return _default_counter


def count_tokens(text: str, model: str = "gpt-4o") -> int:
    """Tokens of ``text`` for ``model`` (see :class:`TokenCounter`).

    >>> count_tokens("hello world", "gpt-4o")
    2
    """
    return default_counter().count_text(text, model).tokens


def count_message_tokens(
    messages: Sequence[Mapping[str, Any]],
    model: str = "gpt-4o",
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Prompt tokens of OpenAI-format chat messages for ``model``.

    The count includes OpenAI's per-message framing, so it is more than the text's tokens:

    >>> count_message_tokens([{"role": "user", "content": "hello world"}], "gpt-4o")
    9
    """
    return default_counter().count_messages(messages, model, tools=tools).tokens
