"""docs/litellm.md and docs/routing.md entry points with the likely user mistakes."""

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm

import llm_cost_hooks
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger, guarded_completion, uninstall
from llm_cost_hooks.routing import Cascade, Rule, RuleRouter, ShadowMode


def probe(label, fn):
    try:
        value = fn()
        print(f"{label}: OK -> {value!r}"[:400])
    except Exception as exc:
        typed = isinstance(exc, llm_cost_hooks.LLMCostHooksError)
        print(f"{label}: {type(exc).__name__} typed={typed}: {str(exc)[:300]}")


probe("CostHooksLogger(ledger='sqlit:///x.db')", lambda: CostHooksLogger(ledger="sqlit:///x.db"))
probe("CostHooksLogger(defaults='acme')", lambda: CostHooksLogger(ledger="memory://", defaults="acme"))
probe(
    "CostHooksLogger(defaults={'tenant': 'acme'})",
    lambda: CostHooksLogger(ledger="memory://", defaults={"tenant": "acme"}).records(),
)
probe(
    "CostHooksLogger(defaults={'tenant_idd': 'acme'})",
    lambda: CostHooksLogger(ledger="memory://", defaults={"tenant_idd": "acme"}),
)
probe(
    "CostHooksLogger(guard=Limit)", lambda: CostHooksLogger(ledger="memory://", guard=Limit.usd(1, per="day"))
)


def completion(model, metadata, logger_kw=None):
    logger = CostHooksLogger(ledger="memory://", **(logger_kw or {}))
    litellm.callbacks = [logger]
    try:
        reply = litellm.completion(
            model=model, messages=[{"role": "user", "content": "hi"}], mock_response="ok", metadata=metadata
        )
        logger.flush()
        return reply.choices[0].message.content, [
            (r.model, r.tenant, r.cost_usd, r.success, sorted(r.tags)[:4]) for r in logger.records()
        ]
    finally:
        uninstall(logger)


probe("completion model typo gpt-4o-mnii", lambda: completion("gpt-4o-mnii", {"tenant_id": "acme"}))
probe("completion metadata a string", lambda: completion("gpt-4o-mini", "acme"))
probe("completion tenant_id int", lambda: completion("gpt-4o-mini", {"tenant_id": 7}))
probe(
    "logger defaults {'tenant': 'acme'} record tenant",
    lambda: completion("gpt-4o-mini", {}, {"defaults": {"tenant": "acme"}}),
)
probe(
    "guarded_completion model typo",
    lambda: (
        guarded_completion(
            SpendGuard([Limit.usd(1, per="day")]),
            model="gpt-4o-mnii",
            messages=[{"role": "user", "content": "hi"}],
            mock_response="ok",
        )
        .choices[0]
        .message.content
    ),
)
probe(
    "guarded_completion guard=None",
    lambda: (
        guarded_completion(
            None, model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="ok"
        )
        .choices[0]
        .message.content
    ),
)

small = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["s"])
large = FakeChatModelWithUsage(model_name="gpt-4o", responses=["l"])
probe(
    "RoutedChatModel tier unknown model",
    lambda: RoutedChatModel(
        tiers={"small": FakeChatModelWithUsage(model_name="gpt-4o-mnii"), "large": large}, strategy=Cascade()
    ),
)
probe("RoutedChatModel tiers={}", lambda: RoutedChatModel(tiers={}, strategy=Cascade()))
probe("RoutedChatModel tiers list", lambda: RoutedChatModel(tiers=[small, large], strategy=Cascade()))
probe(
    "RoutedChatModel strategy str",
    lambda: RoutedChatModel(tiers={"small": small, "large": large}, strategy="cascade"),
)
probe(
    "RuleRouter default not a tier",
    lambda: (
        RoutedChatModel(tiers={"small": small, "large": large}, strategy=RuleRouter([], default="medium"))
        .invoke("hi")
        .content
    ),
)
probe("Rule(feature='faq') str", lambda: Rule(tier="small", feature="faq"))
probe("Rule(tier='small', featur=['faq'])", lambda: Rule(tier="small", featur=["faq"]))
probe(
    "Rule tier not in tiers",
    lambda: (
        RoutedChatModel(
            tiers={"small": small, "large": large},
            strategy=RuleRouter([Rule(tier="tiny", min_chars=0)], default="large"),
        )
        .invoke("hi")
        .content
    ),
)
probe("ShadowMode(share=1.5)", lambda: ShadowMode(lambda r, a: {}, share=1.5))
probe("ShadowMode(budget_usd=-1)", lambda: ShadowMode(lambda r, a: {}, budget_usd=-1))
router = litellm.Router(
    model_list=[
        {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "4"}},
        {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "4"}},
    ]
)
probe(
    "CostAwareRouting tiers typo",
    lambda: CostAwareRouting(router, RuleRouter([], default="large"), tiers=["small", "larg"]),
)
probe(
    "CostAwareRouting serve typo",
    lambda: CostAwareRouting(router, RuleRouter([], default="large"), tiers=["small", "large"], serve="lage"),
)
