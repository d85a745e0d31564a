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
    "ROUTE_MARKER_KEY": "._callback",
    "BILLED_MARKER_KEY": "._callback",
    "RoutedChatModel": "._routed",
    "ReplayChatModel": "._replay",
    "ReplayMissError": "._replay",
    "REPLAY_MARKER_KEY": "._replay",
    "GuardedChatModel": "._budget",
    "ContextBudgetRunnable": "._context",
    "trim_messages": "._context",
    "annotate_run": "._context",
    "SemanticCache": "._cache",
    "cache_scope": "._cache",
    "LangChainEmbedder": "._embeddings",
    "PromptCacheBreakpoints": "._prompt_cache",
    "add_breakpoints_to_messages": "._prompt_cache",
    "anthropic_tools_with_cache": "._prompt_cache",
}

__all__ = sorted(_EXPORTS)


install_lazy_exports(globals(), _EXPORTS)

if _TYPE_CHECKING:  # pragma: no cover
    from ._callback import CACHE_MARKER_KEY, CostCallbackHandler, install, uninstall
    from ._fake import FakeChatModelWithUsage
