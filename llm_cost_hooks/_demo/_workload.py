"""The demo's data and the workload built from it, deterministically.

Two real sources (rows copied as published, nothing invented; a compact subset ships in
``data/``, see its README.md):

* Banking77 (PolyAI, CC BY 4.0): real online-banking customer queries with their intent.
  The test split is the replayed support traffic; the train split gives the support
  bot's few-shot examples, the "resolved tickets" it retrieves for e-mails, and the
  semantic cache's calibration set.
* RouterBench (MIT; ARC-Challenge, Winogrande, MBPP prompts with the real answers,
  correctness and dollar cost of 11 models). A seeded split keeps the replayed prompts
  apart from the ones the router is trained and calibrated on.

The workload's shape is derived from hashes of the texts, so the same data always gives
the same workload and other data gives another: which support customers write e-mails
(threads with history, deferrable) rather than chat, which requests are retried with the
same idempotency key (a client timeout or a double submit) and which are asked again
later as a new request.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BUNDLED_DATA",
    "DATA_HINT",
    "DemoData",
    "Request",
    "Submission",
    "Workload",
    "build_workload",
    "data_dir",
    "load_demo_data",
]

DATA_HINT = (
    "The demo replays two real data sets. A compact subset ships with the package (used when no\n"
    "folder is given); --data DIR or LLM_COST_HOOKS_DATA_DIR takes the full sets, laid out like this:\n"
    "  DIR/semantic_cache/banking77/test.csv.gz and train.csv.gz  (columns text, category)\n"
    "      Banking77, PolyAI, CC BY 4.0: https://github.com/PolyAI-LDN/task-specific-datasets\n"
    "      (banking_data/test.csv and train.csv, gzip-compressed)\n"
    "  DIR/routing/routerbench_train/*.csv.gz  (RouterBench layout: prompt, <model>, <model>|total_cost,\n"
    "      <model>|model_response, eval_name), e.g. arc_challenge_train.csv.gz, mbpp_train.csv.gz,\n"
    "      winograde_train.csv.gz from https://github.com/shuhao02/RouterDC (datasets/routerbench_zs/),\n"
    "      a subset of RouterBench (MIT): https://huggingface.co/datasets/withmartian/routerbench\n"
    "  The shipped subset's README.md (llm_cost_hooks/_demo/data/) lists the exact source commits.\n"
    "Nothing is downloaded and no data is made up: without these files the demo does not run."
)

# Workload shape (shares of requests; fixed, not fitted to any data set).
RETRY_PER_MILLE = 60  # resubmitted at once with the same idempotency key (timeout, double submit)
REASK_PER_MILLE = 40  # asked again later as a new request (new key): exact-cache material
REASK_GAP = 25  # positions later in the replay
EMAIL_CUSTOMER_SHARE = 3  # one customer in 3 writes e-mails instead of chatting
TICKETS_PER_CUSTOMER = 3


BUNDLED_DATA = Path(__file__).resolve().parent / "data"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the demo's data lives: ``--data``, ``$LLM_COST_HOOKS_DATA_DIR``, or the
    compact subset shipped in the package."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LLM_COST_HOOKS_DATA_DIR")
    if env:
        return Path(env)
    return BUNDLED_DATA


def _h(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def _read_intents(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"text", "category"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns text, category; found {reader.fieldnames}")
        return [(r["text"].strip(), r["category"].strip()) for r in reader if r["text"].strip()]


@dataclass
class DemoData:
    """The two real sources, loaded."""

    root: Path
    banking_test: list[tuple[str, str]]
    banking_train: list[tuple[str, str]]
    routerbench: Any  # llm_cost_hooks.routing.OutcomeDataset


def load_demo_data(root: Path) -> DemoData | str:
    """Load the data under ``root``; returns an error message (what is missing) instead."""
    bank = root / "semantic_cache" / "banking77"
    rb = root / "routing" / "routerbench_train"
    missing = [str(p) for p in (bank / "test.csv.gz", bank / "train.csv.gz") if not p.is_file()]
    rb_files = sorted(p for p in rb.glob("*.csv*") if p.is_file()) if rb.is_dir() else []
    if not rb_files:
        missing.append(f"{rb}/*.csv.gz")
    if missing:
        return "No demo data found: missing " + ", ".join(missing) + "."
    try:
        from ..routing import load_outcomes

        outcomes = load_outcomes([str(p) for p in rb_files], layout="routerbench")
        test, train = _read_intents(bank / "test.csv.gz"), _read_intents(bank / "train.csv.gz")
    except Exception as exc:
        return f"Demo data under {root} could not be read: {type(exc).__name__}: {exc}"
    if not outcomes.responses:
        return f"{rb}: the RouterBench files carry no '<model>|model_response' columns to replay."
    if len(test) < 2 or len(train) < 2 or len(outcomes) < 10:
        return (
            f"Demo data under {root} is too small to replay (need Banking77 rows and >= 10 RouterBench rows)."
        )
    return DemoData(root=root, banking_test=test, banking_train=train, routerbench=outcomes)


@dataclass
class Request:
    """One distinct request of the workload."""

    key: str
    kind: str  # support_chat | support_email | assistant
    text: str
    intent: str | None = None  # Banking77 label (support)
    row: int | None = None  # RouterBench replay row (assistant)
    customer: str | None = None
    history: list[str] = field(default_factory=list)  # earlier e-mails of the same thread (keys)

    @property
    def deferrable(self) -> bool:
        """E-mails may be answered within hours: they can go to a provider's batch API."""
        return self.kind == "support_email"


