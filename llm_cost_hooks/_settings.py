"""Configuration, read from ``LLM_COST_HOOKS_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Process-wide settings. Each field is also an env var: ``LLM_COST_HOOKS_<NAME>``.

    >>> Settings(ledger="memory://").ledger
    'memory://'
    """

    model_config = SettingsConfigDict(env_prefix="LLM_COST_HOOKS_", extra="ignore")

    ledger: str = Field(
        "sqlite:///llm_costs.db",
        description=(
            "Where records go: sqlite:///path.db, postgresql://user@host/db (the postgres extra), "
            "jsonl:///path.jsonl or memory://."
        ),
    )
    price_map: str | None = Field(
        None, description="Path of a LiteLLM-format price map JSON to use instead of the bundled one."
    )
    price_overrides: str | None = Field(
        None, description="Path of a YAML/JSON file of price overrides and private models."
    )
    tokenizer_source: Literal["bundled", "tiktoken"] = Field(
        "bundled",
        description="'bundled' reads LiteLLM's shipped BPE files offline; 'tiktoken' uses tiktoken's own cache/download.",
    )
    default_tenant: str | None = Field(None, description="Tenant recorded when a call names none.")
    user_hash_salt: str = Field("", description="Salt for hashing user ids in records.")
    capture_content: bool = Field(
        False, description="Put prompt and answer text in spans and logs (off by default)."
    )
    task_failure_policy: Literal["any_error", "root_error"] = Field(
        "any_error", description="How reports decide that a task failed."
    )
    tokenizer_dir: str | None = Field(
        None, description="Folder of tiktoken BPE files (named like tiktoken's cache) instead of LiteLLM's bundled ones."
    )
    cache_path: str = Field(
        "llm_cache.db", description="File of the embedded semantic cache when SemanticCache() gets no path."
    )
    embedding_model_path: str | None = Field(
        None, description="An all-MiniLM-L6-v2 int8 model.onnx to use instead of the one from the embed extra."
    )
    data_dir: str | None = Field(
        None,
        description="Data folder the demo replays (default: the subset shipped in the package); the "
        "notebooks and benchmarks read the full sets from it (default: ../shared/data).",
    )


_settings: Settings | None = None


def get_settings(reload: bool = False) -> Settings:
    """The settings from the environment (read once, or again with ``reload=True``)."""
    global _settings
    if _settings is None or reload:
        _settings = Settings()
    return _settings
