"""Extra loopback upstreams: a slow SSE stream (for client disconnects) and an always-500 server."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HITS = {"slow": 0, "fail": 0}


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n))
        HITS["slow"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {
            "id": "chatcmpl-slow",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "gpt-4o-mini",
        }
        try:
            for i in range(40):
                self.wfile.write(
                    f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {'content': f'w{i} '}, 'finish_reason': None}]})}\n\n".encode()
                )
                self.wfile.flush()
                time.sleep(0.25)
            self.wfile.write(
                f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n".encode()
            )
            if (req.get("stream_options") or {}).get("include_usage"):
                self.wfile.write(
                    f"data: {json.dumps({**base, 'choices': [], 'usage': {'prompt_tokens': 11, 'completion_tokens': 40, 'total_tokens': 51}})}\n\n".encode()
                )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            HITS["slow_broken"] = HITS.get("slow_broken", 0) + 1
        self.close_connection = True

    def do_GET(self):
        body = json.dumps(HITS).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Fail(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        HITS["fail"] += 1
        body = json.dumps({"error": {"message": "upstream down", "type": "server_error"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = Slow.do_GET


if __name__ == "__main__":
    s1 = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow)
    s2 = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Fail)
    s1.daemon_threads = s2.daemon_threads = True
    threading.Thread(target=s2.serve_forever, daemon=True).start()
    s1.serve_forever()
