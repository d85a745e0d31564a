# ruff: noqa: E402  (logging is set up before the package is imported)
import logging
from pathlib import Path

logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(name)s: %(message)s")
from llm_cost_hooks import _errors as E
from llm_cost_hooks.cache import AnnIndexConfig, CacheConfig, DecisionPolicy, EmbeddedBackend
from llm_cost_hooks.langchain import SemanticCache, cache_scope


def t(name, fn):
    try:
        r = fn()
        print(f"[{name}] OK -> {r!r}"[:300])
    except Exception as e:
        typed = isinstance(e, E.LLMCostHooksError)
        print(
            f"[{name}] {'TYPED' if typed else 'UNTYPED'} {type(e).__module__}.{type(e).__name__}: {str(e)[:300]}"
        )


t("redis_url no scheme", lambda: SemanticCache(redis_url="localhost:6379", semantic=False))
t("redis_url port typo", lambda: SemanticCache(redis_url="redis://127.0.0.1:6379x", semantic=False))
t("path dir is file", lambda: SemanticCache(path="/etc/passwd/x.db", semantic=False))
t("config missing file", lambda: SemanticCache(config="nope.json", path=":memory:"))
t("config wrong type", lambda: SemanticCache(config={"routes": {}}, path=":memory:"))
t("max_entries 0", lambda: SemanticCache(max_entries=0, path=":memory:", semantic=False))
t("max_entries -1", lambda: SemanticCache(max_entries=-1, path=":memory:", semantic=False))
t("ttl negative", lambda: SemanticCache(ttl_seconds=-5, path=":memory:", semantic=False))
t("ttl str", lambda: SemanticCache(ttl_seconds="1h", path=":memory:", semantic=False))
t(
    "redis_timeout_s 0",
    lambda: SemanticCache(redis_url="redis://127.0.0.1:16399", redis_timeout_s=0, semantic=False),
)
t("embedder str", lambda: SemanticCache(embedder="all-MiniLM-L6-v2", path=":memory:"))
t("unknown kwarg", lambda: SemanticCache(pth=":memory:"))


def scope_dict():
    with cache_scope(tenant={"id": 1}):
        pass


t("cache_scope tenant dict", scope_dict)


def scope_typo():
    with cache_scope(tennant="a"):
        pass


t("cache_scope typo kwarg", scope_typo)


def scope_nan():
    with cache_scope(tenant=float("nan")):
        pass


t("cache_scope nan", scope_nan)
t("DecisionPolicy threshold 2", lambda: DecisionPolicy(pair_threshold=2.0))
t("DecisionPolicy threshold str", lambda: DecisionPolicy(pair_threshold="high"))
t("CacheConfig routes list", lambda: CacheConfig(routes=[DecisionPolicy()]))
t("CacheConfig require_tenant str", lambda: CacheConfig(require_tenant="yes"))
t("AnnIndexConfig connectivity 0", lambda: AnnIndexConfig(connectivity=0))
t("AnnIndexConfig dtype", lambda: AnnIndexConfig(dtype="float16"))
t("EmbeddedBackend path missing dir", lambda: EmbeddedBackend("/proc/nope/x.db"))
t("CacheConfig.load missing", lambda: CacheConfig.load("nope.json"))
Path("bad.json").write_text("{not json")
t("CacheConfig.load bad json", lambda: CacheConfig.load("bad.json"))
t("SemanticCache config bad json", lambda: SemanticCache(config="bad.json", path=":memory:"))
