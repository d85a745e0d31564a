"""A/B: wall time of poll() on a finished 1,000-request batch (SQLite ledger), which now
waits until the batch's records are written before it saves the state.

    python poll_ab.py REPS    # median ms of poll(), and of poll() + the flush a caller needs anyway
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_cost_hooks.batch import BatchQueue


class Backend:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def upload(self, data: bytes, filename: str) -> str:
        self.files[f"f{len(self.files)}"] = data
        return f"f{len(self.files) - 1}"

    def create(self, input_file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        body = {
            "choices": [{"message": {"content": "ok"}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 60},
        }
        out = [
            {"custom_id": json.loads(x)["custom_id"], "response": {"status_code": 200, "body": body}}
            for x in self.files[input_file_id].splitlines()
        ]
        self.files["out"] = b"\n".join(json.dumps(x).encode() for x in out)
        self.batches["b"] = {"id": "b", "status": "completed", "output_file_id": "out", "metadata": metadata}
        return self.batches["b"]

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self.batches[batch_id]

    def content(self, file_id: str) -> bytes:
        return self.files[file_id]

    def find(self, key: str, value: str) -> dict[str, Any] | None:
        return None


def once() -> tuple[float, float]:
    d = Path(tempfile.mkdtemp())
    q = BatchQueue(Backend(), d / "s.json", ledger=f"sqlite:///{d / 'l.db'}")
    for i in range(1000):
        q.add(
            "gpt-4o-mini",
            [{"role": "user", "content": f"q{i}"}],
            custom_id=f"r{i}",
            metadata={"tenant_id": "a"},
        )
    q.submit()
    t = time.perf_counter()
    q.poll(force=True)
    polled = time.perf_counter() - t
    q.tracker.flush()
    total = time.perf_counter() - t
    q.tracker.close()
    return polled, total


if __name__ == "__main__":
    runs = [once() for _ in range(int(sys.argv[1]))]
    print(
        f"poll {statistics.median(r[0] for r in runs) * 1e3:.1f} ms  "
        f"poll+flush {statistics.median(r[1] for r in runs) * 1e3:.1f} ms"
    )
