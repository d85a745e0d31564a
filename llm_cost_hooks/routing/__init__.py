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
    "OutcomeDataError": "_data",
    "OutcomeDataset": "_data",
    "load_long": "_data",
    "load_mtbench": "_data",
    "write_long": "_data",
    "ShadowMode": "_shadow",
    "ShadowStore": "_shadow",
    "outcomes_from_ledger": "_shadow",
    "simulate_shadow": "_shadow",
    "TextSelector": "_text",
    "TaskTable": "_train",
    "evaluate_router": "_train",
    "train_router": "_train",
    "load_outcomes": "_data",
    "load_routellm": "_data",
    "load_routerbench": "_data",
    "CurvePoint": "_eval",
    "EvalReport": "_eval",
    "StrategyResult": "_eval",
    "evaluate": "_eval",
    "out_of_fold_predictions": "_eval",
    "aiq": "_metrics",
    "apgr": "_metrics",
    "cpt": "_metrics",
    "nondecreasing_hull": "_metrics",
    "AnswerScorer": "_scorer",
    "answer_features": "_scorer",
    "HashingEmbedder": "_model",
    "RouterModel": "_model",
    "RouterModelError": "_model",
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
    "add_route_commands": "_cli",
    "route_eval": "_cli",
    "route_train": "_cli",
}


install_lazy_exports(
    globals(),
    {name: f".{module}" for name, module in _LOCATIONS.items()},
    missing_extras=(("numpy", "embed", "The trained router and evaluation harness"),),
)

if TYPE_CHECKING:  # pragma: no cover
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
    from ._cli import add_route_commands, route_eval, route_train
    from ._data import (
        OutcomeDataError,
        OutcomeDataset,
        load_long,
        load_mtbench,
        load_outcomes,
        load_routellm,
        load_routerbench,
        write_long,
    )
    from ._eval import CurvePoint, EvalReport, StrategyResult, evaluate, out_of_fold_predictions
    from ._metrics import aiq, apgr, cpt, nondecreasing_hull
    from ._model import HashingEmbedder, RouterModel, RouterModelError
    from ._scorer import AnswerScorer, answer_features
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
    from ._train import TaskTable, evaluate_router, train_router


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
    "TaskTable",
    "TextSelector",
    "TrainedRouter",
    "add_route_commands",
    "aiq",
    "answer_features",
    "apgr",
    "arithmetic_consistent",
    "arun_cascade",
    "calibrate_router_cascade",
    "check_arithmetic",
    "choose_tiers",
    "cpt",
    "evaluate",
    "evaluate_router",
    "load_long",
    "load_mtbench",
    "load_outcomes",
    "load_routellm",
    "load_routerbench",
    "nondecreasing_hull",
    "not_empty",
    "not_refusal",
    "not_truncated",
    "out_of_fold_predictions",
    "outcomes_from_ledger",
    "parses",
    "pick_tiers",
    "route_eval",
    "route_train",
    "run_cascade",
    "simulate_shadow",
    "train_router",
    "write_long",
]
