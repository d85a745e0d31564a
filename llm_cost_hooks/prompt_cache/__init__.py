"""Provider prompt caching and prompt economy.

* Breakpoints: :func:`add_cache_breakpoints` marks the longest stable prefix of a request
  with ``cache_control`` for providers that need explicit breakpoints (Claude on
  Anthropic, Bedrock, Vertex AI, ...), within the provider's limits
  (:func:`resolve_cache_rule`, :data:`DEFAULT_CACHE_RULES`).
* Savings: the tracker records ``saved_usd`` and ``cache_status=provider_prefix`` for calls
  that read the cache and tags write premiums; :func:`breakpoint_economics` finds
  breakpoints that lose money.
* Prefix stability (:func:`prefix_report`), prompt audit (:func:`audit_prompts`),
  fine-tuning export (:class:`ContentCapture`, :func:`export_finetune`) and break-even
  calculators (:func:`self_host_breakeven`, :func:`fine_tune_breakeven`).

>>> from llm_cost_hooks.prompt_cache import add_cache_breakpoints
>>> msgs, tools, report = add_cache_breakpoints(
...     [{"role": "system", "content": "Policy text. " * 500}, {"role": "user", "content": "hi"}],
...     None, "claude-sonnet-4-5")
>>> report.breakpoints[0].segment
'system'
"""

from ._audit import (
    DuplicateInstruction,
    FewShotExample,
    LexicalEmbedder,
    PromptAudit,
    audit_prompt,
    audit_prompts,
)
from ._breakeven import (
    TRAINING_USD_PER_MTOK,
    FineTuneBreakEven,
    SelfHostBreakEven,
    TrafficProfile,
    fine_tune_breakeven,
    self_host_breakeven,
    traffic_from_records,
)
from ._finetune import ContentCapture, ExportSummary, export_finetune, redact_pii
from ._placement import (
    BreakpointInfo,
    BreakpointReport,
    add_cache_breakpoints,
    analyze_request,
)
from ._rules import (
    ANTHROPIC_MAX_BREAKPOINTS,
    DEFAULT_CACHE_RULES,
    CacheMode,
    CacheRule,
    ResolvedCacheRule,
    resolve_cache_rule,
)
from ._savings import CACHE_WRITE_PREMIUM_TAG, BreakpointEconomics, breakpoint_economics, prefix_cache_savings
from ._stability import PrefixReportRow, PromptStability, analyze_prompt, prefix_report

__all__ = [
    "ANTHROPIC_MAX_BREAKPOINTS",
    "CACHE_WRITE_PREMIUM_TAG",
    "DEFAULT_CACHE_RULES",
    "TRAINING_USD_PER_MTOK",
    "BreakpointEconomics",
    "BreakpointInfo",
    "BreakpointReport",
    "CacheMode",
    "CacheRule",
    "ContentCapture",
    "DuplicateInstruction",
    "ExportSummary",
    "FewShotExample",
    "FineTuneBreakEven",
    "LexicalEmbedder",
    "PrefixReportRow",
    "PromptAudit",
    "PromptStability",
    "ResolvedCacheRule",
    "SelfHostBreakEven",
    "TrafficProfile",
    "add_cache_breakpoints",
    "analyze_prompt",
    "analyze_request",
    "audit_prompt",
    "audit_prompts",
    "breakpoint_economics",
    "export_finetune",
    "fine_tune_breakeven",
    "prefix_cache_savings",
    "prefix_report",
    "redact_pii",
    "resolve_cache_rule",
    "self_host_breakeven",
    "traffic_from_records",
]
