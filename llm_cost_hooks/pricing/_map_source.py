"""Which price-map file a :class:`~llm_cost_hooks.pricing.PriceBook` reads by default.

Three candidates, newest first:

1. the map fetched by ``llm-cost prices update`` into the user's cache directory (the
   user asked for it; it is never fetched otherwise);
2. the map inside an installed ``litellm`` package, when that litellm is at least as new
   as the snapshot (found with ``importlib.util.find_spec``, never imported);
3. the snapshot of LiteLLM's map shipped in this package (``pricing/data/``; its
   LiteLLM version and date are in ``SNAPSHOT.json``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "CACHE_DIR_ENV",
    "MapSource",
    "default_map_source",
    "fetched_map_path",
    "price_map_version",
    "snapshot_info",
    "user_cache_dir",
]

#: Environment variable: the folder ``llm-cost prices update`` writes to (default: the
#: platform's user cache directory + ``llm-cost-hooks``).
CACHE_DIR_ENV = "LLM_COST_HOOKS_CACHE_DIR"

_DATA = Path(__file__).resolve().parent / "data"
SNAPSHOT_FILE = _DATA / "model_prices_and_context_window.json"
_LITELLM_FILE = "model_prices_and_context_window_backup.json"
FETCHED_FILE = "model_prices_and_context_window.json"
FETCHED_META = "model_prices_and_context_window.meta.json"


@dataclass(frozen=True)
class MapSource:
    """A located price map and the label its version string starts with."""

    path: Path
    label: str  # e.g. "litellm-1.108.7", "litellm-snapshot-1.108.7", "fetched-2026-12-05T10:00:00Z"
    origin: str  # human words for error messages


def user_cache_dir() -> Path:
    """``$LLM_COST_HOOKS_CACHE_DIR``, else ``$XDG_CACHE_HOME/llm-cost-hooks`` (Linux),
    ``~/Library/Caches/llm-cost-hooks`` (macOS) or ``%LOCALAPPDATA%\\llm-cost-hooks``."""
    explicit = os.environ.get(CACHE_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "llm-cost-hooks"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llm-cost-hooks"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-cost-hooks"


def fetched_map_path() -> Path:
    return user_cache_dir() / FETCHED_FILE


@lru_cache(maxsize=1)
def snapshot_info() -> dict[str, object]:
    """The shipped snapshot's metadata (LiteLLM version, date, sha256)."""
    info: dict[str, object] = json.loads((_DATA / "SNAPSHOT.json").read_text(encoding="utf-8"))
    return info


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text.split("+")[0])[:3])


def _installed_litellm_map() -> tuple[Path, str] | None:
    spec = importlib.util.find_spec("litellm")  # locates the package without running it
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / _LITELLM_FILE
        if candidate.is_file():
            try:
                version = importlib.metadata.version("litellm")
            except importlib.metadata.PackageNotFoundError:
                version = "unknown"
            return candidate, version
    return None


def _fetched_label(path: Path) -> str:
    try:
        meta = json.loads((path.parent / FETCHED_META).read_text(encoding="utf-8"))
        return f"fetched-{meta['fetched_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "fetched"


def default_map_source() -> MapSource:
    """The map a default price book reads (see the module docstring for the order)."""
    fetched = fetched_map_path()
    if fetched.is_file():
        return MapSource(
            fetched, _fetched_label(fetched), f"fetched by 'llm-cost prices update' into {fetched.parent}"
        )
    snapshot_version = str(snapshot_info()["litellm_version"])
    installed = _installed_litellm_map()
    if installed is not None:
        path, version = installed
        if version == "unknown" or _version_tuple(version) >= _version_tuple(snapshot_version):
            return MapSource(path, f"litellm-{version}", "bundled with the installed litellm")
    return MapSource(
        SNAPSHOT_FILE, f"litellm-snapshot-{snapshot_version}", "snapshot shipped with llm-cost-hooks"
    )


def price_map_version() -> str:
    """The default price book's version, for reports; never raises (a report still renders)."""
    from ._pricebook import PriceBook

    try:
        return PriceBook.default()._version_without_loading()
    except Exception as exc:
        return f"unavailable ({type(exc).__name__}: {exc})"
