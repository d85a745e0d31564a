"""LangChain adapter: the cost callback handler, process-wide install, caches, routed and
test chat models.

Names load on first use so importing this package costs little more than
``langchain_core`` itself; it never imports litellm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._lazy import install_lazy_exports

_EXPORTS: dict[str, str] = {
    "CACHE_MARKER_KEY": "._callback",
    "CostCallbackHandler": "._callback",
    "install": "._callback",
    "uninstall": "._callback",
    "FakeChatModelWithUsage": "._fake",
    "RoutedChatModel": "._routed",
    "ReplayChatModel": "._replay",
    "ReplayMissError": ".._errors",
    "GuardedChatModel": "._budget",
    "ContextBudgetRunnable": "._context",
    "trim_messages": "._context",
    "SemanticCache": "._cache",
    "cache_scope": "._cache",
    "LangChainEmbedder": "._embeddings",
    "PromptCacheBreakpoints": "._prompt_cache",
    "add_breakpoints_to_messages": "._prompt_cache",
    "anthropic_tools_with_cache": "._prompt_cache",
}

__all__ = sorted(_EXPORTS)


install_lazy_exports(globals(), _EXPORTS)

if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs: every name of _EXPORTS
    # "X as X": an explicit re-export, since mypy cannot read the computed __all__
    from .._errors import ReplayMissError as ReplayMissError
    from ._budget import GuardedChatModel as GuardedChatModel
    from ._cache import SemanticCache as SemanticCache
    from ._cache import cache_scope as cache_scope
    from ._callback import CACHE_MARKER_KEY as CACHE_MARKER_KEY
    from ._callback import CostCallbackHandler as CostCallbackHandler
    from ._callback import install as install
    from ._callback import uninstall as uninstall
    from ._context import ContextBudgetRunnable as ContextBudgetRunnable
    from ._context import trim_messages as trim_messages
    from ._embeddings import LangChainEmbedder as LangChainEmbedder
    from ._fake import FakeChatModelWithUsage as FakeChatModelWithUsage
    from ._prompt_cache import PromptCacheBreakpoints as PromptCacheBreakpoints
    from ._prompt_cache import add_breakpoints_to_messages as add_breakpoints_to_messages
    from ._prompt_cache import anthropic_tools_with_cache as anthropic_tools_with_cache
    from ._replay import ReplayChatModel as ReplayChatModel
    from ._routed import RoutedChatModel as RoutedChatModel
