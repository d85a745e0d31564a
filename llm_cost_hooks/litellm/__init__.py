"""LiteLLM adapter: cost records, spans, cache, budgets, routing and batch submission for
apps that call providers through LiteLLM (SDK, ``Router`` or proxy).

>>> import litellm
>>> from llm_cost_hooks.litellm import CostHooksLogger
>>> cost_logger = CostHooksLogger(ledger="memory://")
>>> litellm.callbacks = [cost_logger]  # one line: every call is priced and attributed
>>> litellm.callbacks = []

Names load on first use: ``import llm_cost_hooks.litellm`` does not import LiteLLM; the
first touch of a class that needs it does (LiteLLM is then required, see the README).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Before anything here imports litellm: use the price map it ships instead of fetching one
# at import time (fails offline and behind firewalls). Set it to False to fetch.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_EXPORTS: dict[str, str] = {
    "CostHooksLogger": "._logger",
    "CostComparison": "._logger",
    "CACHE_MARKER_KEY": "._logger",
    "install": "._logger",
    "uninstall": "._logger",
    "usage_from_litellm": "._usage",
    "CostAwareRouting": "._router",
    "deduplicated_completion": "._dedup",
    "adeduplicated_completion": "._dedup",
    "LiteLLMSemanticCache": "._cache",
    "canonical_request": "._cache",
    "guarded_completion": "._budget",
    "aguarded_completion": "._budget",
    "spend_request_for": "._budget",
    "LiteLLMBatchClient": "._batch",
    "DeferredResponse": "._batch",
    "completion_or_defer": "._batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_cost_hooks.litellm' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module, __name__), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "litellm":
            from .._errors import MissingExtraError

            raise MissingExtraError("litellm", exc.name, "The LiteLLM integration") from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from ._batch import DeferredResponse, LiteLLMBatchClient, completion_or_defer
    from ._logger import CACHE_MARKER_KEY, CostComparison, CostHooksLogger, install, uninstall
    from ._budget import aguarded_completion, guarded_completion, spend_request_for
    from ._cache import LiteLLMSemanticCache, canonical_request
    from ._dedup import adeduplicated_completion, deduplicated_completion
    from ._router import CostAwareRouting
    from ._usage import usage_from_litellm
