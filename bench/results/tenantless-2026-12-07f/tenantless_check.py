"""Cross-tenant hits on the paths that lose the tenant, run against an installed wheel.

Adapted from ``bench/results/firsthour-2026-12-07/outsider_check.py``: the same fake chat
model (a fresh numbered answer per paid call) and the embedded cache on default settings.
A multi-tenant app (it names a tenant on its ordinary calls) asks N questions as tenant A
through a path that loses the tenant, then the same N as tenant B through the same path.
A B answer equal to A's is a cross-tenant hit. Then A asks again (same-tenant hits: what the
path keeps). A single-tenant app (no tenant anywhere) asks N questions twice.

    LLM_COST_HOOKS_CACHE_REQUIRE_TENANT=auto|true|false python tenantless_check.py
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache, cache_scope

N = 20
_counter = itertools.count(1)
_lock = threading.Lock()


def _answer(messages: Any) -> str:
    with _lock:
        n = next(_counter)
    return f"Reply #{n} to: {messages[-1].content if messages else ''}"


def chat_model() -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=_answer)


def plain_thread(fn: Any) -> Any:
    box: list[Any] = []
    th = threading.Thread(target=lambda: box.append(fn()))
    th.start()
    th.join()
    return box[0]


def run_path(name: str, ask: Any) -> None:
    """``ask(tenant, question) -> answer text``."""
    qs = [f"Where is my order {name} and when will it arrive? (case {i})" for i in range(N)]
    a = [ask("A", q) for q in qs]
    b = [ask("B", q) for q in qs]
    a2 = [ask("A", q) for q in qs]
    cross = sum(x == y for x, y in zip(a, b, strict=True))
    same = sum(x == y for x, y in zip(a, a2, strict=True))
    print(
        f"{name:32s} cross-tenant hits {cross:3d}/{N}   same-tenant repeats served {same:3d}/{N}", flush=True
    )


def langchain_paths(tmp: str) -> None:
    cache = SemanticCache(path=os.path.join(tmp, "multi.db"))
    set_llm_cache(cache)
    m = chat_model()
    m.invoke("Hello", config={"metadata": {"tenant_id": "A"}})  # the app names tenants
    run_path(
        "invoke(config=configurable)",
        lambda t, q: m.invoke(q, config={"configurable": {"tenant_id": t}}).content,
    )
    run_path(
        "with_config(configurable)",
        lambda t, q: m.with_config(configurable={"tenant_id": t}).invoke(q).content,
    )

    def in_thread(t: str, q: str) -> str:
        with cache_scope(tenant=t):
            return str(plain_thread(lambda: m.invoke(q).content))

    run_path("plain thread in cache_scope", in_thread)

    def in_pool(t: str, q: str) -> str:
        with cache_scope(tenant=t), ThreadPoolExecutor(1) as pool:
            return str(pool.submit(lambda: m.invoke(q).content).result())

    run_path("ThreadPoolExecutor in scope", in_pool)
    run_path("metadata (control)", lambda t, q: m.invoke(q, config={"metadata": {"tenant_id": t}}).content)
    print(f"  stats: {cache.stats}")
    set_llm_cache(None)

    single = SemanticCache(path=os.path.join(tmp, "single.db"))
    set_llm_cache(single)
    qs = [f"How do I order a new card? (case {i})" for i in range(N)]
    first = [m.invoke(q).content for q in qs]
    again = [m.invoke(q).content for q in qs]
    served = sum(x == y for x, y in zip(first, again, strict=True))
    print(f"{'single-tenant app, repeats':32s} served {served:3d}/{N}", flush=True)
    set_llm_cache(None)


def litellm_paths(tmp: str) -> None:
    import litellm

    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    litellm.cache = LiteLLMSemanticCache(path=os.path.join(tmp, "litellm.db"))

    def call(q: str, **meta: Any) -> str:
        extra = {"metadata": meta} if meta else {}
        out = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": q}],
            mock_response=f"litellm reply #{next(_counter)}",
            **extra,
        )
        return str(out.choices[0].message.content)

    call("Hello", tenant_id="A")

    def in_thread(t: str, q: str) -> str:
        with cache_scope(tenant=t):
            return str(plain_thread(lambda: call(q)))

    run_path("litellm plain thread in scope", in_thread)
    run_path("litellm metadata (control)", lambda t, q: call(q, tenant_id=t))
    litellm.cache = None


def main() -> None:
    print(f"LLM_COST_HOOKS_CACHE_REQUIRE_TENANT={os.environ.get('LLM_COST_HOOKS_CACHE_REQUIRE_TENANT')}")
    with tempfile.TemporaryDirectory(prefix="tenantless_") as tmp:
        langchain_paths(tmp)
        litellm_paths(tmp)


if __name__ == "__main__":
    main()
