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

from ._checks import (
    BUILTIN_CHECKS,
    Answer,
    Attempt,
    CascadeOutcome,
    Check,
    arun_cascade,
    not_empty,
    not_refusal,
    not_truncated,
    parses,
    run_cascade,
)
from ._data import OutcomeDataError, OutcomeDataset, load_outcomes, load_routellm, load_routerbench
from ._eval import CurvePoint, EvalReport, StrategyResult, evaluate, out_of_fold_predictions
from ._metrics import aiq, apgr, cpt, nondecreasing_hull
from ._model import HashingEmbedder, RouterModel, RouterModelError
from ._strategies import (
    BudgetTarget,
    Cascade,
    FixedTier,
    OperatingPoint,
    QualityFloor,
    QualityTarget,
    RouteDecision,
    RouteRequest,
    RoutingStrategy,
    Rule,
    RuleRouter,
    TrainedRouter,
    choose_tiers,
)

__all__ = [
    "BUILTIN_CHECKS",
    "Answer",
    "Attempt",
    "BudgetTarget",
    "Cascade",
    "CascadeOutcome",
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
    "RouterModel",
    "RouterModelError",
    "RoutingStrategy",
    "Rule",
    "RuleRouter",
    "StrategyResult",
    "TrainedRouter",
    "aiq",
    "apgr",
    "arun_cascade",
    "choose_tiers",
    "cpt",
    "evaluate",
    "load_outcomes",
    "load_routellm",
    "load_routerbench",
    "nondecreasing_hull",
    "not_empty",
    "not_refusal",
    "not_truncated",
    "out_of_fold_predictions",
    "parses",
    "run_cascade",
]
