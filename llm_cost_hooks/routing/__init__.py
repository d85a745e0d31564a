"""Cost-aware routing, framework-free: strategies, a trained router, cascades, calibration
and an evaluation harness over real per-model outcomes.

The LangChain adapter is :class:`llm_cost_hooks.langchain.RoutedChatModel`; the CLI is
``llm-cost route eval DATA`` / ``llm-cost route train DATA``. Needs numpy (the ``embed``
extra); importing this package does not load the embedding model.

>>> from llm_cost_hooks.routing import RuleRouter, Rule, RouteRequest
>>> router = RuleRouter([Rule(tier="small", feature=["classification"])], default="large")
>>> router.route(RouteRequest("Is this spam?", {"feature": "classification"}), ["small", "large"]).tier
'small'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import install_lazy_exports

# Names are loaded on first use (PEP 562): rules and cascades need no numpy, and
# importing this package stays fast.
_LOCATIONS = {
    "BUILTIN_CHECKS": "_checks",
    "Answer": "_checks",
    "Attempt": "_checks",
    "CascadeOutcome": "_checks",
    "Check": "_checks",
    "arithmetic_consistent": "_checks",
    "arun_cascade": "_checks",
    "check_arithmetic": "_checks",
    "not_empty": "_checks",
    "not_refusal": "_checks",
    "not_truncated": "_checks",
    "parses": "_checks",
    "run_cascade": "_checks",
    "OutcomeDataset": "_data",
    "load_long": "_data",
    "load_mtbench": "_data",
    "write_long": "_data",
    "ShadowMode": "_shadow",
    "ShadowStore": "_shadow",
    "outcomes_from_ledger": "_shadow",
    "simulate_shadow": "_shadow",
    "TextSelector": "_text",
    "evaluate_router": "_train",
    "train_router": "_train",
    "load_outcomes": "_data",
    "load_routellm": "_data",
    "load_routerbench": "_data",
    "CurvePoint": "_eval",
    "EvalReport": "_eval",
    "StrategyResult": "_eval",
    "evaluate": "_eval",
    "AnswerScorer": "_scorer",
    "HashingEmbedder": "_model",
    "RouterModel": "_model",
    "BudgetTarget": "_strategies",
    "Cascade": "_strategies",
    "CascadePoint": "_strategies",
    "FixedTier": "_strategies",
    "OperatingPoint": "_strategies",
    "QualityFloor": "_strategies",
    "QualityTarget": "_strategies",
    "RouteDecision": "_strategies",
    "RouteRequest": "_strategies",
    "RouterCascade": "_strategies",
    "RoutingStrategy": "_strategies",
    "Rule": "_strategies",
    "RuleRouter": "_strategies",
    "TrainedRouter": "_strategies",
    "calibrate_router_cascade": "_strategies",
    "choose_tiers": "_strategies",
    "pick_tiers": "_strategies",
}


install_lazy_exports(
    globals(),
    {
        "OutcomeDataError": ".._errors",
        "RouterModelError": ".._errors",
        **{name: f".{module}" for name, module in _LOCATIONS.items()},
    },
    missing_extras=(("numpy", "embed", "The trained router and evaluation harness"),),
)

if TYPE_CHECKING:  # pragma: no cover
    from .._errors import OutcomeDataError, RouterModelError
    from ._checks import (
        BUILTIN_CHECKS,
        Answer,
        Attempt,
        CascadeOutcome,
        Check,
        arithmetic_consistent,
        arun_cascade,
        check_arithmetic,
        not_empty,
        not_refusal,
        not_truncated,
        parses,
        run_cascade,
    )
    from ._data import (
        OutcomeDataset,
        load_long,
        load_mtbench,
        load_outcomes,
        load_routellm,
        load_routerbench,
        write_long,
    )
    from ._eval import CurvePoint, EvalReport, StrategyResult, evaluate
    from ._model import HashingEmbedder, RouterModel
    from ._scorer import AnswerScorer
    from ._shadow import ShadowMode, ShadowStore, outcomes_from_ledger, simulate_shadow
    from ._strategies import (
        BudgetTarget,
        Cascade,
        CascadePoint,
        FixedTier,
        OperatingPoint,
        QualityFloor,
        QualityTarget,
        RouteDecision,
        RouterCascade,
        RouteRequest,
        RoutingStrategy,
        Rule,
        RuleRouter,
        TrainedRouter,
        calibrate_router_cascade,
        choose_tiers,
        pick_tiers,
    )
    from ._text import TextSelector
    from ._train import evaluate_router, train_router


__all__ = [
    "BUILTIN_CHECKS",
    "Answer",
    "AnswerScorer",
    "Attempt",
    "BudgetTarget",
    "Cascade",
    "CascadeOutcome",
    "CascadePoint",
    "Check",
    "CurvePoint",
    "EvalReport",
    "FixedTier",
    "HashingEmbedder",
    "OperatingPoint",
    "OutcomeDataError",
    "OutcomeDataset",
    "QualityFloor",
    "QualityTarget",
    "RouteDecision",
    "RouteRequest",
    "RouterCascade",
    "RouterModel",
    "RouterModelError",
    "RoutingStrategy",
    "Rule",
    "RuleRouter",
    "ShadowMode",
    "ShadowStore",
    "StrategyResult",
    "TextSelector",
    "TrainedRouter",
    "arithmetic_consistent",
    "arun_cascade",
    "calibrate_router_cascade",
    "check_arithmetic",
    "choose_tiers",
    "evaluate",
    "evaluate_router",
    "load_long",
    "load_mtbench",
    "load_outcomes",
    "load_routellm",
    "load_routerbench",
    "not_empty",
    "not_refusal",
    "not_truncated",
    "outcomes_from_ledger",
    "parses",
    "pick_tiers",
    "run_cascade",
    "simulate_shadow",
    "train_router",
    "write_long",
]
