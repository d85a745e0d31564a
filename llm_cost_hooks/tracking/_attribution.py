"""Attribution: who and what a call is for, from defaults and run metadata."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError, LLMCostHooksError
from .._records import storable_text
from .._tenancy import UnusableTenant, absent, tenant_text
from ._runs import Attribution

__all__ = ["ATTR_KEY_SET", "AttributionResolver", "hash_user"]

logger = logging.getLogger("llm_cost_hooks")

# Metadata keys read for attribution, with accepted aliases (first wins).
_ATTR_KEYS: dict[str, tuple[str, ...]] = {
    "tenant": ("tenant_id", "tenant"),
    "user": ("user_id", "user"),
    "feature": ("feature",),
    "route": ("route",),
    "prompt_version": ("prompt_version",),
    "task_id": ("task_id",),
}
ATTR_KEY_SET = frozenset(k for keys in _ATTR_KEYS.values() for k in keys) | {"cost_tags"}
# Attribution memo cap (the memo is keyed by every key of ATTR_KEY_SET: see cached()).
_ATTR_MEMO_MAX = 4096


def hash_user(user: str, salt: str) -> str:
    return hashlib.sha256((salt + user).encode()).hexdigest()[:16]


class AttributionResolver:
    """Resolves metadata over a base attribution. A string, an integer or a UUID (a
    database's id) is read as its text; other values raise when ``strict``, else are
    logged and skipped. The tenant is read as everywhere else (``_tenancy.tenant_text``):
    an unusable one is skipped (the default applies), as the spend guard and caches do."""

    def __init__(self, user_hash_salt: str, strict: bool) -> None:
        self.salt = user_hash_salt
        self.strict = strict
        self._memo: dict[tuple[Any, ...], tuple[Attribution, Attribution]] = {}

    def bad_input(self, error: LLMCostHooksError) -> None:
        if self.strict:
            raise error
        logger.warning("llm-cost-hooks: %s", error)

    def resolve(
        self, metadata: Mapping[str, Any], defaults: Mapping[str, Any], base: Attribution
    ) -> Attribution:
        values: dict[str, Any] = {
            "tenant": base.tenant,
            "user": base.user,
            "feature": base.feature,
            "route": base.route,
            "prompt_version": base.prompt_version,
            "task_id": base.task_id,
        }
        tags = dict(base.tags)
        for source in (defaults, metadata):
            if not source:
                continue
            for attr, keys in _ATTR_KEYS.items():
                for key in keys:
                    if key in source and source[key] is not None:
                        value = source[key]
                        if attr == "tenant":
                            if absent(value):
                                values[attr] = ""
                                break
                            try:
                                values[attr] = tenant_text(value, key)
                            except UnusableTenant:
                                if self.strict:
                                    raise
                            break
                        if isinstance(value, bool) or not isinstance(value, (str, int, uuid.UUID)):
                            self.bad_input(
                                ConfigurationError(
                                    f"metadata[{key!r}] must be a string, got "
                                    f"{type(value).__name__} {value!r}; pass e.g. "
                                    f"metadata={{{key!r}: 'acme'}}."
                                )
                            )
                            break
                        value = storable_text(str(value))
                        if attr == "user":
                            value = hash_user(value, self.salt)
                        values[attr] = value
                        break
            extra = source.get("cost_tags")
            if extra is not None:
                if not isinstance(extra, Mapping):
                    self.bad_input(
                        ConfigurationError(
                            f"metadata['cost_tags'] must be a dict of str to str, got {type(extra).__name__}."
                        )
                    )
                else:
                    tags.update({storable_text(str(k)): storable_text(str(v)) for k, v in extra.items()})
        return Attribution(tags=tags, **values)

    def cached(self, metadata: Mapping[str, Any], base: Attribution) -> Attribution:
        """The attribution of ``metadata`` over ``base``, memoised: requests repeat the same
        few tenants and features, and resolving one (hashing the user id) costs ~5 us."""
        get = metadata.get
        # Every key resolve reads (ATTR_KEY_SET), spelled out: cheaper than map().
        key = (
            id(base),
            get("cost_tags"),
            get("feature"),
            get("prompt_version"),
            get("route"),
            get("task_id"),
            get("tenant"),
            get("tenant_id"),
            get("user"),
            get("user_id"),
        )
        try:
            hit = self._memo.get(key)
        except TypeError:  # an unhashable value (a cost_tags dict)
            return self.resolve(metadata, {}, base)
        # Entries hold only plain strings (below), so a hit is one of them.
        if hit is not None and hit[0] is base:
            return hit[1]
        for value in key[1:]:
            # Only plain strings are memoised: other values (cost_tags dicts, ints that
            # compare equal to bools, bad types that must be reported) resolve every time.
            if value is not None and type(value) is not str:
                return self.resolve(metadata, {}, base)
        attribution = self.resolve(metadata, {}, base)
        if len(self._memo) >= _ATTR_MEMO_MAX:
            self._memo.clear()
        # ``base`` is kept in the value so its id cannot be reused while the entry lives.
        self._memo[key] = (base, attribution)
        return attribution
