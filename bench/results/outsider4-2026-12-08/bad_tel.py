from llm_cost_hooks import _errors as E
from llm_cost_hooks.langchain import CostCallbackHandler, PromptCacheBreakpoints
from llm_cost_hooks.prompt_cache import add_cache_breakpoints, self_host_breakeven
from llm_cost_hooks.telemetry import OTelObserver, configure_otel


def t(name, fn):
    try:
        print(f"[{name}] OK -> {fn()!r}"[:250])
    except Exception as e:
        print(
            f"[{name}] {'TYPED' if isinstance(e, E.LLMCostHooksError) else 'UNTYPED'} {type(e).__name__}: {str(e)[:300]}"
        )


t("exporter typo", lambda: configure_otel("x", exporter="consol"))
t("exporter jaeger", lambda: configure_otel("x", exporter="jaeger"))
t("protocol typo", lambda: configure_otel("x", endpoint="http://127.0.0.1:4318", protocol="http"))
t("endpoint no scheme", lambda: configure_otel("x", endpoint="localhost:4318", metrics=False))
t("grpc w/o extra", lambda: configure_otel("x", protocol="grpc", metrics=False))
t("semconv typo", lambda: OTelObserver(semconv="newest"))
t("service name int", lambda: configure_otel(123, exporter="console", metrics=False))
t("PCB unknown model", lambda: PromptCacheBreakpoints(model="claude-sonet-4-5"))
t("add_bp str messages", lambda: add_cache_breakpoints("hello", None, "claude-sonnet-4-5"))
t("add_bp langchain msgs", lambda: add_cache_breakpoints([("system", "x")], None, "claude-sonnet-4-5"))
t(
    "breakeven negative",
    lambda: self_host_breakeven(
        tokens_per_month=-1, api_cost_per_month=1500, gpu_hourly_usd=2, throughput_tokens_per_s=500
    ),
)
t(
    "breakeven zero thr",
    lambda: self_host_breakeven(
        tokens_per_month=3e8, api_cost_per_month=1500, gpu_hourly_usd=2, throughput_tokens_per_s=0
    ),
)
t("handler ledger typo", lambda: CostCallbackHandler(ledger="sqlite://costs.db"))
t("handler defaults list", lambda: CostCallbackHandler(ledger="memory://", defaults=["feature"]))
t("handler observers not list", lambda: CostCallbackHandler(ledger="memory://", observers=OTelObserver()))
