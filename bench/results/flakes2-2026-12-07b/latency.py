"""Time from ``litellm.acompletion()`` to the request reaching a local server, for the
first call of a process (as in the cancelled-call test of test_litellm_loop_end_no_loss)."""

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import litellm

arrived = threading.Event()


class Provider(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        arrived.set()
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
threading.Thread(target=server.serve_forever, daemon=True).start()


async def main() -> None:
    t0 = time.monotonic()
    task = asyncio.ensure_future(
        litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            num_retries=0,
            api_key="test",
            api_base=f"http://127.0.0.1:{server.server_port}/v1",
        )
    )
    while not arrived.is_set():
        await asyncio.sleep(0.001)
    print(f"{time.monotonic() - t0:.3f}")
    task.cancel()
    try:
        await task
    except BaseException:
        pass


asyncio.run(main())
