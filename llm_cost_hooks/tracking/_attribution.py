"""Attribution: who and what a call is for, from defaults and run metadata."""

from __future__ import annotations

import difflib
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .. import _shutdown
from .._errors import ConfigurationError, LLMCostHooksError
from .._records import storable_text
from .._tenancy import UnusableTenant, absent, tenant_text
from ._runs import Attribution

__all__ = ["ATTR_KEY_SET", "AttributionResolver", "SaltSource", "check_defaults", "hash_user"]

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


_warned_default_keys: set[str] = set()


def check_defaults(defaults: object) -> None:
    """``defaults=`` of a handler or logger: a mapping of metadata keys. Anything else is a
    :class:`ConfigurationError`; a key no record reads (``tenant`` misspelt) is warned about
    once, naming the closest key, rather than left to drop the attribution silently."""
    if defaults is None:
        return
    if not isinstance(defaults, Mapping):
        raise ConfigurationError(
            "defaults must be a mapping of metadata keys, e.g. defaults={'tenant_id': 'acme', "
            f"'feature': 'support'}}; got {type(defaults).__name__}."
        )
    for key in defaults:
        if key not in ATTR_KEY_SET and str(key) not in _warned_default_keys:
            _warned_default_keys.add(str(key))
            close = difflib.get_close_matches(str(key), sorted(ATTR_KEY_SET), n=1)
            logger.warning(
                "llm-cost-hooks: defaults key %r is not read by cost records and is ignored%s; "
                "the keys read are %s.",
                key,
                f" (did you mean {close[0]!r}?)" if close else "",
                ", ".join(sorted(ATTR_KEY_SET)),
            )


def hash_user(user: str, salt: str) -> str:
    return hashlib.sha256((salt + user).encode()).hexdigest()[:16]


# While the ledger's salt cannot be read: how long a call waits for it, and how long until
# it is asked again.
_SALT_WAIT_SECONDS = 5.0
_SALT_RETRY_SECONDS = 30.0
# What was said about a ledger's salt (by its file, else its repr): once per process.
_said_of_ledger: dict[str, set[str]] = {}


class SaltSource:
    """The salt of a ledger's user hashes, read from the ledger once (see
    ``Ledger._user_salt``). A remote ledger is asked in the background as soon as this is
    made; a call waits at most ``_SALT_WAIT_SECONDS`` for it. Until it is known the user
    id is left out of records (one warning), and it is asked again every
    ``_SALT_RETRY_SECONDS``. The salt is never logged."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self.value: str | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._retry_at = 0.0
        self._failing = False
        if getattr(ledger, "_salt_is_remote", False):
            _shutdown.after_fork_in_child(self, SaltSource._after_fork_in_child)
            threading.Thread(target=self._ask, name="llm-cost-hooks-user-salt", daemon=True).start()
        else:
            self._done.set()

    def _after_fork_in_child(self) -> None:
        # The asking thread (and a lock it held) did not come along: the child asks itself.
        self._lock = threading.Lock()
        self._done.set()

    def _ask(self) -> None:
        try:
            self.get()
        finally:
            self._done.set()

    def get(self) -> str | None:
        if self.value is not None:
            return self.value
        if not self._done.is_set() and threading.current_thread().name != "llm-cost-hooks-user-salt":
            self._done.wait(_SALT_WAIT_SECONDS)
            if self.value is not None:
                return self.value
        with self._lock:
            if self.value is not None:
                return self.value
            now = time.monotonic()
            if now < self._retry_at:
                return None
            try:
                salt: str | None = self._ledger._user_salt()
            except Exception as exc:
                self._retry_at = now + _SALT_RETRY_SECONDS
                if not self._failing:
                    self._failing = True
                    logger.warning(
                        "llm-cost-hooks: cannot read the ledger's salt for user ids (%s); records "
                        "leave the user out until it can be read (asked again every %.0f s). Set "
                        "LLM_COST_HOOKS_USER_HASH_SALT, the same in every writer, to not depend on it.",
                        exc if isinstance(exc, LLMCostHooksError) else type(exc).__name__,
                        _SALT_RETRY_SECONDS,
                    )
                return None
            where = str(getattr(self._ledger, "path", None) or repr(self._ledger))
            said = _said_of_ledger.setdefault(where, set())
            if salt is None:
                salt = ""
                if "none" not in said:
                    said.add("none")
                    logger.warning(
                        "llm-cost-hooks: the ledger %s keeps no salt for user ids: they are hashed "
                        "without one, and anyone holding the records can test candidate ids. Set "
                        "LLM_COST_HOOKS_USER_HASH_SALT to a secret, the same in every writer.",
                        type(self._ledger).__name__,
                    )
            elif salt == "" and "unsalted" not in said:
                said.add("unsalted")
                logger.warning(
                    "llm-cost-hooks: this ledger already holds user hashes made without a salt; new "
                    "ones are made the same way, so a user keeps one hash. To salt them, set "
                    "LLM_COST_HOOKS_USER_HASH_SALT to a secret in every writer (users' hashes change "
                    "from then on) or start a new ledger."
                )
            if self._failing:
                self._failing = False
                logger.warning(
                    "llm-cost-hooks: the ledger's salt for user ids is read; users are recorded again."
                )
            self.value = salt
            return salt


class AttributionResolver:
    """Resolves metadata over a base attribution. A string, an integer or a UUID (a
    database's id) is read as its text; other values raise when ``strict``, else are
    logged and skipped. The tenant is read as everywhere else (``_tenancy.tenant_text``):
    an unusable one is skipped (the default applies), as the spend guard and caches do.
    ``user_hash_salt`` is the salt, or a :class:`SaltSource` reading the ledger's."""

    def __init__(self, user_hash_salt: str | SaltSource, strict: bool) -> None:
        self._salt = user_hash_salt
        self.strict = strict
        self._memo: dict[tuple[Any, ...], tuple[Attribution, Attribution]] = {}

    @property
    def salt(self) -> str | None:
        """The salt of user hashes; None while the ledger's cannot be read."""
        salt = self._salt
        return salt if isinstance(salt, str) else salt.get()

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
                            salt = self.salt
                            value = None if salt is None else hash_user(value, salt)
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
        if (key[8] is not None or key[9] is not None) and self.salt is None:
            return attribution  # the user was left out: not for later calls
        if len(self._memo) >= _ATTR_MEMO_MAX:
            self._memo.clear()
        # ``base`` is kept in the value so its id cannot be reused while the entry lives.
        self._memo[key] = (base, attribution)
        return attribution
