"""Webhook receiver: appends each POST body as a line to OUT; MODE ok|500|slow|down."""

import http.server
import json
import sys
import threading
import time

port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock, open(out, "a") as f:
            f.write(
                json.dumps(
                    {"t": time.time(), "mode": mode, "headers": dict(self.headers), "body": json.loads(body)}
                )
                + "\n"
            )
        if mode == "slow":
            time.sleep(10)
        code = 500 if mode == "500" else 200
        try:
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
