"""How the names users (and LangChain) write map onto price-map keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

#: Provider names as LangChain (``ls_provider``), SDKs and people write them -> LiteLLM ids.
PROVIDER_ALIASES: Final = {
    "google_genai": "gemini",
    "google-genai": "gemini",
    "google": "gemini",
    "google_ai": "gemini",
    "googleai": "gemini",
    "google_vertexai": "vertex_ai",
    "google-vertexai": "vertex_ai",
    "vertexai": "vertex_ai",
    "vertex": "vertex_ai",
    "vertex_ai_beta": "vertex_ai",
    "google_anthropic_vertex": "vertex_ai",
    "amazon_bedrock": "bedrock",
    "aws_bedrock": "bedrock",
    "aws": "bedrock",
    "azure_openai": "azure",
    "azure-openai": "azure",
    "azureopenai": "azure",
    "mistralai": "mistral",
    "mistral_ai": "mistral",
    "fireworks": "fireworks_ai",
    "together": "together_ai",
    "togetherai": "together_ai",
    "x-ai": "xai",
    "x_ai": "xai",
    "nvidia": "nvidia_nim",
    "hf": "huggingface",
    # LangChain chat-model _llm_type values, once "chat" is stripped (see canonical_provider).
    "google-generative-ai": "gemini",
    "google_gemini": "gemini",
    "amazon_bedrock_converse": "bedrock",
    "amazon-bedrock": "bedrock",
}

_CHAT_AFFIX: Final = re.compile(r"^chat[-_]|[-_]chat$")


def canonical_provider(name: str) -> str:
    """The LiteLLM provider id for a provider name: ``"google_genai"`` -> ``"gemini"``.

    LangChain ``_llm_type`` values work too (``"openai-chat"`` -> ``"openai"``,
    ``"amazon_bedrock_chat"`` -> ``"bedrock"``). Unknown names are lower-cased and kept.

    >>> canonical_provider("azure-openai-chat"), canonical_provider("Anthropic")
    ('azure', 'anthropic')
    """
    key = name.strip().lower()
    if key in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key]
    key = _CHAT_AFFIX.sub("", key)
    return PROVIDER_ALIASES.get(key, key)


def provider_family(provider: str) -> str:
    """Group LiteLLM provider ids that share prices (``vertex_ai-anthropic_models`` -> ``vertex_ai``)."""
    if provider.startswith("vertex_ai"):
        return "vertex_ai"
    if provider.startswith("fireworks_ai"):
        return "fireworks_ai"
    if provider.startswith("bedrock"):
        return "bedrock"
    if provider in ("azure", "azure_text"):
        return "azure"
    if provider in ("openai", "text-completion-openai"):
        return "openai"
    if provider in ("cohere", "cohere_chat"):
        return "cohere"
    if provider in ("mistral", "codestral", "text-completion-codestral"):
        return "mistral"
    return provider


def providers_compatible(requested: str, entry_provider: str | None) -> bool:
    """Whether a price-map entry of ``entry_provider`` prices calls made through ``requested``.

    Same family, or LiteLLM's rule that Azure AI Foundry also serves Azure/OpenAI models.
    An entry without a provider (a private model override) matches every provider.
    """
    if entry_provider is None:
        return True
    if provider_family(requested) == provider_family(entry_provider):
        return True
    return requested == "azure_ai" and entry_provider in ("azure", "openai")


_FIRST_PARTY: Final = (
    (
        re.compile(r"^(gpt-|o\d|chatgpt-|text-embedding-|davinci|babbage|dall-e|whisper|tts-|omni-moderation|codex-)"),
        "openai",
    ),
    (re.compile(r"^claude-"), "anthropic"),
    (re.compile(r"^(gemini|gemma|learnlm)-"), "gemini"),
    (re.compile(r"^grok-"), "xai"),
    (re.compile(r"^deepseek-"), "deepseek"),
    (
        re.compile(r"^(mistral|codestral|magistral|ministral|devstral|pixtral|open-mistral|open-mixtral|voxtral)"),
        "mistral",
    ),
    (re.compile(r"^command"), "cohere"),
    (re.compile(r"^(kimi|moonshot)"), "moonshot"),
    (re.compile(r"^glm-"), "zai"),
    (re.compile(r"^minimax"), "minimax"),
)  # fmt: skip


def first_party_provider(model: str) -> str | None:
    """The vendor that makes ``model`` (``grok-4`` -> ``xai``), to break ties between hosts."""
    lowered = model.lower()
    return next((provider for pattern, provider in _FIRST_PARTY if pattern.match(lowered)), None)


_BEDROCK_ROUTES: Final = re.compile(
    r"^(?:converse|invoke|chat_completions|mantle|converse_like)/", re.IGNORECASE
)
_AWS_REGION_PATH: Final = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d/", re.IGNORECASE)
_THROUGHPUT: Final = re.compile(r":\d+k$", re.IGNORECASE)
_GEO_PREFIX: Final = re.compile(r"^(?:global|us|eu|apac|jp|au|us-gov)\.", re.IGNORECASE)
_FINETUNE: Final = re.compile(r"^(ft:[^:]+)(?::[^:]*){3}$", re.IGNORECASE)
_SNAPSHOT: Final = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|@latest|@default)$", re.IGNORECASE)
_GOOGLE_VERSION: Final = re.compile(r"^(gemini-.+)-\d{3}$", re.IGNORECASE)


def _arn(name: str) -> str:
    # arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-... -> the model id
    return name.rsplit("/", 1)[-1] if name.lower().startswith("arn:") else name


_STEPS: Final[tuple[Callable[[str], str], ...]] = (
    _arn,
    lambda name: _BEDROCK_ROUTES.sub("", name),
    lambda name: _AWS_REGION_PATH.sub("", name),
    lambda name: _THROUGHPUT.sub("", name),
    lambda name: _GEO_PREFIX.sub("", name),
    lambda name: _FINETUNE.sub(r"\1", name),
    lambda name: name[3:] if name.lower().startswith("ft:") else name,
    lambda name: _SNAPSHOT.sub("", name),
    lambda name: _GOOGLE_VERSION.sub(r"\1", name),
)


def name_variants(name: str) -> list[str]:
    """``name`` first, then ever more generic spellings of it.

    Strips, in order: a Bedrock ARN, routing prefix, region path, throughput suffix and
    cross-region prefix; an OpenAI fine-tune suffix and then ``ft:``; a dated snapshot
    suffix; a Gemini ``-00N`` version.

    >>> name_variants("us.anthropic.claude-haiku-4-5-20251001-v1:0")
    ['us.anthropic.claude-haiku-4-5-20251001-v1:0', 'anthropic.claude-haiku-4-5-20251001-v1:0']
    >>> name_variants("gpt-4o-2099-01-01")
    ['gpt-4o-2099-01-01', 'gpt-4o']
    """
    variants = [name]
    current = name
    for step in _STEPS:
        changed = step(current)
        if changed and changed != current:
            current = changed
            if current not in variants:
                variants.append(current)
    return variants
