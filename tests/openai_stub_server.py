"""A small OpenAI-compatible server for the LiteLLM tests (stdlib only).

Serves on 127.0.0.1:

* ``POST /v1/chat/completions`` -- a completion with realistic usage; the next
  ``fail_next`` requests answer 500 (to exercise retries).
* ``POST /v1/files`` (multipart), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``
* ``POST /v1/batches``, ``GET /v1/batches/{id}`` -- a batch goes validating ->
  in_progress -> its final status over successive GETs.
* ``POST /_control`` ``{"batch_modes": [...], "fail_next": n}`` -- how the next batches
  end: ``completed``, ``failed``, ``expired`` (only the first half answered, rest
  missing), ``partial`` (every third custom_id missing from the output file),
  ``errors`` (every fourth request in the error file with status 400).
* ``GET /_stats`` -- counts of uploads, batch creations, polls, chat requests.

Usage follows the request: prompt tokens = characters of all message contents // 4 + 7,
completion tokens = ``max_tokens`` (default 16); both deterministic, so a test can
compute the expected cost.

Run: ``python tests/openai_stub_server.py PORT``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATE: dict[str, Any] = {
    "files": {},  # id -> {"bytes": b"...", "meta": {...}}
    "batches": {},  # id -> {"obj": {...}, "mode": str, "polls": int}
    "batch_modes": [],
    "fail_next": 0,
    "stats": {"uploads": 0, "batch_creates": 0, "batch_polls": 0, "chat": 0, "content": 0},
}
LOCK = threading.Lock()


def usage_for(body: dict[str, Any]) -> dict[str, int]:
    chars = 0
    for m in body.get("messages") or []:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
    prompt = chars // 4 + 7
    completion = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_for(body: dict[str, Any]) -> dict[str, Any]:
    usage = usage_for(body)
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok " * max(1, usage["completion_tokens"] // 2)},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def file_obj(fid: str, size: int, purpose: str, filename: str) -> dict[str, Any]:
    return {
        "id": fid,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not match:
        return {}
    boundary = match.group(1).encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(b"--" + boundary):
        chunk = chunk.strip(b"\r\n")
        if not chunk or chunk == b"--":
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]+)"', headers)
        filename = re.search(r'filename="([^"]*)"', headers)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else None, data.rstrip(b"\r\n"))
    return parts


def finish_batch(batch: dict[str, Any]) -> None:
    obj = batch["obj"]
    mode = batch["mode"]
    now = int(time.time())
    if mode == "failed":
        obj.update(
            status="failed",
            failed_at=now,
            errors={
                "object": "list",
                "data": [
                    {"code": "invalid_model", "message": "stub: batch failed", "param": None, "line": None}
                ],
            },
        )
        return
    lines = [
        json.loads(line)
        for line in STATE["files"][obj["input_file_id"]]["bytes"].splitlines()
        if line.strip()
    ]
    out: list[str] = []
    err: list[str] = []
    for i, req in enumerate(lines):
        if mode == "partial" and i % 3 == 2:
            continue
        if mode == "expired" and i >= len(lines) // 2:
            continue
        if mode == "errors" and i % 4 == 3:
            err.append(
                json.dumps(
                    {
                        "id": f"batch_req_{i}",
                        "custom_id": req["custom_id"],
                        "response": {
                            "status_code": 400,
                            "request_id": f"req_{i}",
                            "body": {
                                "error": {"message": "stub: bad request", "type": "invalid_request_error"}
                            },
                        },
                        "error": None,
                    }
                )
            )
            continue
        out.append(
            json.dumps(
                {
                    "id": f"batch_req_{i}",
                    "custom_id": req["custom_id"],
                    "response": {
                        "status_code": 200,
                        "request_id": f"req_{i}",
                        "body": completion_for(req["body"]),
                    },
                    "error": None,
                }
            )
        )
    total = len(lines)
    if out:
        fid = "file-" + uuid.uuid4().hex[:16]
        data = ("\n".join(out) + "\n").encode()
        STATE["files"][fid] = {"bytes": data, "meta": file_obj(fid, len(data), "batch_output", "out.jsonl")}
        obj["output_file_id"] = fid
    if err:
        fid = "file-" + uuid.uuid4().hex[:16]
        data = ("\n".join(err) + "\n").encode()
        STATE["files"][fid] = {"bytes": data, "meta": file_obj(fid, len(data), "batch_output", "err.jsonl")}
        obj["error_file_id"] = fid
    obj["request_counts"] = {"total": total, "completed": len(out), "failed": len(err)}
    if mode == "expired":
        obj.update(status="expired", expired_at=now)
    else:
        obj.update(status="completed", completed_at=now)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def _send(
        self, code: int, payload: Any, raw: bytes | None = None, ctype: str = "application/json"
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        with LOCK:
            if path == "/_stats":
                return self._send(200, STATE["stats"])
            if path == "/v1/batches":
                data = [b["obj"] for b in STATE["batches"].values()]
                data.sort(key=lambda o: o["created_at"], reverse=True)
                return self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "has_more": False,
                        "first_id": data[0]["id"] if data else None,
                        "last_id": data[-1]["id"] if data else None,
                    },
                )
            if path in ("/health", "/v1/models"):
                return self._send(200, {"object": "list", "data": []})
            m = re.fullmatch(r"/v1/batches/([\w-]+)", path)
            if m:
                batch = STATE["batches"].get(m.group(1))
                if batch is None:
                    return self._send(
                        404, {"error": {"message": "no such batch", "type": "invalid_request_error"}}
                    )
                STATE["stats"]["batch_polls"] += 1
                batch["polls"] += 1
                obj = batch["obj"]
                if obj["status"] == "validating" and batch["polls"] >= 1:
                    obj["status"] = "in_progress"
                    obj["in_progress_at"] = int(time.time())
                elif obj["status"] == "in_progress" and batch["polls"] >= 2:
                    finish_batch(batch)
                return self._send(200, obj)
            m = re.fullmatch(r"/v1/files/([\w-]+)/content", path)
            if m:
                f = STATE["files"].get(m.group(1))
                if f is None:
                    return self._send(
                        404, {"error": {"message": "no such file", "type": "invalid_request_error"}}
                    )
                STATE["stats"]["content"] += 1
                return self._send(200, None, raw=f["bytes"], ctype="application/octet-stream")
            m = re.fullmatch(r"/v1/files/([\w-]+)", path)
            if m and m.group(1) in STATE["files"]:
                return self._send(200, STATE["files"][m.group(1)]["meta"])
        self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        body = self._body()
        with LOCK:
            if path == "/_control":
                ctl = json.loads(body or b"{}")
                if "batch_modes" in ctl:
                    STATE["batch_modes"] = list(ctl["batch_modes"])
                if "fail_next" in ctl:
                    STATE["fail_next"] = int(ctl["fail_next"])
                if ctl.get("reset_stats"):
                    for k in STATE["stats"]:
                        STATE["stats"][k] = 0
                return self._send(200, {"ok": True})
            if path == "/v1/chat/completions":
                STATE["stats"]["chat"] += 1
                if STATE["fail_next"] > 0:
                    STATE["fail_next"] -= 1
                    return self._send(
                        500, {"error": {"message": "stub: server error", "type": "server_error"}}
                    )
                req = json.loads(body)
                if req.get("stream"):
                    return self._stream(req)
                return self._send(200, completion_for(req))
            if path == "/v1/files":
                parts = parse_multipart(body, self.headers.get("Content-Type", ""))
                filename, data = parts.get("file", (None, b""))
                purpose = parts.get("purpose", (None, b"batch"))[1].decode()
                fid = "file-" + uuid.uuid4().hex[:16]
                meta = file_obj(fid, len(data), purpose, filename or "input.jsonl")
                STATE["files"][fid] = {"bytes": data, "meta": meta}
                STATE["stats"]["uploads"] += 1
                return self._send(200, meta)
            if path == "/v1/batches":
                req = json.loads(body)
                if req.get("input_file_id") not in STATE["files"]:
                    return self._send(
                        400, {"error": {"message": "unknown input_file_id", "type": "invalid_request_error"}}
                    )
                STATE["stats"]["batch_creates"] += 1
                bid = "batch_" + uuid.uuid4().hex[:16]
                mode = STATE["batch_modes"].pop(0) if STATE["batch_modes"] else "completed"
                obj = {
                    "id": bid,
                    "object": "batch",
                    "endpoint": req.get("endpoint", "/v1/chat/completions"),
                    "errors": None,
                    "input_file_id": req["input_file_id"],
                    "completion_window": req.get("completion_window", "24h"),
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": int(time.time()),
                    "request_counts": {"total": 0, "completed": 0, "failed": 0},
                    "metadata": req.get("metadata"),
                }
                STATE["batches"][bid] = {"obj": obj, "mode": mode, "polls": 0}
                return self._send(200, obj)
        self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    def _stream(self, req: dict[str, Any]) -> None:
        full = completion_for(req)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": full["id"],
            "object": "chat.completion.chunk",
            "created": full["created"],
            "model": full["model"],
        }
        words = full["choices"][0]["message"]["content"].split(" ")
        for word in words:
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
        if (req.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(
                f"data: {json.dumps({**base, 'choices': [], 'usage': full['usage']})}\n\n".encode()
            )
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
