import itertools
import json


class Fake:
    """An in-process OpenAI-shaped files+batches backend
    the test decides each line."""

    def __init__(self, answer=None, status="completed", order=None, extra_lines=(), errors=()):
        self.files, self.batches, self.n = {}, {}, itertools.count()
        self.answer = answer or (lambda req: {"prompt_tokens": 1000, "completion_tokens": 100})
        self.status, self.order, self.extra, self.errors = status, order, list(extra_lines), set(errors)
        self.creates = 0

    def upload(self, data, filename):
        fid = f"file-{next(self.n)}"
        self.files[fid] = data
        return fid

    def create(self, input_file_id, endpoint, metadata):
        self.creates += 1
        bid = f"batch-{next(self.n)}"
        self.batches[bid] = {"id": bid, "status": "in_progress", "metadata": metadata, "input": input_file_id}
        return dict(self.batches[bid])

    def retrieve(self, batch_id):
        b = self.batches[batch_id]
        if b["status"] == "in_progress":
            reqs = [json.loads(ln) for ln in self.files[b["input"]].splitlines()]
            out, err = [], []
            for r in reqs:
                if r["custom_id"] in self.errors:
                    err.append(
                        {
                            "custom_id": r["custom_id"],
                            "response": {"status_code": 400, "body": {"error": {"message": "bad"}}},
                            "error": None,
                        }
                    )
                    continue
                u = self.answer(r)
                if u is None:
                    continue
                out.append(
                    {
                        "id": "x",
                        "custom_id": r["custom_id"],
                        "response": {
                            "status_code": 200,
                            "body": {
                                "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                                "usage": u,
                            },
                        },
                        "error": None,
                    }
                )
            if self.order:
                out = self.order(out)
            out += self.extra
            of, ef = f"file-{next(self.n)}", f"file-{next(self.n)}"
            self.files[of] = b"".join(json.dumps(ln).encode() + b"\n" for ln in out)
            self.files[ef] = b"".join(json.dumps(ln).encode() + b"\n" for ln in err)
            b.update(status=self.status, output_file_id=of, error_file_id=ef if err else None)
        return dict(b)

    def content(self, file_id):
        return self.files[file_id]

    def find(self, k, v):
        return next((dict(b) for b in self.batches.values() if b["metadata"].get(k) == v), None)
