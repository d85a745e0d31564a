"""Configuration, read from ``LLM_COST_HOOKS_*`` environment variables."""

from __future__ import annotations

import difflib
import logging
import os
import typing
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import SettingsError

__all__ = ["Settings", "get_settings"]

logger = logging.getLogger("llm_cost_hooks")

# Variables with this prefix that are read outside Settings, so not reported as misspelled:
# the spend journal and the LiteLLM proxy callback (every PROXY_* name).
_OTHER_VARIABLES = frozenset({"SPEND_JOURNAL"})
_OTHER_PREFIXES = ("PROXY_",)
_PREFIX = "LLM_COST_HOOKS_"


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
    user_hash_salt: str | None = Field(
        None,
        description=(
            "Salt for hashing user ids in records. Unset (the default): a random salt kept with "
            "the ledger, made by its first writer and read by every other; an empty string hashes "
            "without a salt."
        ),
    )
    cache_hmac_key: str | None = Field(
        None,
        description=(
            "Key that signs the Redis cache's entries (HMAC-SHA256); entries without a valid "
            "signature are misses. Give every process sharing the cache the same key."
        ),
        repr=False,
    )
    cache_require_tenant: Literal["auto"] | bool = Field(
        "auto",
        description=(
            "Whether a cache call that names no tenant may use the cache (CacheConfig.require_tenant "
            "when that is unset): 'auto' bypasses it once the cache has seen a tenant, true always, "
            "false never (tenant-less calls share one partition)."
        ),
    )
    capture_content: bool = Field(
        False, description="Put prompt and answer text in spans and logs (off by default)."
    )
    task_failure_policy: Literal["any_error", "root_error"] = Field(
        "any_error", description="How reports decide that a task failed."
    )
    tokenizer_dir: str | None = Field(
        None,
        description="Folder of tiktoken BPE files (named like tiktoken's cache) instead of LiteLLM's bundled ones.",
    )
    cache_path: str = Field(
        "llm_cache.db", description="File of the embedded semantic cache when SemanticCache() gets no path."
    )
    embedding_model_path: str | None = Field(
        None,
        description="An all-MiniLM-L6-v2 int8 model.onnx to use instead of the one from the embed extra.",
    )
    data_dir: str | None = Field(
        None,
        description="Data folder the demo replays (default: the subset shipped in the package); the "
        "notebooks and benchmarks read the full sets from it (default: ../shared/data).",
    )
    exit_timeout: float = Field(
        5.0,
        ge=0,
        description="Seconds the process may spend at exit writing queued records and exporting "
        "telemetry, all together; what is not written by then goes to the dead-letter file.",
    )

    ledger_read_timeout: float = Field(
        60.0,
        ge=0,
        description="Seconds reports, records() and `llm-cost ledger migrate` wait for a PostgreSQL "
        "ledger to connect and for each answer before giving up with a LedgerError (0: no limit). "
        "A migration's own statements are not limited by it.",
    )
    handle_sigterm: bool = Field(
        True,
        description="Turn SIGTERM into a normal exit (when nothing else handles it) so queued "
        "records are written before the process ends.",
    )
    cache_dir: str | None = Field(
        None,
        description="Where `llm-cost prices update` saves the price map it fetches "
        "(default: ~/.cache/llm-cost-hooks).",
    )
    state_dir: str | None = Field(
        None,
        description="Where a ledger without a file (PostgreSQL) keeps the counts of records lost "
        "by processes killed outright and its default dead-letter file, one folder per ledger "
        "(default: $XDG_STATE_HOME/llm-cost-hooks or ~/.local/state/llm-cost-hooks).",
    )

    @field_validator("ledger")
    @classmethod
    def _ledger_not_blank(cls, value: str) -> str:
        # An empty value would open a SQLite file named '.' and fail far from its cause.
        if not value.strip():
            raise ValueError("the ledger URL is empty")
        return value

    @field_validator("default_tenant")
    @classmethod
    def _empty_tenant_is_unset(cls, value: str | None) -> str | None:
        # `LLM_COST_HOOKS_DEFAULT_TENANT=` (a .env line left blank) names no tenant: an empty
        # tenant would be recorded and charged as a tenant called "".
        return value if value else None

    @field_validator("cache_path")
    @classmethod
    def _empty_cache_path_is_unset(cls, value: str) -> str:
        # An empty path would give SQLite a temporary file: a cache lost at every restart.
        return value if value.strip() else "llm_cache.db"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _settings_error(exc, values) from None


def _expected(name: str) -> str:
    """The form a setting takes, said for a person editing an environment variable."""
    annotation = Settings.model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if annotation is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if annotation is float:
        return "a number of seconds, 0 or more (e.g. 5 or 2.5)"
    if annotation is int:
        return "a whole number"
    if name == "cache_require_tenant":
        return "'auto', true or false (also 1/0, yes/no, on/off)"
    if name == "ledger":
        return "a ledger URL: sqlite:///path.db, jsonl:///path.jsonl, postgresql://... or memory:// (or unset the variable)"
    if args and typing.get_origin(args[0]) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(args[0]))
    return "a string"


def _settings_error(exc: ValidationError, values: dict[str, Any]) -> SettingsError:
    lines = []
    variable = ""
    named: set[str] = set()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name in named:
            continue  # a union field reports each member's error: say once what it takes
        named.add(name)
        env = f"LLM_COST_HOOKS_{name.upper()}"
        where = f"Settings({name}=...)" if name in values else env
        variable = variable or (name if name in values else env)
        fix = f" Expected {_expected(name)}." if name in Settings.model_fields else ""
        lines.append(f"{where}={error.get('input')!r} is not valid: {error['msg']}.{fix}")
    return SettingsError(" ".join(lines), variable=variable)


_settings: Settings | None = None


def get_settings(reload: bool = False) -> Settings:
    """The settings from the environment (read once, or again with ``reload=True``).

    >>> import os
    >>> os.environ["LLM_COST_HOOKS_LEDGER"] = "sqlite:///costs.db"
    >>> get_settings(reload=True).ledger
    'sqlite:///costs.db'
    >>> del os.environ["LLM_COST_HOOKS_LEDGER"]
    >>> get_settings(reload=True).ledger
    'sqlite:///llm_costs.db'
    """
    global _settings
    if _settings is None or reload:
        _settings = Settings()
        _warn_unknown_variables()
    return _settings


_warned: set[str] = set()


def _warn_unknown_variables() -> None:
    """Log once per name an ``LLM_COST_HOOKS_*`` variable no setting reads (a typo would
    otherwise be silently ignored), with the closest known name."""
    known = {name.upper() for name in Settings.model_fields} | _OTHER_VARIABLES
    for variable in os.environ:
        upper = variable.upper()
        name = upper[len(_PREFIX) :]
        if (
            not upper.startswith(_PREFIX)
            or name in known
            or name.startswith(_OTHER_PREFIXES)
            or variable in _warned
        ):
            continue
        _warned.add(variable)
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" Did you mean {_PREFIX}{close[0]}?" if close else ""
        logger.warning(
            "llm-cost-hooks: the environment variable %s is not a setting and is ignored.%s "
            "The settings are listed in docs/configuration.md.",
            variable,
            hint,
        )
