"""Fine-tuning data from real traffic: capture content for opted-in routes, export JSONL.

Content (prompts and answers) is never stored unless the user opts in: a
:class:`ContentCapture` observer keeps it only for the routes it is given (or for every
route when ``Settings.capture_content`` is on), passes every text through the redaction
hooks first, and links each entry to its cost record by ``request_id``.
:func:`export_finetune` then writes the successful answers of one route's (strong) model
as OpenAI chat fine-tuning JSONL: ``{"messages": [..., {"role": "assistant", ...}]}``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .._errors import ConfigurationError
from .._records import CostRecord
from ..tracking import RunInfo, RunObserver

__all__ = ["ContentCapture", "ExportSummary", "export_finetune", "redact_pii"]

Redactor = Callable[[str], str]

_PII: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[EMAIL]"),
    (re.compile(r"\b(?:\d[ -]?){13,19}\b"), "[CARD]"),
    (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b"), "[IBAN]"),
    (re.compile(r"(?<!\w)\+?\d[\d ()-]{7,}\d\b"), "[PHONE]"),
)


def redact_pii(text: str) -> str:
    """A basic redaction hook: e-mail addresses, card, IBAN and phone numbers.

    >>> redact_pii("Mail jo@example.com or call +44 20 7946 0958 about card 4111 1111 1111 1111")
    'Mail [EMAIL] or call [PHONE] about card [CARD]'
    """
    for pattern, label in _PII:
        text = pattern.sub(label, text)
    return text


def _apply(text: str, hooks: Sequence[Redactor]) -> str:
    for hook in hooks:
        text = hook(text)
    return text


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                return None  # images, files: not exportable as text
        return "".join(parts)
    return None


def _answer(outputs: Any) -> str | None:
    gens = getattr(outputs, "generations", None)
    if gens and gens[0]:
        g = gens[0][0]
        message = getattr(g, "message", None)
        if message is not None and getattr(message, "tool_calls", None):
            return None  # tool-calling turns need the tool schema: left out
        return getattr(g, "text", None) or (
            _text(getattr(message, "content", None)) if message is not None else None
        )
    return None


class ContentCapture(RunObserver):
    """Stores prompt and answer of successful model calls of opted-in routes (JSONL).

    ``routes``: the routes (record ``route``) to capture; ``None`` captures every route
    only when ``Settings.capture_content`` is on. ``redact``: hooks run on every text
    before it is written.

    >>> import tempfile, os
    >>> cap = ContentCapture(os.path.join(tempfile.mkdtemp(), "c.jsonl"), routes=["strong"])
    >>> cap.allows("strong"), cap.allows("cheap")
    (True, False)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        routes: Iterable[str] | None = None,
        redact: Sequence[Redactor] = (redact_pii,),
        settings: Any = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.routes = set(routes) if routes is not None else None
        if self.routes is None:
            if settings is None:
                from .._settings import get_settings

                settings = get_settings()
            self._all = bool(settings.capture_content)
        else:
            self._all = False
        self.redact = list(redact)
        self._lock = threading.Lock()

    def allows(self, route: str | None) -> bool:
        return self._all or (self.routes is not None and route in self.routes)

    def on_run_end(
        self,
        run: RunInfo,
        *,
        record: CostRecord | None,
        error: BaseException | None,
        task: Any,
        outputs: Any = None,
    ) -> None:
        if record is None or error is not None or not record.success or not self.allows(record.route):
            return
        messages = run.messages() if callable(run.messages) else run.messages
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        answer = _answer(outputs)
        if not messages or answer is None:
            return
        clean = []
        for m in messages:
            text = _text(m.get("content")) if isinstance(m, Mapping) else None
            if text is None or m.get("role") not in ("system", "user", "assistant"):
                return  # tool turns / images: not a plain chat example
            clean.append({"role": m["role"], "content": _apply(text, self.redact)})
        line = {
            "request_id": record.request_id,
            "route": record.route,
            "model": record.model,
            "messages": clean,
            "answer": _apply(answer, self.redact),
        }
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


