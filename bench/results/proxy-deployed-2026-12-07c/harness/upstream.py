"""A loopback OpenAI-compatible upstream whose behaviour is chosen by the path prefix.

/ok/v1/chat/completions     answers at once (stream or not) with usage
/slow/v1/chat/completions   answers after SLOW seconds (requests in flight at a SIGTERM)
/fail/v1/chat/completions   500 every time
/hang/v1/chat/completions   never answers within the proxy's timeout (sleeps 60 s)
GET /_stats                 requests seen per prefix

Usage: prompt tokens = characters of the messages // 4 + 7, completion = max_tokens (16).
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
HITS: dict[str, int] = {}
LOCK = threading.Lock()


def usage(body):
    chars = sum(
        len(m.get("content")) for m in body.get("messages") or [] if isinstance(m.get("content"), str)
    )
    p, c = chars // 4 + 7, int(body.get("max_tokens") or 16)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            self._send(200, dict(HITS))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        kind = self.path.strip("/").split("/")[0]
        with LOCK:
            HITS[kind] = HITS.get(kind, 0) + 1
        if kind == "fail":
            return self._send(500, {"error": {"message": "upstream down", "type": "server_error"}})
        if kind == "hang":
            time.sleep(60)
        if kind == "slow":
            time.sleep(SLOW)
        u = usage(body)
        n = u["completion_tokens"]
        base = {"id": "chatcmpl-up", "created": int(time.time()), "model": body.get("model", "gpt-4o-mini")}
        if not body.get("stream"):
            return self._send(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "usage": u,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": " ".join(["w"] * n)},
                        }
                    ],
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for i in range(n):
                ch = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": "w "}, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(ch)}\n\n".encode())
            ch = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            self.wfile.write(f"data: {json.dumps(ch)}\n\n".encode())
            if (body.get("stream_options") or {}).get("include_usage"):
                ch = {**base, "object": "chat.completion.chunk", "choices": [], "usage": u}
                self.wfile.write(f"data: {json.dumps(ch)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


if __name__ == "__main__":
    s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    s.daemon_threads = True
    s.serve_forever()
