"""A registry of a project's prompt templates, shared by the prompt audit, the
prefix-stability report and the PR cost estimate.

Templates are registered in code (:func:`register_prompt`) or discovered from the modules
and files a project lists in its ``pyproject.toml``::

    [tool.llm-cost-hooks]
    prompt_modules = ["myapp.prompts"]          # imported; their register_prompt() calls
                                                # and module-level LangChain templates count
    prompt_files = ["prompts/*.txt", "prompts/*.yaml"]

A text file (``.txt``, ``.md``, ``.prompt``) is one system prompt named after the file; a
YAML/JSON file holds one prompt or a list: ``{name, version, model, messages: [{role,
content}], tools}``. Variables use LangChain's f-string syntax (``{question}``; ``{{`` is
a literal brace). Nothing here imports LangChain: its templates are read duck-typed.
"""

from __future__ import annotations

import fnmatch
import glob
import importlib
import json
import string
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._errors import ConfigurationError

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

_ROLE_BY_CLASS = {
    "SystemMessagePromptTemplate": "system",
    "HumanMessagePromptTemplate": "user",
    "AIMessagePromptTemplate": "assistant",
    "SystemMessage": "system",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "ToolMessage": "tool",
}
_ROLE_BY_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool", "user": "user",
                 "assistant": "assistant", "developer": "system"}  # fmt: skip


class PromptPart(BaseModel):
    """One message of a template. ``kind="placeholder"`` stands for a list of messages
    filled at run time (chat history); its ``text`` is the variable name.

    >>> PromptPart(role="user", text="Order {order_id}: {question}").variables()
    ['order_id', 'question']
    >>> PromptPart(role="placeholder", text="history", kind="placeholder").variables()
    ['history']
    """

    model_config = ConfigDict(frozen=True)

    role: str
    text: str
    kind: Literal["message", "placeholder"] = "message"

    def variables(self) -> list[str]:
        if self.kind == "placeholder":
            return [self.text]
        return template_variables(self.text)


def template_variables(text: str) -> list[str]:
    """f-string variables of ``text`` in order of appearance (``{{`` is a literal).

    >>> template_variables("Hi {name}, {{not}} {name} {q}")
    ['name', 'name', 'q']
    """
    out: list[str] = []
    try:
        for _, field, _, _ in string.Formatter().parse(text):
            if field is not None and field != "":
                out.append(field.split(".")[0].split("[")[0])
    except ValueError:
        return []  # not an f-string template (stray brace): all literal text
    return out


