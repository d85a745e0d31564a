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

import os
from typing import TYPE_CHECKING

from .._lazy import install_lazy_exports

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
    "guarded_completion": "._budget",
    "PromptCacheOptions": "._prepare",
    "prepare_request": "._prepare",
    "aguarded_completion": "._budget",
    "proxy_refusal": "._budget",
    "LiteLLMBatchClient": "._batch",
    "DeferredResponse": "._batch",
    "completion_or_defer": "._batch",
}

__all__ = sorted(_EXPORTS)


install_lazy_exports(globals(), _EXPORTS, missing_extras=(("litellm", "litellm", "The LiteLLM integration"),))

if TYPE_CHECKING:  # pragma: no cover
    # "X as X": an explicit re-export, since mypy cannot read the computed __all__
    from ._batch import DeferredResponse as DeferredResponse
    from ._batch import LiteLLMBatchClient as LiteLLMBatchClient
    from ._batch import completion_or_defer as completion_or_defer
    from ._budget import aguarded_completion as aguarded_completion
    from ._budget import guarded_completion as guarded_completion
    from ._budget import proxy_refusal as proxy_refusal
    from ._cache import LiteLLMSemanticCache as LiteLLMSemanticCache
    from ._dedup import adeduplicated_completion as adeduplicated_completion
    from ._dedup import deduplicated_completion as deduplicated_completion
    from ._logger import CACHE_MARKER_KEY as CACHE_MARKER_KEY
    from ._logger import CostComparison as CostComparison
    from ._logger import CostHooksLogger as CostHooksLogger
    from ._logger import install as install
    from ._logger import uninstall as uninstall
    from ._prepare import PromptCacheOptions as PromptCacheOptions
    from ._prepare import prepare_request as prepare_request
    from ._router import CostAwareRouting as CostAwareRouting
    from ._usage import usage_from_litellm as usage_from_litellm