class ExportSummary(BaseModel):
    """How many examples :func:`export_finetune` wrote and why others were left out.

    >>> import json, os, tempfile
    >>> from llm_cost_hooks import CostRecord
    >>> tmp = tempfile.TemporaryDirectory()
    >>> content = os.path.join(tmp.name, "content.jsonl")  # as ContentCapture writes it
    >>> with open(content, "w") as f:
    ...     _ = f.write(json.dumps({"request_id": "r1", "answer": "It ships in 3-5 days.",
    ...         "messages": [{"role": "user", "content": "Where is my card?"}]}))
    >>> records = [CostRecord(model="gpt-4o", route="strong", request_id="r1"),
    ...            CostRecord(model="gpt-4o", route="strong", request_id="r2"),  # not captured
    ...            CostRecord(model="gpt-4o", route="strong", request_id="r3", success=False)]
    >>> out = os.path.join(tmp.name, "train.jsonl")
    >>> summary = export_finetune(records, content, out, route="strong")
    >>> summary.written, summary.skipped_no_content, summary.skipped_failed, summary.skipped_other_model
    (1, 1, 1, 0)
    >>> tmp.cleanup()
    """

    written: int
    skipped_no_content: int
    skipped_failed: int
    skipped_other_model: int
    out: str


def export_finetune(
    records: Iterable[CostRecord],
    content_path: str | Path,
    out_path: str | Path,
    *,
    route: str | None = None,
    model: str | None = None,
    feature: str | None = None,
    failed_tasks: Iterable[str] = (),
    redact: Sequence[Redactor] = (),
) -> ExportSummary:
    """Write OpenAI chat fine-tuning JSONL from the captured content of the records that
    match ``route``/``model``/``feature``, succeeded, and whose task did not fail.

    >>> import json, os, tempfile
    >>> from llm_cost_hooks import CostRecord
    >>> tmp = tempfile.TemporaryDirectory()
    >>> content = os.path.join(tmp.name, "content.jsonl")  # as ContentCapture writes it
    >>> with open(content, "w") as f:
    ...     _ = f.write(json.dumps({"request_id": "r1", "answer": "It ships in 3-5 days.",
    ...         "messages": [{"role": "user", "content": "Where is my card?"}]}))
    >>> records = [CostRecord(model="gpt-4o", route="strong", request_id="r1"),
    ...            CostRecord(model="gpt-4o", route="strong", request_id="r2"),  # not captured
    ...            CostRecord(model="gpt-4o", route="strong", request_id="r3", success=False)]
    >>> out = os.path.join(tmp.name, "train.jsonl")
    >>> summary = export_finetune(records, content, out, route="strong")
    >>> summary.written
    1
    >>> print(open(out).read().strip())
    {"messages": [{"role": "user", "content": "Where is my card?"}, {"role": "assistant", "content": "It ships in 3-5 days."}]}
    >>> tmp.cleanup()
    """
    content_file = Path(content_path)
    if not content_file.is_file():
        raise ConfigurationError(
            f"No captured content at {str(content_file)!r}: add ContentCapture(path, routes=[...]) to the "
            "tracker's observers for the routes you want to export (content is never stored otherwise)."
        )
    content: dict[str, dict[str, Any]] = {}
    with content_file.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                entry = None
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("request_id"), str)
                and isinstance(entry.get("messages"), list)
                and "answer" in entry
            ):
                raise ConfigurationError(
                    f"{str(content_file)!r} line {number} is not captured content (a JSON object with "
                    "request_id, messages and answer, as ContentCapture writes): pass the file "
                    "ContentCapture(path, ...) wrote as --content."
                )
            content[entry["request_id"]] = entry
    failed = set(failed_tasks)
    written = no_content = bad = other = 0
    out = Path(out_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle = out.open("w", encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"Cannot write the fine-tuning file {str(out)!r}: {exc}") from exc
    with handle as f:
        for r in records:
            if (route and r.route != route) or (feature and r.feature != feature):
                continue
            if model and r.model != model:
                other += 1
                continue
            if not r.success or (r.task_id in failed):
                bad += 1
                continue
            entry = content.get(r.request_id)
            if entry is None:
                no_content += 1
                continue
            messages = [
                {"role": m["role"], "content": _apply(m["content"], redact)} for m in entry["messages"]
            ]
            messages.append({"role": "assistant", "content": _apply(entry["answer"], redact)})
            f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            written += 1
    return ExportSummary(
        written=written,
        skipped_no_content=no_content,
        skipped_failed=bad,
        skipped_other_model=other,
        out=str(out),
    )
