"""Fill a ledger through real LangChain and LiteLLM calls with hostile tenant and feature names.

    python fill.py LEDGER_URL N

LangChain: a chat model reporting realistic usage (cache reads and writes included), plain
calls, retries that recover, failed tasks, two-call chains, an unpriced model. LiteLLM: the
same names through litellm.completion(mock_response=...) with Anthropic- and OpenAI-shaped
cached usage, and a failed call.
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda

from llm_cost_hooks.langchain import CostCallbackHandler

HOSTILE = [
    "<script>document.documentElement.setAttribute('data-pwned','1')</script>",
    'acme "quoted"',
    "a,b,c",
    "line1\nline2",
    "pipe|name",
    "\x1b[31mRED\x1b[0m",
    "Ünïcödé 日本語 🎉",
    "x" * 300,
    "$x_$ price",
    "_hidden",
    "acme",
    "=cmd|' /C calc'!A0",
]
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "totally-unknown-model-x"]


class Fake(BaseChatModel):
    model: str = "gpt-4o-mini"
    fail: bool = False
    cache_read: int = 0
    cache_write: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake"

    def _get_ls_params(self, stop: Any = None, **kw: Any) -> Any:
        provider = "anthropic" if "claude" in self.model else "openai"
        return {"ls_provider": provider, "ls_model_name": self.model, "ls_model_type": "chat"}

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        if self.fail:
            raise RuntimeError("upstream 500")
        um: dict[str, Any] = {"input_tokens": 1200, "output_tokens": 80, "total_tokens": 1280}
        details = {}
        if self.cache_read:
            details["cache_read"] = self.cache_read
        if self.cache_write:
            details["cache_creation"] = self.cache_write
        if details:
            um["input_token_details"] = details
        msg = AIMessage(content="ok answer", usage_metadata=um, response_metadata={"model_name": self.model})
        return ChatResult(generations=[ChatGeneration(message=msg)])


def langchain_calls(url: str, n: int) -> None:
    h = CostCallbackHandler(url)
    for i in range(n):
        model = MODELS[i % len(MODELS)]
        cfg: Any = {
            "callbacks": [h],
            "metadata": {
                "tenant_id": HOSTILE[i % len(HOSTILE)],
                "feature": HOSTILE[(i * 7 + 3) % len(HOSTILE)],
                "route": ("strong", "weak", HOSTILE[i % 5])[i % 3],
                "prompt_version": f"p@v{i % 3}",
            },
        }
        kind = i % 5
        if kind == 0:
            Fake(model=model).invoke("hi", config=cfg)
        elif kind == 1:  # a retry that recovers: the first attempt fails
            state = {"n": 0}

            def call(x: Any, _s: dict[str, int] = state, _m: str = model) -> Any:
                _s["n"] += 1
                return Fake(model=_m, fail=_s["n"] == 1).invoke(x)

            RunnableLambda(call).with_retry(stop_after_attempt=3, wait_exponential_jitter=False).invoke(
                "hi", config=cfg
            )
        elif kind == 2:  # a task that fails
            try:
                Fake(model=model, fail=True).invoke("hi", config=cfg)
            except RuntimeError:
                pass
        elif kind == 3:  # provider prompt cache: a read, or a write
            Fake(model=model, cache_read=1000 if i % 2 else 0, cache_write=0 if i % 2 else 1000).invoke(
                "hi", config=cfg
            )
        else:  # two calls in one task
            chain = RunnableLambda(lambda x, _m=model: Fake(model=_m).invoke(x)) | RunnableLambda(
                lambda m: Fake(model="gpt-4o-mini").invoke(m.content)
            )
            chain.invoke("hi", config=cfg)
    h.flush()
    h.tracker.close()


def litellm_calls(url: str, n: int) -> None:
    import litellm
    from litellm.types.utils import ModelResponse, PromptTokensDetailsWrapper, Usage

    from llm_cost_hooks.litellm import CostHooksLogger, uninstall

    logger = CostHooksLogger(ledger=url)
    litellm.callbacks = [logger]
    for i in range(n):
        meta = {"tenant_id": HOSTILE[i % len(HOSTILE)], "feature": "litellm", "prompt_version": "l@v1"}
        if i % 4 == 3:
            try:
                litellm.completion(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "x"}],
                    mock_response=Exception("boom"),
                    metadata=meta,
                )
            except Exception:
                pass
            continue
        anthropic = i % 2 == 0
        usage = Usage(
            prompt_tokens=10_000,
            completion_tokens=100,
            total_tokens=10_100,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=6000),
            **({"cache_creation_input_tokens": 2000, "cache_read_input_tokens": 6000} if anthropic else {}),
        )
        model = "claude-sonnet-4-5" if anthropic else "gpt-4o"
        reply = ModelResponse(
            model=model, choices=[{"message": {"role": "assistant", "content": "hi"}}], usage=usage
        )
        litellm.completion(
            model=("anthropic/" if anthropic else "") + model,
            messages=[{"role": "user", "content": "x"}],
            mock_response=reply,
            metadata=meta,
        )
    uninstall(logger)


if __name__ == "__main__":
    target, count = sys.argv[1], int(sys.argv[2])
    langchain_calls(target, count)
    litellm_calls(target, max(count // 5, 4))
