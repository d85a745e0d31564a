"""Lazy re-exports for package ``__init__`` modules (PEP 562).

Public names load on first use, so importing a package stays cheap, and a name whose
optional dependency is missing raises :class:`MissingExtraError` naming the extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["install_lazy_exports", "require"]


def install_lazy_exports(
    namespace: dict[str, Any],
    exports: Mapping[str, str],
    *,
    missing_extras: Sequence[tuple[str, str, str]] = (),
) -> None:
    """Give the module whose globals are ``namespace`` a ``__getattr__`` and ``__dir__``
    that resolve ``exports`` (public name -> relative module, e.g. ``"._cache"``).

    ``missing_extras`` holds ``(top-level module, extra, purpose)``: when importing a name
    fails because that module is missing, the error names ``pip install ...[extra]``.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module, package), name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            for top, extra, purpose in missing_extras:
                if missing == top or missing.startswith(top + "."):
                    from ._errors import MissingExtraError

                    raise MissingExtraError(extra, missing, purpose) from exc
            raise
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__


def require(module: str, extra: str, purpose: str) -> Any:
    """Import ``module`` for code that needs it outside a lazy export (a CLI command, a
    helper): when it is missing, :class:`MissingExtraError` names ``pip install ...[extra]``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        from ._errors import MissingExtraError

        raise MissingExtraError(extra, exc.name or module, purpose) from exc