@dataclass
class Submission:
    """One submission of a request: the original, a retry, or a later re-ask."""

    request: Request
    how: str  # original | retry | reask
    task: str
    idempotency_key: str


@dataclass
class Workload:
    """The replayed submissions in order, and what they were built from."""

    submissions: list[Submission]
    requests: dict[str, Request]
    routerbench_replay: Any  # OutcomeDataset rows replayed (never trained on)
    routerbench_train: Any  # OutcomeDataset rows the router is fitted on
    routerbench_calibration: Any  # OutcomeDataset rows the router is calibrated on

    def count(self, *, kind: str | None = None, how: str | None = None) -> int:
        return sum(
            1
            for s in self.submissions
            if (kind is None or s.request.kind == kind) and (how is None or s.how == how)
        )


def _spread(n_rows: int, n: int) -> list[int]:
    """``n`` row indices spread evenly over ``n_rows`` (every label gets its share)."""
    if n >= n_rows:
        return list(range(n_rows))
    return [int(i * n_rows / n) for i in range(n)]


def build_workload(data: DemoData, limit: int) -> Workload:
    """About ``limit`` distinct requests, half support tickets, half assistant prompts,
    plus the retries and re-asks the hashes select."""
    replay, rest = data.routerbench.split(0.5, seed=0)
    fit, calibration = rest.split(0.3, seed=1)
    n_support = min(len(data.banking_test), max(1, limit // 2))
    n_assistant = min(len(replay), max(1, limit - n_support))

    requests: list[Request] = []
    for i in _spread(len(data.banking_test), n_support):
        text, intent = data.banking_test[i]
        requests.append(Request(key=f"b77-{i}", kind="support_chat", text=text, intent=intent))
    for j in _spread(len(replay), n_assistant):
        requests.append(
            Request(
                key=f"rb-{replay.ids[j] if replay.ids else j}",
                kind="assistant",
                text=replay.prompts[j],
                row=j,
            )
        )
    requests.sort(key=lambda r: (_h("order", r.text), r.key))

    # Support customers: a few tickets each; e-mail customers' tickets form a thread.
    n_customers = max(1, n_support // TICKETS_PER_CUSTOMER)
    threads: dict[str, list[str]] = {}
    for r in requests:
        if r.kind != "support_chat":
            continue
        r.customer = f"customer-{_h('customer', r.text) % n_customers}"
        if _h("channel", r.customer) % EMAIL_CUSTOMER_SHARE == 0:
            r.kind = "support_email"
            r.history = list(threads.get(r.customer, []))
            threads.setdefault(r.customer, []).append(r.key)

    ordered: list[tuple[tuple[int, int, int], Submission]] = []
    for pos, r in enumerate(requests):
        ordered.append(((pos, 0, 0), Submission(r, "original", r.key, f"idem-{r.key}")))
        u = _h("duplicate", r.text) % 1000
        if u < RETRY_PER_MILLE:
            ordered.append(((pos, 1, 0), Submission(r, "retry", r.key, f"idem-{r.key}")))
        elif u < RETRY_PER_MILLE + REASK_PER_MILLE and r.kind != "support_email":
            ordered.append(
                ((pos + REASK_GAP, 2, pos), Submission(r, "reask", f"{r.key}#again", f"idem-{r.key}#again"))
            )
    ordered.sort(key=lambda x: x[0])
    return Workload(
        submissions=[s for _, s in ordered],
        requests={r.key: r for r in requests},
        routerbench_replay=replay,
        routerbench_train=fit,
        routerbench_calibration=calibration,
    )
