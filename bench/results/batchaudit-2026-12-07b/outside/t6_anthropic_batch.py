# Anthropic Message Batches results (native JSONL) -> LiteLLM's own transform -> our queue.
import json
import os
import tempfile

from fake import Fake
from litellm.llms.anthropic.files.handler import AnthropicFilesHandler

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.batch import Backoff, BatchQueue

h = AnthropicFilesHandler()


class AnthropicFake(Fake):
    def retrieve(self, batch_id):
        b = self.batches[batch_id]
        reqs = [json.loads(ln) for ln in self.files[b["input"]].splitlines()]
        native = []
        for r in reqs:
            cid = r["custom_id"]
            if cid == "e1":
                native.append(
                    {
                        "custom_id": cid,
                        "result": {
                            "type": "errored",
                            "error": {
                                "type": "error",
                                "error": {"type": "invalid_request_error", "message": "bad"},
                            },
                        },
                    }
                )
            elif cid == "x1":
                native.append({"custom_id": cid, "result": {"type": "expired"}})
            else:
                native.append(
                    {
                        "custom_id": cid,
                        "result": {
                            "type": "succeeded",
                            "message": {
                                "id": "msg_1",
                                "type": "message",
                                "role": "assistant",
                                "model": "claude-sonnet-4-5-20250929",
                                "content": [{"type": "text", "text": "ok"}],
                                "stop_reason": "end_turn",
                                "stop_sequence": None,
                                "usage": {
                                    "input_tokens": 500,
                                    "cache_read_input_tokens": 2000,
                                    "cache_creation_input_tokens": 500,
                                    "output_tokens": 100,
                                },
                            },
                        },
                    }
                )
        of = f"file-{next(self.n)}"
        self.files[of] = h._transform_anthropic_batch_results_to_openai_format(
            b"".join(json.dumps(x).encode() + b"\n" for x in native)
        )
        b.update(status="completed", output_file_id=of)
        return dict(b)


d = tempfile.mkdtemp()
be = AnthropicFake()
q = BatchQueue(
    be,
    os.path.join(d, "s.json"),
    ledger=f"sqlite:///{d}/l.db",
    provider="anthropic",
    backoff=Backoff(initial=0.01),
    max_resubmits=0,
)
for cid in ("ok1", "e1", "x1"):
    q.add(
        "claude-sonnet-4-5",
        [{"role": "user", "content": "hi"}],
        custom_id=cid,
        metadata={"tenant_id": "acme"},
    )
res = q.run(timeout=5)
print(be.files[[k for k in be.files][-1]].decode()[:600])
q.tracker.flush()
pb = PriceBook.default()
for r in q.tracker.ledger.records():
    print(
        r.request_id,
        r.success,
        r.input_tokens,
        r.cache_read_tokens,
        r.cache_write_tokens,
        r.output_tokens,
        r.cost_usd,
        r.saved_usd,
        r.cache_status.value,
        r.tags,
        r.tokens_estimated,
    )
print({k: (v.status.value, v.error) for k, v in res.items()})
u = TokenUsage(input_tokens=3000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500)
print(
    "expected batch",
    pb.cost(u, "claude-sonnet-4-5", batch=True).total,
    "uncached realtime",
    pb.cost(TokenUsage(input_tokens=3000, output_tokens=100), "claude-sonnet-4-5").total,
)
