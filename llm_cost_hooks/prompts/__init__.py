"""The project's prompt templates: registered in code or discovered from ``pyproject.toml``.

>>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
>>> p = register_prompt("faq", [("system", "Answer from the FAQ."), ("human", "{question}")],
...                     model="gpt-4o-mini", version="v1", registry=PromptRegistry())
>>> p.key, p.variables()
('faq@v1', ['question'])
"""

from ._pr_estimate import (
    PromptCostChange,
    PromptCostEstimate,
    estimate_pr_cost,
    prompt_tokens,
)
from ._registry import (
    PromptPart,
    PromptRegistry,
    RegisteredPrompt,
    default_registry,
    discover_prompts,
    register_prompt,
)

__all__ = [
    "PromptCostChange",
    "PromptCostEstimate",
    "PromptPart",
    "PromptRegistry",
    "RegisteredPrompt",
    "default_registry",
    "discover_prompts",
    "estimate_pr_cost",
    "prompt_tokens",
    "register_prompt",
]