class RegisteredPrompt(BaseModel):
    """A prompt template as the registry keeps it.

    >>> p = RegisteredPrompt(name="support", version="v2",
    ...                      parts=[PromptPart(role="system", text="Be brief."),
    ...                             PromptPart(role="user", text="{question}")])
    >>> p.key, p.variables()
    ('support@v2', ['question'])
    """

    name: str
    version: str | None = None
    model: str | None = None
    parts: list[PromptPart]
    tools: list[dict[str, Any]] = Field(default_factory=list)
    static_vars: frozenset[str] = Field(
        default=frozenset(), description="Variables filled with the same value on every call (cacheable)."
    )
    source: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    def variables(self) -> list[str]:
        seen: list[str] = []
        for part in self.parts:
            for var in part.variables():
                if var not in seen:
                    seen.append(var)
        return seen

    def matches(self, prompt_version: str | None) -> bool:
        """Whether a ledger ``prompt_version`` refers to this prompt: ``name@version``,
        ``name`` (unversioned prompts) or ``version`` alone."""
        if not prompt_version:
            return False
        return prompt_version in (self.key, self.name if self.version is None else None, self.version)

    def render(self, values: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
        """OpenAI-format messages with ``values`` filled in; missing variables stay as
        ``{name}`` and placeholders are dropped (they hold no text of their own)."""
        values = dict(values or {})
        out: list[dict[str, str]] = []
        for part in self.parts:
            if part.kind == "placeholder":
                continue
            text = part.text
            try:
                text = string.Formatter().vformat(text, (), _Missing(values))
            except (ValueError, IndexError):
                pass
            out.append({"role": part.role, "content": text})
        return out


class _Missing(dict):  # type: ignore[type-arg]
    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _text_of(prompt: Any) -> str:
    """Template text of a LangChain (string) prompt template, duck-typed."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        return "\n".join(_text_of(p) for p in prompt)
    template = getattr(prompt, "template", None)
    if isinstance(template, str):
        return template
    return str(prompt)


def template_parts(template: Any, *, role: str = "system") -> list[PromptPart]:
    """The messages of a template: a string, a list of ``(role, text)`` / ``{"role",
    "content"}``, or a LangChain ``ChatPromptTemplate`` / ``PromptTemplate`` /
    ``FewShotChatMessagePromptTemplate`` (read without importing LangChain).

    >>> [p.role for p in template_parts([("system", "Be brief."), ("human", "{q}")])]
    ['system', 'user']
    """
    if isinstance(template, str):
        return [PromptPart(role=role, text=template)]
    if isinstance(template, Mapping):
        if "role" in template:
            content = template.get("content", "")
            if not isinstance(content, str):
                content = "\n".join(
                    str(c.get("text", "")) if isinstance(c, Mapping) else str(c) for c in content
                )
            return [
                PromptPart(role=_ROLE_BY_TYPE.get(str(template["role"]), str(template["role"])), text=content)
            ]
        raise ConfigurationError("a message dict needs 'role' and 'content'.")
    if isinstance(template, tuple) and len(template) == 2 and isinstance(template[0], str):
        kind, text = template
        if kind == "placeholder":
            name = str(text).strip("{} ")
            return [PromptPart(role="history", text=name, kind="placeholder")]
        return [PromptPart(role=_ROLE_BY_TYPE.get(kind) or kind, text=_text_of(text))]
    messages = getattr(template, "messages", None)
    if isinstance(messages, Sequence) and not isinstance(template, (list, tuple)):
        template = list(messages)
    if isinstance(template, list):
        parts: list[PromptPart] = []
        for item in template:
            parts.extend(_message_parts(item))
        return parts
    if isinstance(getattr(template, "template", None), str):  # PromptTemplate
        return [PromptPart(role="user", text=template.template)]
    raise ConfigurationError(
        f"Cannot read a prompt template from {type(template).__name__}; pass a string, a list of "
        "(role, text) pairs or a LangChain ChatPromptTemplate/PromptTemplate."
    )


def _message_parts(item: Any) -> list[PromptPart]:
    if isinstance(item, (str, Mapping, tuple)):
        return template_parts(item, role="user")
    cls = type(item).__name__
    if cls == "MessagesPlaceholder" or (hasattr(item, "variable_name") and not hasattr(item, "prompt")):
        return [
            PromptPart(
                role="history", text=str(getattr(item, "variable_name", "history")), kind="placeholder"
            )
        ]
    if hasattr(item, "examples") and hasattr(item, "format_messages"):
        # FewShotChatMessagePromptTemplate with fixed examples: render them.
        return [p for m in item.format_messages() for p in _message_parts(m)]
    if hasattr(item, "prompt"):  # BaseStringMessagePromptTemplate
        item_role = _ROLE_BY_CLASS.get(cls) or _ROLE_BY_TYPE.get(str(getattr(item, "role", "")), "user")
        return [PromptPart(role=item_role, text=_text_of(item.prompt))]
    if hasattr(item, "type") and hasattr(item, "content"):  # a BaseMessage
        content = item.content
        text = (
            content
            if isinstance(content, str)
            else "\n".join(str(c.get("text", "")) if isinstance(c, Mapping) else str(c) for c in content)
        )
        # A literal message is not a template: escape braces so they are not variables.
        return [
            PromptPart(
                role=_ROLE_BY_TYPE.get(item.type, "user"), text=text.replace("{", "{{").replace("}", "}}")
            )
        ]
    raise ConfigurationError(f"Cannot read a prompt message from {cls}.")


class PromptRegistry:
    """Prompt templates by name and version.

    >>> reg = PromptRegistry()
    >>> _ = reg.register("greet", "Say hello to {name}.", model="gpt-4o-mini", version="1")
    >>> reg.find("greet@1").model
    'gpt-4o-mini'
    """

    def __init__(self) -> None:
        self._prompts: dict[str, RegisteredPrompt] = {}
        self._lock = threading.Lock()

    def register(
        self,
        name: str,
        template_or_text: Any,
        *,
        model: str | None = None,
        version: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        static_vars: Sequence[str] = (),
        role: str = "system",
        source: str | None = None,
    ) -> RegisteredPrompt:
        if not isinstance(name, str) or not name:
            raise ConfigurationError("register_prompt needs a non-empty name.")
        if version is not None and not isinstance(version, str):
            version = str(version)
        prompt = RegisteredPrompt(
            name=name,
            version=version,
            model=model,
            parts=template_parts(template_or_text, role=role),
            tools=[dict(t) for t in tools or []],
            static_vars=frozenset(static_vars),
            source=source,
        )
        unknown = prompt.static_vars - set(prompt.variables())
        if unknown:
            raise ConfigurationError(
                f"static_vars {sorted(unknown)} are not variables of prompt {name!r}; its variables are {prompt.variables()}."
            )
        with self._lock:
            self._prompts[prompt.key] = prompt
        return prompt

    def find(self, prompt_version: str | None) -> RegisteredPrompt | None:
        """The prompt a ledger ``prompt_version`` refers to (see :meth:`RegisteredPrompt.matches`)."""
        if not prompt_version:
            return None
        exact = self._prompts.get(prompt_version)
        if exact is not None:
            return exact
        hits = [p for p in self._prompts.values() if p.matches(prompt_version)]
        return hits[0] if len(hits) == 1 else None

    def __iter__(self) -> Iterator[RegisteredPrompt]:
        return iter(list(self._prompts.values()))

    def __len__(self) -> int:
        return len(self._prompts)

    def clear(self) -> None:
        with self._lock:
            self._prompts.clear()


_default = PromptRegistry()


def default_registry() -> PromptRegistry:
    """The process-wide registry that :func:`register_prompt` fills.

    >>> _ = register_prompt("refund-policy", "Explain the refund policy to {customer}.",
    ...                     model="gpt-4o-mini", version="v3")
    >>> default_registry().find("refund-policy@v3").model
    'gpt-4o-mini'
    """
    return _default


def register_prompt(
    name: str,
    template_or_text: Any,
    *,
    model: str | None = None,
    version: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    static_vars: Sequence[str] = (),
    registry: PromptRegistry | None = None,
) -> RegisteredPrompt:
    """Register a prompt template (a string, a list of ``(role, text)`` pairs, or a
    LangChain prompt template) with the model it is used with.

    ``static_vars`` are variables filled with the same value on every call (a product
    name, a policy document): they count as cacheable static text.

    >>> p = register_prompt("faq", [("system", "Answer from the FAQ."), ("human", "{question}")],
    ...                     model="claude-haiku-4-5", version="v1", registry=PromptRegistry())
    >>> p.key
    'faq@v1'
    """
    return (registry if registry is not None else _default).register(
        name, template_or_text, model=model, version=version, tools=tools, static_vars=static_vars
    )


# ------------------------------------------------------------------------ discovery


def load_project_config(pyproject: str | Path | None = None) -> dict[str, Any]:
    """The ``[tool.llm-cost-hooks]`` table of ``pyproject.toml`` (default: the one in the
    current directory or its parents); ``{}`` when there is none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ConfigurationError(
                "Reading pyproject.toml on Python 3.10 needs 'tomli' (pip install tomli)."
            ) from exc
    if pyproject is None:
        here = Path.cwd()
        for folder in (here, *here.parents):
            if (folder / "pyproject.toml").is_file():
                pyproject = folder / "pyproject.toml"
                break
        else:
            return {}
    path = Path(pyproject)
    if not path.is_file():
        raise ConfigurationError(f"No pyproject.toml at {str(path)!r}.")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{str(path)!r} is not valid TOML: {exc}. Fix the file's syntax.") from exc
    table = data.get("tool", {}).get("llm-cost-hooks", {})
    if not isinstance(table, dict):
        raise ConfigurationError("[tool.llm-cost-hooks] in pyproject.toml must be a table.")
    _check_project_config(table, path)
    return {**table, "_root": str(path.resolve().parent)}


_PROJECT_KEYS = {"prompt_modules": list, "prompt_files": list, "default_model": str}


def _check_project_config(table: dict[str, Any], path: Path) -> None:
    # A misspelled key would otherwise be ignored and the audit would find no prompts.
    import difflib

    for key, value in table.items():
        if key not in _PROJECT_KEYS:
            close = difflib.get_close_matches(key, list(_PROJECT_KEYS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigurationError(
                f"Unknown key {key!r} in [tool.llm-cost-hooks] of {str(path)!r}: {hint}"
                f"the keys are {', '.join(_PROJECT_KEYS)}."
            )
        kind = _PROJECT_KEYS[key]
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            form = "a list of strings" if kind is list else "a string"
            raise ConfigurationError(
                f"[tool.llm-cost-hooks] {key} in {str(path)!r} must be {form}, got {value!r}."
            )


def _model_of(template: Any) -> str | None:
    """The model a module-level template names in its metadata: the template's own
    (``ChatPromptTemplate(..., metadata=...)``) or, for ``template.with_config(metadata=...)``,
    the binding's, which LangChain keeps in its config, not on the template."""
    for metadata in (
        getattr(template, "metadata", None),
        (getattr(template, "config", None) or {}).get("metadata") if hasattr(template, "bound") else None,
    ):
        if isinstance(metadata, Mapping) and metadata.get("model"):
            return str(metadata["model"])
    return None


def _is_template(obj: Any) -> bool:
    return hasattr(obj, "input_variables") and (
        hasattr(obj, "messages") or isinstance(getattr(obj, "template", None), str)
    )


def _load_file(path: Path, registry: PromptRegistry, model: str | None) -> list[RegisteredPrompt]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"Prompt file {str(path)!r} is not UTF-8 (byte {exc.start}): save it as UTF-8."
        ) from exc
    if suffix in (".txt", ".md", ".prompt"):
        return [registry.register(path.stem, text, model=model, source=str(path))]
    if suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif suffix == ".json":
        data = json.loads(text)
    else:
        raise ConfigurationError(
            f"Unsupported prompt file {str(path)!r}: use .txt, .md, .prompt, .yaml or .json."
        )
    items = data if isinstance(data, list) else [data]
    out: list[RegisteredPrompt] = []
    for item in items:
        if not isinstance(item, Mapping) or ("messages" not in item and "template" not in item):
            raise ConfigurationError(
                f"{str(path)!r}: each prompt needs 'messages' (a list of {{role, content}}) or 'template'."
            )
        template = item.get("messages") or item.get("template")
        if isinstance(template, list):
            template = [m if isinstance(m, Mapping) else tuple(m) for m in template]
        out.append(registry.register(
            str(item.get("name") or path.stem), template, model=item.get("model") or model,
            version=None if item.get("version") is None else str(item["version"]), tools=item.get("tools"),
            static_vars=item.get("static_vars") or (), source=str(path),
        ))  # fmt: skip
    return out


def discover_prompts(
    pyproject: str | Path | None = None,
    *,
    modules: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    registry: PromptRegistry | None = None,
    default_model: str | None = None,
) -> list[RegisteredPrompt]:
    """Import the prompt modules and read the prompt files a project lists (in
    ``pyproject.toml`` or given here); returns every prompt found.

    Module-level LangChain templates not registered explicitly are registered as
    ``"<module>:<attribute>"`` with the config's ``default_model``.

    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)
    >>> _ = (root / "pyproject.toml").write_text(
    ...     '[tool.llm-cost-hooks]\\nprompt_files = ["prompts/*.txt"]\\ndefault_model = "gpt-4o-mini"\\n')
    >>> (root / "prompts").mkdir()
    >>> _ = (root / "prompts" / "support.txt").write_text("You are a support agent. Answer briefly.")
    >>> [(p.key, p.model, p.parts[0].role) for p in
    ...  discover_prompts(root / "pyproject.toml", registry=PromptRegistry())]
    [('support', 'gpt-4o-mini', 'system')]
    >>> tmp.cleanup()
    """
    registry = registry if registry is not None else _default
    config = load_project_config(pyproject) if (modules is None or files is None) else {}
    root = Path(config.get("_root", "."))
    modules = list(modules if modules is not None else config.get("prompt_modules", []))
    files = list(files if files is not None else config.get("prompt_files", []))
    default_model = default_model or config.get("default_model")
    before = {p.key for p in registry}
    found: list[RegisteredPrompt] = []
    if modules and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(
                f"Prompt module {name!r} (from [tool.llm-cost-hooks] prompt_modules) cannot be imported: {exc}"
            ) from exc
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("_") or not _is_template(value):
                continue
            key = f"{name}:{attr}"
            if registry.find(key) is None:
                registry.register(key, value, model=_model_of(value) or default_model, source=name)
    for pattern in files:
        is_glob = any(c in pattern for c in "*?[")
        matches = sorted(glob.glob(str(root / pattern), recursive=True)) if is_glob else [str(root / pattern)]
        if not is_glob and not Path(matches[0]).is_file():
            raise ConfigurationError(
                f"Prompt file {pattern!r} listed in [tool.llm-cost-hooks] does not exist."
            )
        for match in matches:
            if fnmatch.fnmatch(match, "*~"):
                continue
            found.extend(_load_file(Path(match), registry, default_model))
    new_keys = {p.key for p in registry} - before
    seen = {p.key for p in found}
    found.extend(p for p in registry if p.key in new_keys and p.key not in seen)
    return found


def _without_attribute_copies(prompts: Iterable[RegisteredPrompt]) -> list[RegisteredPrompt]:
    """The prompts without the ``"<module>:<attribute>"`` copies :func:`discover_prompts`
    makes of templates that are also registered with :func:`register_prompt` (same parts):
    a command lists each template once."""
    found = list(prompts)
    explicit = [p for p in found if not (p.source and p.name.startswith(f"{p.source}:"))]
    return explicit + [p for p in found if p not in explicit and all(p.parts != e.parts for e in explicit)]
