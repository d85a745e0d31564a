"""The framework-free preparation of ``llm-cost demo``: the warm caches and calibrated
semantic policy, retrieval for e-mails and the trained router, done once per run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._report import Progress
from ._support import answer_text, system_prompt
from ._workload import Workload

RETRIEVED_TICKETS = 8
CACHE_TARGET_PRECISION = 0.98  # semantic hits must be right this often (95% lower bound on calibration data)
CALIBRATION_QUERIES = 600
PREFILL_MIN = 100

_VECTORS: dict[tuple[str, str], Any] = {}  # (embedder, text) -> vector, shared by runs in one process


class MemoEmbedder:
    """The offline embedder with a memo: each distinct text is embedded once (calibration,
    retrieval and every replay use the same vectors; a deterministic function, so
    memoising changes no result)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        if len(_VECTORS) > 50_000:
            _VECTORS.clear()
        self._memo = _MemoView(inner.name)

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        for start in range(0, len(todo), 64):
            chunk = todo[start : start + 64]
            for t, v in zip(chunk, self.inner.embed(chunk)):
                self._memo[t] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    def embed_one(self, text: str) -> Any:
        return self.embed([text])[0]


class _MemoView:
    def __init__(self, name: str) -> None:
        self.name = name

    def __contains__(self, text: str) -> bool:
        return (self.name, text) in _VECTORS

    def __getitem__(self, text: str) -> Any:
        return _VECTORS[(self.name, text)]

    def __setitem__(self, text: str, vec: Any) -> None:
        _VECTORS[(self.name, text)] = vec


def short_outcomes(data: Any) -> Any:
    """``data`` as an OutcomeDataset whose repr is one line: LangChain puts a model's fields
    into its cache key with ``str()``, and the dataclass repr of thousands of prompts made
    every cached call of a replayed model slow (ReplayChatModel keeps the dataset as a field)."""
    import dataclasses

    from ..routing import OutcomeDataset

    class _Short(OutcomeDataset):
        def __repr__(self) -> str:
            return f"OutcomeDataset(source={self.source!r}, rows={len(self)}, tiers={self.tiers})"

    _Short.__name__ = _Short.__qualname__ = "OutcomeDataset"
    return _Short(**{f.name: getattr(data, f.name) for f in dataclasses.fields(data)})


class Prepared:
    """Everything prepared once per run, framework-free: what the support model knows, the
    warm cache entries and calibrated semantic policy, retrieval for e-mails, the router."""

    def __init__(self, workload: Workload, data: Any, progress: Progress) -> None:
        from ..cache import calibrate_intents
        from ..embeddings import default_embedder
        from ..routing import HashingEmbedder, QualityTarget, RouterModel, TrainedRouter

        self.workload = workload
        support = [r for r in workload.requests.values() if r.kind != "assistant"]
        self.intents = {r.text: r.intent for r in support}  # what the stand-in model "knows"
        self.system = system_prompt(data.banking_train)
        self.embedder = MemoEmbedder(default_embedder())

        # The caches start warm with earlier traffic (train queries, answered before the
        # replay and not billed in it). The semantic policy is calibrated on other train
        # queries looked up in exactly those entries: the neighbourhoods it learns from are
        # the ones it will see.
        n_chat = sum(1 for r in support if r.kind == "support_chat")
        train = data.banking_train
        n_entries = max(1, min(len(train) // 2, max(PREFILL_MIN, 2 * n_chat)))
        n_queries = min(len(train) - n_entries, CALIBRATION_QUERIES, max(PREFILL_MIN, 2 * n_chat))
        total = n_entries + n_queries
        picked = [train[int(i * len(train) / total)] for i in range(total)]

        def entries_before(i: int) -> int:  # ceil(i * n_entries / total): entries spread evenly
            return -(-i * n_entries // total)

        entry = [entries_before(i + 1) > entries_before(i) for i in range(total)]
        entries = [row for row, e in zip(picked, entry) if e]
        queries = [row for row, e in zip(picked, entry) if not e]
        sample = entries + queries
        self.prefill = entries  # "yesterday's" chat traffic: the caches start warm with it
        self.intents = {**{t: c for t, c in entries}, **self.intents}
        progress.advance("calibrating semantic cache", 0)
        self.calibration = calibrate_intents(
            [t for t, _ in queries],
            [c for _, c in queries],
            embedder=self.embedder,
            cache_texts=[t for t, _ in entries],
            cache_labels=[c for _, c in entries],
            target_precision=CACHE_TARGET_PRECISION,
            kind="combined",
            holdout=0.0,
            # The warm entries span every intent the replay asks about.
            new_questions=False,
        )  # the replay is the held-out check
        self.policy = self.calibration.policy

        # Retrieval for e-mails: the most similar resolved tickets of the calibration sample.
        import numpy as np

        emails = [r for r in support if r.kind == "support_email"]
        self.retrieved: dict[str, list[tuple[str, float]]] = {}
        if emails:
            lib = self.embedder.embed([t for t, _ in sample])
            q = self.embedder.embed([r.text for r in emails])
            sims = q @ lib.T
            for r, row in zip(emails, sims):
                top = np.argsort(-row, kind="stable")[:RETRIEVED_TICKETS]
                self.retrieved[r.key] = [
                    (
                        f'Resolved ticket ({sample[j][1].replace("_", " ")}). Customer wrote: "{sample[j][0]}" '
                        f"Resolution sent: {answer_text(sample[j][1])}",
                        float(row[j]),
                    )
                    for j in top
                ]

        # Router: trained on one RouterBench split, calibrated on another, replayed on a third.
        progress.advance("training the router", 0)
        self.router_embedder = MemoEmbedder(HashingEmbedder(256))
        model = RouterModel.fit(workload.routerbench_train, self.router_embedder)
        self.router = TrainedRouter(model, embedder=self.router_embedder)
        self.router_point = self.router.calibrate(workload.routerbench_calibration, QualityTarget(share=0.95))
        self.replay_data = short_outcomes(workload.routerbench_replay)
        self.strongest = workload.routerbench_train.strongest  # judged on training rows only

    def email_thread(self, key: str) -> list[tuple[str, str, dict[str, Any]]]:
        """An e-mail's context as ``(role, text, extra)`` turns: the thread's earlier queries
        with their answers, then the retrieved tickets. The tickets go after the thread, in
        user turns: Anthropic hoists system messages into the system prompt, where
        per-request text would end the cacheable prefix."""
        req = self.workload.requests[key]
        turns: list[tuple[str, str, dict[str, Any]]] = []
        for earlier in req.history:
            prev = self.workload.requests[earlier]
            turns += [("human", prev.text, {}), ("ai", answer_text(str(prev.intent)), {})]
        for doc, score in self.retrieved.get(key, []):
            turns.append(("human", f"Reference: {doc}", {"segment": "retrieved", "score": round(score, 6)}))
        return turns
