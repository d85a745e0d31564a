"""What a change to the project's prompt templates costs per month: the PR cost estimate.

For two git revisions, the prompts the project lists in ``pyproject.toml`` (see
:mod:`llm_cost_hooks.prompts._registry`) are read at each revision, their tokens counted
with the model each is used with, and priced at the traffic of each prompt::

    usd_per_month = input price of (template tokens) x calls per month

Template tokens are the chat prompt as the model receives it with every variable empty
(message framing, static text and tool definitions; what a call's variables add is the
same before and after). Prices are the price book's list input prices (no cache
discounts). Calls per month come from the ledger (a prompt's calls under any of its
versions, scaled to 30 days), from ``calls_per_month={name: n}``, or from a default.

Each revision is read from ``git archive`` into a temporary folder and its prompt modules
are imported in a child process, so the caller's ``sys.modules`` never sees them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from .._errors import ConfigurationError, UnknownModelError
from ._registry import RegisteredPrompt

__all__ = ["PromptCostChange", "PromptCostEstimate", "estimate_pr_cost", "prompt_tokens", "snapshot_prompts"]

COMMENT_MARKER = "<!-- llm-cost-hooks:pr-estimate -->"
DEFAULT_MODEL = "gpt-4o"
_DAYS_PER_MONTH = 30


# ------------------------------------------------------------------ revisions


def _git(root: Path, *args: str, binary: bool = False) -> Any:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, check=False, text=not binary
        )
    except FileNotFoundError as exc:
        raise ConfigurationError("The PR cost estimate needs git on PATH.") from exc
    return done


def _repo_root(repo: str | os.PathLike[str]) -> Path:
    done = _git(Path(repo), "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise ConfigurationError(
            f"{str(repo)!r} is not inside a git repository: run pr-estimate from your checkout or pass --repo."
        )
    return Path(done.stdout.strip())


def _resolve_rev(root: Path, rev: str) -> str:
    if not rev or rev.startswith("-"):
        raise ConfigurationError(
            f"{rev!r} is not a git revision; pass a branch, tag or commit such as origin/main."
        )
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        raise ConfigurationError(
            f"Unknown git revision {rev!r} in {root}: check the name, and fetch it first "
            "(in GitHub Actions: actions/checkout with fetch-depth: 0)."
        )
    return str(done.stdout.strip())


def _extract(root: Path, commit: str, dest: Path) -> None:
    # A commit without files (a repository's empty first commit) archives to a tar that
    # Python's tarfile cannot read ("end of file header"): it has no prompts.
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "--name-only", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode == 0 and not listing.stdout.strip():
        return
    # Streamed: a large repository's tree never sits in memory as one tar.
    with subprocess.Popen(
        ["git", "-C", str(root), "archive", "--format=tar", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                try:
                    tar.extractall(dest, filter="data")
                except TypeError:  # Python without extraction filters
                    tar.extractall(dest)
        except tarfile.TarError as exc:
            raise ConfigurationError(
                f"git archive {commit} failed: {proc.stderr.read().decode(errors='replace').strip() or exc}"
            ) from exc
        err = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise ConfigurationError(f"git archive {commit} failed: {err}")


_SNAPSHOT_CODE = "from llm_cost_hooks.prompts._pr_estimate import _snapshot_main; _snapshot_main()"


def _snapshot_main() -> None:
    """Child-process entry: discover the prompts of the tree at ``argv[1]`` (a pyproject)
    and print them as JSON."""
    from ._registry import _without_attribute_copies, default_registry, discover_prompts

    pyproject = Path(sys.argv[1])
    # The caller's model for prompts that name none wins over the pyproject's default_model.
    default_model = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    src = pyproject.parent / "src"
    if src.is_dir():
        sys.path.insert(0, str(src))
    try:
        found = discover_prompts(pyproject, registry=default_registry(), default_model=default_model)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    # A template registered with register_prompt() is also a module attribute: keep one.
    kept = _without_attribute_copies(found)
    print(json.dumps({"prompts": [p.model_dump(mode="json") for p in kept]}))


def snapshot_prompts(
    rev: str,
    *,
    repo: str | os.PathLike[str] = ".",
    pyproject: str = "pyproject.toml",
    timeout: float = 120.0,
) -> list[RegisteredPrompt]:
    """The prompts listed in ``pyproject`` (a path inside the repository) at git revision
    ``rev``, read in a child process from a temporary copy of that revision.

    A revision without that ``pyproject.toml`` has no prompts.
    """
    root = _repo_root(repo)
    return _snapshot(root, rev, _resolve_rev(root, rev), pyproject, timeout)


def _snapshot(
    root: Path, rev: str, commit: str, pyproject: str, timeout: float, default_model: str | None = None
) -> list[RegisteredPrompt]:
    with tempfile.TemporaryDirectory(prefix="llm-cost-pr-") as tmp:
        tree, neutral = Path(tmp) / "tree", Path(tmp) / "cwd"
        tree.mkdir()
        neutral.mkdir()
        _extract(root, commit, tree)
        target = tree / pyproject
        if not target.is_file():
            return []
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        # cwd is an empty folder so the child imports llm_cost_hooks as installed, not from the tree.
        done = subprocess.run(
            [sys.executable, "-c", _SNAPSHOT_CODE, str(target), default_model or ""],
            cwd=neutral,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ConfigurationError(
            f"Reading the prompts at {rev!r} ({commit[:12]}) failed: {done.stderr.strip()[-2000:]}"
        )
    payload = json.loads(lines[-1])
    if "error" in payload:  # paths as in the repository, not in the temporary copy
        error = str(payload["error"]).replace(f"{tree}{os.sep}", "")
        raise ConfigurationError(f"Reading the prompts at {rev!r} ({commit[:12]}) failed: {error}")
    prompts = [RegisteredPrompt.model_validate(p) for p in payload["prompts"]]
    for p in prompts:  # file sources as paths in the repository, not in the temporary copy
        if p.source and p.source.startswith(str(tree)):
            p.source = Path(p.source).relative_to(tree).as_posix()
    return prompts


# ------------------------------------------------------------------ arithmetic


def prompt_tokens(prompt: RegisteredPrompt, model: str) -> int:
    """Tokens of the template as ``model`` receives it with every variable empty
    (OpenAI's per-message framing and the tool definitions included).

    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt(
    ...     "support", [("system", "You are a helpful assistant."), ("human", "{question}")],
    ...     registry=PromptRegistry(),
    ... )
    >>> prompt_tokens(prompt, "gpt-4o")
    17
    """
    from ..tokens import count_message_tokens

    messages = prompt.render({var: "" for var in prompt.variables()})
    return count_message_tokens(messages, model, tools=prompt.tools or None)


class PromptCostChange(BaseModel):
    """One prompt before and after the change: tokens, traffic and dollars per month; one per
    prompt in :attr:`PromptCostEstimate.prompts` (a full run is under :func:`estimate_pr_cost`).

    >>> change = PromptCostChange(name="support", status="changed", calls_per_month=100_000,
    ...     traffic_source="default", tokens_before=16, tokens_after=27,
    ...     usd_per_month_before=0.24, usd_per_month_after=0.405)
    >>> change.delta_tokens, round(change.delta_usd_per_month, 3)
    (11, 0.165)
    """

    name: str
    status: Literal["changed", "unchanged", "added", "removed"]
    key_before: str | None = None
    key_after: str | None = None
    model_before: str | None = None
    model_after: str | None = None
    source: str | None = None
    calls_per_month: float
    traffic_source: str
    tokens_before: int = 0
    tokens_after: int = 0
    usd_per_month_before: float = 0.0
    usd_per_month_after: float = 0.0

    @property
    def delta_tokens(self) -> int:
        return self.tokens_after - self.tokens_before

    @property
    def delta_usd_per_month(self) -> float:
        return self.usd_per_month_after - self.usd_per_month_before


class PromptCostEstimate(BaseModel):
    """The PR cost estimate: every prompt's change, totals, and the markdown comment;
    :func:`estimate_pr_cost` returns it.

    >>> change = PromptCostChange(name="support", status="changed", calls_per_month=100_000,
    ...     traffic_source="default", tokens_before=16, tokens_after=27,
    ...     usd_per_month_before=0.24, usd_per_month_after=0.405)
    >>> estimate = PromptCostEstimate(base="main", head="HEAD", prompts=[change])
    >>> round(estimate.delta_usd_per_month, 3), estimate.to_json()["prompts"][0]["delta_tokens"]
    (0.165, 11)
    >>> "support" in estimate.markdown()
    True
    """

    base: str
    head: str
    base_commit: str = ""
    head_commit: str = ""
    prompts: list[PromptCostChange] = Field(default_factory=list)

    @property
    def usd_per_month_before(self) -> float:
        return sum(p.usd_per_month_before for p in self.prompts)

    @property
    def usd_per_month_after(self) -> float:
        return sum(p.usd_per_month_after for p in self.prompts)

    @property
    def delta_usd_per_month(self) -> float:
        return self.usd_per_month_after - self.usd_per_month_before

    def to_json(self) -> dict[str, Any]:
        """Plain data with the totals and each prompt's deltas."""
        return {
            **self.model_dump(exclude={"prompts"}),
            "usd_per_month_before": self.usd_per_month_before,
            "usd_per_month_after": self.usd_per_month_after,
            "delta_usd_per_month": self.delta_usd_per_month,
            "prompts": [
                {
                    **p.model_dump(),
                    "delta_tokens": p.delta_tokens,
                    "delta_usd_per_month": p.delta_usd_per_month,
                }
                for p in self.prompts
            ],
        }

    def markdown(self) -> str:
        """The pull-request comment (starts with a marker so a bot can update it in place)."""
        return _markdown(self)


def _pair(
    before: list[RegisteredPrompt], after: list[RegisteredPrompt]
) -> list[tuple[RegisteredPrompt | None, RegisteredPrompt | None]]:
    """Match prompts across revisions: same key, else the one prompt of the same name
    on each side (a version bump)."""
    pairs: list[tuple[RegisteredPrompt | None, RegisteredPrompt | None]] = []
    after_by_key = {p.key: p for p in after}
    rest_before = []
    for p in before:
        if p.key in after_by_key:
            pairs.append((p, after_by_key.pop(p.key)))
        else:
            rest_before.append(p)
    rest_after = list(after_by_key.values())
    for p in list(rest_before):
        same_b = [q for q in rest_before if q.name == p.name]
        same_a = [q for q in rest_after if q.name == p.name]
        if len(same_b) == 1 and len(same_a) == 1:
            pairs.append((p, same_a[0]))
            rest_before.remove(p)
            rest_after.remove(same_a[0])
    pairs.extend((p, None) for p in rest_before)
    pairs.extend((None, p) for p in rest_after)
    return pairs


def ledger_calls_per_month(
    records: Iterable[Any], prompts: Iterable[RegisteredPrompt | None]
) -> tuple[float, int, float]:
    """``(calls per month, calls, days)`` of the ledger records that belong to any of
    ``prompts`` (any version of their names), scaled to 30 days (at least one day spanned)."""
    names = {p.name for p in prompts if p is not None}
    live = [p for p in prompts if p is not None]
    stamps = [
        r.timestamp for r in records
        if r.prompt_version and (r.prompt_version.split("@")[0] in names or any(p.matches(r.prompt_version) for p in live))
    ]  # fmt: skip
    if not stamps:
        return 0.0, 0, 0.0
    days = max((max(stamps) - min(stamps)).total_seconds() / 86400, 1.0)
    return len(stamps) * _DAYS_PER_MONTH / days, len(stamps), days


def estimate_pr_cost(
    base: str,
    head: str,
    *,
    repo: str | os.PathLike[str] = ".",
    pyproject: str = "pyproject.toml",
    records: Iterable[Any] = (),
    calls_per_month: Mapping[str, float] | None = None,
    default_calls_per_month: float = 0.0,
    default_model: str | None = None,
    price_book: Any = None,
    timeout: float = 120.0,
) -> PromptCostEstimate:
    """Tokens and dollars per month of every prompt at ``base`` and ``head``.

    ``calls_per_month`` maps a prompt name or key to its traffic and wins over the
    ledger ``records``; prompts with neither use ``default_calls_per_month``.
    ``default_model`` prices prompts that name no model; when ``None``, the pyproject's
    ``default_model``, else ``gpt-4o``.

    Each revision is read in a child process, so this takes a second or two. A repository
    whose one prompt file grows in the last commit:

    >>> tmp = tempfile.TemporaryDirectory()
    >>> repo = Path(tmp.name)
    >>> def git(*args):
    ...     _ = subprocess.run(["git", "-C", str(repo), "-c", "user.name=dev",
    ...                         "-c", "user.email=dev@example.com", *args], check=True, capture_output=True)
    >>> (repo / "prompts").mkdir()
    >>> _ = (repo / "pyproject.toml").write_text(
    ...     '[tool.llm-cost-hooks]\\nprompt_files = ["prompts/*.txt"]\\ndefault_model = "gpt-4o-mini"\\n')
    >>> _ = (repo / "prompts" / "support.txt").write_text("You are a support agent. Answer briefly.")
    >>> git("init", "-q"); git("add", "."); git("commit", "-q", "-m", "base")
    >>> _ = (repo / "prompts" / "support.txt").write_text(
    ...     "You are a support agent for Acme Bank. Answer briefly and politely, in the user's language.")
    >>> git("commit", "-q", "-a", "-m", "longer prompt")
    >>> estimate = estimate_pr_cost("HEAD~1", "HEAD", repo=repo, default_calls_per_month=100_000)
    >>> [(p.name, p.status, p.tokens_before, p.tokens_after) for p in estimate.prompts]
    [('support', 'changed', 16, 27)]
    >>> round(estimate.delta_usd_per_month, 3)
    0.165
    >>> tmp.cleanup()
    """
    from ..pricing import PriceBook

    book = price_book or PriceBook.default()
    given = dict(calls_per_month or {})
    root = _repo_root(repo)
    base_commit, head_commit = _resolve_rev(root, base), _resolve_rev(root, head)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # two child processes at once
        before_f = pool.submit(_snapshot, root, base, base_commit, pyproject, timeout, default_model)
        after_f = pool.submit(_snapshot, root, head, head_commit, pyproject, timeout, default_model)
        before, after = before_f.result(), after_f.result()
    records = list(records)
    unused = set(given) - {k for p in before + after for k in (p.name, p.key)}
    if unused:
        raise ConfigurationError(
            f"--calls-per-month names {sorted(unused)} match no prompt; prompts are "
            f"{sorted({p.key for p in before + after})}."
        )

    def usd(tokens: int, model: str, calls: float, prompt: RegisteredPrompt) -> float:
        try:
            return book.cost({"input_tokens": tokens}, model).total * calls if tokens else 0.0
        except UnknownModelError as exc:
            where = f" ({prompt.source})" if prompt.source else ""
            raise ConfigurationError(f"Prompt {prompt.name!r}{where} names model {model!r}: {exc}") from exc

    changes: list[PromptCostChange] = []
    for old, new in _pair(before, after):
        ref = new or old
        assert ref is not None
        keys = [k for p in (new, old) if p is not None for k in (p.key, p.name)]
        named = next((given[k] for k in keys if k in given), None)
        if named is not None:
            calls, traffic = float(named), "given"
        else:
            calls, n, days = ledger_calls_per_month(records, (old, new))
            traffic = f"ledger: {n} calls in {days:.1f} days" if n else "default"
            if not n:
                calls = float(default_calls_per_month)
        model_old = (old.model or default_model or DEFAULT_MODEL) if old else None
        model_new = (new.model or default_model or DEFAULT_MODEL) if new else None
        t_old = prompt_tokens(old, model_old) if old and model_old else 0
        t_new = prompt_tokens(new, model_new) if new and model_new else 0
        status: Literal["changed", "unchanged", "added", "removed"]
        if old is None:
            status = "added"
        elif new is None:
            status = "removed"
        else:
            same = old.parts == new.parts and old.tools == new.tools and model_old == model_new
            status = "unchanged" if same else "changed"
        changes.append(PromptCostChange(
            name=ref.name, status=status, key_before=old.key if old else None, key_after=new.key if new else None,
            model_before=model_old, model_after=model_new, source=ref.source, calls_per_month=calls,
            traffic_source=traffic, tokens_before=t_old, tokens_after=t_new,
            usd_per_month_before=usd(t_old, model_old, calls, ref) if model_old else 0.0,
            usd_per_month_after=usd(t_new, model_new, calls, ref) if model_new else 0.0,
        ))  # fmt: skip
    order = {"changed": 0, "added": 1, "removed": 2, "unchanged": 3}
    changes.sort(key=lambda c: (order[c.status], -abs(c.delta_usd_per_month), c.name))
    return PromptCostEstimate(
        base=base, head=head, base_commit=base_commit, head_commit=head_commit, prompts=changes
    )


# ------------------------------------------------------------------ markdown


def format_usd(value: float, *, signed: bool = False) -> str:
    """Dollars for the comment: cents from $1, else four significant digits."""
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else ("-" if value < 0 else "")
    v = abs(value)
    body = f"{v:,.2f}" if v >= 1 or v == 0 else f"{v:#.4g}"
    return f"{sign}${body}"


def _signed_int(value: int) -> str:
    return f"{value:+,d}" if value else "0"


# Names in the comment come from the pull request (file and module names, refs, models):
# a name with a backtick, a pipe or a newline must not end its code span, split the table
# or start a line of its own (a heading, an image, an @mention).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PLAIN = re.compile(r"[A-Za-z0-9._:/+-]+")
_MAX_NAME = 200


def _code(text: str, *, table: bool = False) -> str:
    """``text`` as one inline code span: control characters shown escaped, long names cut,
    a fence longer than any run of backticks inside; ``table``: pipes escaped too."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    if len(text) > _MAX_NAME:
        text = text[:_MAX_NAME] + "…"
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _name(text: str, *, table: bool = False) -> str:
    """A model or file name: as written when it holds only characters Markdown leaves
    alone, else as a code span."""
    return text if _PLAIN.fullmatch(text) else _code(text, table=table)


def _markdown(est: PromptCostEstimate) -> str:
    lines = [
        COMMENT_MARKER,
        f"### LLM prompt cost estimate: {_code(est.base)} → {_code(est.head)}",
        "",
        f"Monthly input cost of the prompt templates: **{format_usd(est.usd_per_month_before)} → "
        f"{format_usd(est.usd_per_month_after)}** ({format_usd(est.delta_usd_per_month, signed=True)} per month).",
        "",
        "| prompt | status | model | calls/month | tokens before | tokens after | Δ tokens | $/month before | $/month after | Δ $/month |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in est.prompts:
        key = _code(c.key_after or c.key_before or c.name, table=True)
        if c.key_before and c.key_after and c.key_before != c.key_after:
            key = f"{_code(c.key_before, table=True)} → {_code(c.key_after, table=True)}"
        model = (
            _name(c.model_after or c.model_before or "", table=True)
            if (c.model_after or c.model_before)
            else ""
        )
        if c.model_before and c.model_after and c.model_before != c.model_after:
            model = f"{_name(c.model_before, table=True)} → {_name(c.model_after, table=True)}"
        lines.append(
            f"| {key} | {c.status} | {model} | {c.calls_per_month:,.0f} ({c.traffic_source}) | "
            f"{c.tokens_before:,} | {c.tokens_after:,} | {_signed_int(c.delta_tokens)} | "
            f"{format_usd(c.usd_per_month_before)} | {format_usd(c.usd_per_month_after)} | "
            f"{format_usd(c.delta_usd_per_month, signed=True)} |"
        )
    lines.append(
        f"| **total** | | | | | | | **{format_usd(est.usd_per_month_before)}** | "
        f"**{format_usd(est.usd_per_month_after)}** | **{format_usd(est.delta_usd_per_month, signed=True)}** |"
    )
    added = [c for c in est.prompts if c.status == "added"]
    removed = [c for c in est.prompts if c.status == "removed"]
    lines.append("")
    lines.append(
        "Added prompts: "
        + (
            ", ".join(
                f"{_code(c.key_after or '')}" + (f" ({_name(c.source)})" if c.source else "") for c in added
            )
            if added
            else "none"
        )
        + "."
    )
    lines.append(
        "Removed prompts: "
        + (", ".join(_code(c.key_before or "") for c in removed) if removed else "none")
        + "."
    )
    if not est.prompts:
        lines.append("")
        lines.append(
            "_No prompt templates found at either revision: list them in `pyproject.toml` under "
            "`[tool.llm-cost-hooks]` (`prompt_modules = [...]`, `prompt_files = [...]`)._"
        )
    if any(c.traffic_source == "default" for c in est.prompts):
        lines.append("")
        lines.append(
            "_Prompts marked `default` have no traffic in the ledger; pass `--ledger` or "
            "`--calls-per-month NAME=N` for real numbers._"
        )
    lines.append("")
    lines.append(
        "<sub>Tokens: the template as the model receives it with empty variables (framing and tools "
        "included). Dollars: list input price × tokens × calls per month. "
        f"Commits {_code(est.base_commit[:12])} → {_code(est.head_commit[:12])}. "
        "Generated by `llm-cost pr-estimate`.</sub>"
    )
    return "\n".join(lines) + "\n"
