"""Attribute and metric names: OpenTelemetry GenAI semantic conventions plus ours.

Two vintages of the GenAI conventions are in use, and ``OTEL_SEMCONV_STABILITY_OPT_IN``
chooses between them, as the conventions' transition plan asks of instrumentations:

* ``legacy`` (default, the env var does not contain ``gen_ai_latest_experimental``):
  the names other OpenTelemetry GenAI instrumentations emit by default -
  ``gen_ai.system``, the ``gen_ai.client.token.usage`` histogram (with
  ``gen_ai.token.type``) and ``gen_ai.client.operation.duration``. Cache and reasoning
  token counts, which that vintage did not name, use the names published in
  semantic-conventions v1.37-v1.41 (``gen_ai.usage.cache_read.input_tokens``,
  ``gen_ai.usage.cache_creation.input_tokens``, ``gen_ai.usage.reasoning.output_tokens``).
* ``latest`` (``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``): the
  ``open-telemetry/semantic-conventions-genai`` repository - ``gen_ai.provider.name``,
  ``gen_ai.usage.cache_write.input_tokens`` (renamed from ``cache_creation``),
  ``gen_ai.prompt.version``, and the metrics ``gen_ai.client.inference.duration``,
  ``gen_ai.client.inference.operation.{input,output}_tokens`` (histograms) and
  ``gen_ai.client.inference.usage.*`` (counters, with ``gen_ai.token.modality``), which
  replace ``gen_ai.client.token.usage`` and, for inference, ``gen_ai.client.operation.duration``.

Names that are the same in both (operation, request/response, input/output tokens,
``error.type``, content attributes) are plain constants below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

SemconvMode = Literal["legacy", "latest"]

OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
OPT_IN_VALUE = "gen_ai_latest_experimental"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# -- names shared by both vintages ------------------------------------------------------
OPERATION = "gen_ai.operation.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
TOOL_NAME = "gen_ai.tool.name"
AGENT_NAME = "gen_ai.agent.name"
TOKEN_TYPE = "gen_ai.token.type"
TOKEN_MODALITY = "gen_ai.token.modality"
ERROR_TYPE = "error.type"

# No standard cost attribute exists yet: the names proposed upstream, plus the
# ``gen_ai.usage.cost`` that several backends already read.
COST_AMOUNT = "gen_ai.usage.cost.amount"
COST_CURRENCY = "gen_ai.usage.cost.currency"
COST_SOURCE = "gen_ai.usage.cost.source"
COST = "gen_ai.usage.cost"
COST_SOURCE_VALUE = "llm_cost_hooks.price_book"

# -- our namespace ----------------------------------------------------------------------
NS = "llm_cost_hooks"
TENANT = f"{NS}.tenant"
USER = f"{NS}.user_hash"
FEATURE = f"{NS}.feature"
ROUTE = f"{NS}.route"
PROMPT_VERSION = f"{NS}.prompt_version"
TASK_ID = f"{NS}.task_id"
RUN_KIND = f"{NS}.run.kind"
ATTEMPT = f"{NS}.attempt"
CACHE_STATUS = f"{NS}.cache.status"
SAVED_USD = f"{NS}.cost.saved_usd"
COST_INPUT_USD = f"{NS}.cost.input_usd"
COST_CACHE_READ_USD = f"{NS}.cost.cache_read_usd"
COST_CACHE_WRITE_USD = f"{NS}.cost.cache_write_usd"
COST_OUTPUT_USD = f"{NS}.cost.output_usd"
COST_REASONING_USD = f"{NS}.cost.reasoning_usd"
PRICE_MAP_VERSION = f"{NS}.price_map.version"
TOKENS_ESTIMATED = f"{NS}.tokens_estimated"
PRICE_ESTIMATED = f"{NS}.price_estimated"
BUDGET_PREFIX = f"{NS}.budget."
TAG_PREFIX = f"{NS}.tag."
TASK_COST = f"{NS}.task.cost_usd"
TASK_SAVED = f"{NS}.task.saved_usd"
TASK_CALLS = f"{NS}.task.calls"
TASK_FAILED_CALLS = f"{NS}.task.failed_calls"
TASK_INPUT_TOKENS = f"{NS}.task.input_tokens"
TASK_OUTPUT_TOKENS = f"{NS}.task.output_tokens"
TASK_SUCCESS = f"{NS}.task.success"

METRIC_COST = f"{NS}.cost"
METRIC_SAVED = f"{NS}.cost.saved"

# Bucket boundaries recommended by the conventions (ExplicitBucketBoundaries advisory).
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]

# LangChain ``ls_provider`` / LiteLLM provider -> the conventions' well-known values.
PROVIDER_NAMES = {
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}


@dataclass(frozen=True)
class Names:
    """The names that differ between the two vintages."""

    mode: SemconvMode
    provider: str
    cache_write: str
    prompt_version: str | None
    duration_metric: str


LEGACY = Names(
    mode="legacy",
    provider="gen_ai.system",
    cache_write="gen_ai.usage.cache_creation.input_tokens",
    prompt_version=None,
    duration_metric="gen_ai.client.operation.duration",
)
LATEST = Names(
    mode="latest",
    provider="gen_ai.provider.name",
    cache_write="gen_ai.usage.cache_write.input_tokens",
    prompt_version="gen_ai.prompt.version",
    duration_metric="gen_ai.client.inference.duration",
)


def semconv_mode_from_env() -> SemconvMode:
    """``latest`` when ``OTEL_SEMCONV_STABILITY_OPT_IN`` lists ``gen_ai_latest_experimental``."""
    raw = os.environ.get(OPT_IN_ENV, "")
    values = {v.strip().lower() for v in raw.split(",")}
    return "latest" if OPT_IN_VALUE in values else "legacy"


def names_for(mode: SemconvMode | None) -> Names:
    if mode is None:
        mode = semconv_mode_from_env()
    if mode == "latest":
        return LATEST
    if mode == "legacy":
        return LEGACY
    from .._errors import ConfigurationError

    raise ConfigurationError(f"semconv must be 'legacy', 'latest' or None (from {OPT_IN_ENV}), got {mode!r}.")


_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event"}


def capture_content_from_env() -> bool | None:
    """The content switch from ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.

    Accepts the legacy booleans and the newer ``SPAN_ONLY`` / ``SPAN_AND_EVENT`` modes
    (content on spans); ``EVENT_ONLY`` / ``NO_CONTENT`` / false mean no content on spans
    (this package emits no log events). None when the variable is unset.
    """
    raw = os.environ.get(CAPTURE_ENV)
    if raw is None or not raw.strip():
        return None
    return raw.strip().lower() in _TRUE


def provider_name(provider: str | None) -> str | None:
    if not provider:
        return None
    return PROVIDER_NAMES.get(provider.lower(), provider)
