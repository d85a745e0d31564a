"""The project's prompt templates: registered in code or discovered from ``pyproject.toml``.

>>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
>>> p = register_prompt("faq", [("system", "Answer from the FAQ."), ("human", "{question}")],
...                     model="gpt-4o-mini", version="v1", registry=PromptRegistry())
>>> p.key, p.variables()
('faq@v1', ['question'])
"""

from ._registry import (
    PromptPart,
    PromptRegistry,
    RegisteredPrompt,
    default_registry,
    discover_prompts,
    load_project_config,
    register_prompt,
    template_parts,
    template_variables,
)

__all__ = [
    "PromptPart",
    "PromptRegistry",
    "RegisteredPrompt",
    "default_registry",
    "discover_prompts",
    "load_project_config",
    "register_prompt",
    "template_parts",
    "template_variables",
]
