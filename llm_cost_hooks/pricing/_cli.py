"""``llm-cost prices``: which price map is in use, and fetching a newer one (opt-in).

``llm-cost prices update`` is the only place llm-cost-hooks goes to the network on its
own account: it downloads LiteLLM's current price map, checks that it is one, and saves it
in the user's cache directory, where every default :class:`PriceBook` finds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import PriceMapUpdateError
from ._map_source import FETCHED_FILE, FETCHED_META, default_map_source, snapshot_info, user_cache_dir

__all__ = ["DEFAULT_PRICE_MAP_URL", "add_prices_commands", "update_price_map"]

DEFAULT_PRICE_MAP_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)
_MAX_BYTES = 64 * 1024 * 1024
_MIN_PRICED_MODELS = 50  # a real map prices thousands; fewer means a wrong or truncated file


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi is a dependency
        return ssl.create_default_context()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--timeout must be a positive number of seconds, got {text!r}")
    return value


def _check_map(raw: bytes, url: str) -> int:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PriceMapUpdateError(
            f"{url} did not return JSON ({exc}); the price map in use is unchanged."
        ) from None
    if not isinstance(data, dict):
        raise PriceMapUpdateError(
            f"{url} returned JSON {type(data).__name__}, not a price map; nothing changed."
        )
    priced = sum(
        1
        for v in data.values()
        if isinstance(v, dict) and isinstance(v.get("input_cost_per_token"), (int, float))
    )
    if priced < _MIN_PRICED_MODELS:
        raise PriceMapUpdateError(
            f"{url} returned a map with {priced} priced models (a LiteLLM map has thousands); nothing changed."
        )
    return priced


def update_price_map(url: str = DEFAULT_PRICE_MAP_URL, *, timeout: float = 30.0) -> dict[str, Any]:
    """Download the price map at ``url`` into the user's cache directory, atomically.

    Returns what was saved (path, models, sha256, fetched_at). Raises
    :class:`~llm_cost_hooks.PriceMapUpdateError` and leaves the current map in place when
    the download fails or the file is not a LiteLLM price map.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "llm-cost-hooks"})
    context = _ssl_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            raw = response.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PriceMapUpdateError(
            f"{url} answered HTTP {exc.code}; the price map in use is unchanged."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PriceMapUpdateError(
            f"Cannot fetch {url}: {reason}; the price map in use is unchanged."
        ) from None
    if len(raw) > _MAX_BYTES:
        raise PriceMapUpdateError(f"{url} returned more than {_MAX_BYTES:,} bytes; nothing changed.")
    priced = _check_map(raw, url)
    folder = user_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fetched_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = {
        "url": url,
        "fetched_at": fetched_at,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "priced_models": priced,
    }
    for name, payload in ((FETCHED_META, json.dumps(meta, indent=2).encode()), (FETCHED_FILE, raw)):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return {"path": str(folder / FETCHED_FILE), **meta}


def _cmd_show(args: argparse.Namespace) -> int:
    from ._pricebook import PriceBook

    source = default_map_source()
    book = PriceBook()
    snap = snapshot_info()
    print(f"price map: {book.version}")
    print(f"file:      {source.path}  ({source.origin})")
    print(
        f"snapshot:  LiteLLM {snap['litellm_version']} of {snap['snapshot_date']} (shipped with llm-cost-hooks)"
    )
    print(f"cache dir: {user_cache_dir()}  ('llm-cost prices update' writes here)")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    try:
        saved = update_price_map(args.url, timeout=args.timeout)
    except PriceMapUpdateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"saved {saved['priced_models']:,} priced models from {saved['url']} to {saved['path']} "
        f"(sha256 {saved['sha256'][:12]}); default price books now use it: "
        f"{default_map_source().label}+{saved['sha256'][:12]}"
    )
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    folder = user_cache_dir()
    removed = [name for name in (FETCHED_FILE, FETCHED_META) if (folder / name).is_file()]
    for name in removed:
        (folder / name).unlink()
    source = default_map_source()
    print(
        f"{'removed the fetched map' if removed else 'no fetched map'}; now using {source.label} ({source.origin})"
    )
    return 0


def add_prices_commands(sub: Any) -> None:
    prices = sub.add_parser("prices", help="which price map is in use; fetch a newer one (opt-in)")
    cmds = prices.add_subparsers(dest="prices_command", required=True, metavar="ACTION")
    show = cmds.add_parser("show", help="the price map default price books read, and its version")
    show.set_defaults(func=_cmd_show)
    update = cmds.add_parser(
        "update", help="download LiteLLM's current price map into the user cache (network)"
    )
    update.add_argument(
        "--url", default=DEFAULT_PRICE_MAP_URL, help="where to fetch it (default: LiteLLM's main branch)"
    )
    update.add_argument("--timeout", type=_seconds, default=30.0, help="seconds (default 30)")
    update.set_defaults(func=_cmd_update)
    reset = cmds.add_parser("reset", help="delete the fetched map: back to litellm's or the shipped snapshot")
    reset.set_defaults(func=_cmd_reset)
