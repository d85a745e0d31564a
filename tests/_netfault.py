"""A TCP proxy on 127.0.0.1 that can cut the network to a test server like a partition does.

``NetFault(target_port)`` listens on a free port and forwards every connection to
``127.0.0.1:target_port``. Switches:

* ``pass_()`` -- forward both ways (the start state).
* ``blackhole()`` -- packets go nowhere: new connections are accepted and held, existing
  ones stay open, nothing is forwarded and nothing is answered. Bytes sent meanwhile stay
  in the socket buffers, as TCP would keep retransmitting them. ``blackhole(replies=True)``
  cuts only the way back: requests reach the server, its answers are held.
* ``refuse()`` -- the server is gone: new connections are refused, open ones are reset.
* ``heal()`` -- forward again; what a black hole held is delivered late (a command sent
  during the partition may still run on the server, as after a real one).

Threads only, no external tools; this module must not import ``llm_cost_hooks``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

_POLL = 0.02


class NetFault:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._forward = threading.Event()  # client -> server
        self._forward.set()
        self._back = threading.Event()  # server -> client
        self._back.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.port = 0
        self.accepted = 0  # connections accepted so far (tests check a client reconnected)
        self._listen()

    # -- switches -----------------------------------------------------------
    def pass_(self) -> None:
        self._listen()
        self._forward.set()
        self._back.set()

    heal = pass_

    def blackhole(self, replies: bool = False) -> None:
        self._listen()
        self._back.clear()
        if not replies:
            self._forward.clear()

    def refuse(self) -> None:
        self._forward.clear()
        self._back.clear()
        with self._lock:
            listener, self._listener = self._listener, None
            socks, self._socks = self._socks, set()
        if listener is not None:
            with contextlib.suppress(OSError):  # stops listening now, not when accept() wakes
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            if self._acceptor is not None and self._acceptor is not threading.current_thread():
                self._acceptor.join(1.0)
        for s in socks:  # RST, like a server that died
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def close(self) -> None:
        self._closed.set()
        self.refuse()

    def __enter__(self) -> NetFault:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # -- machinery ------------------------------------------------------------
    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None or self._closed.is_set():
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(64)
            s.settimeout(_POLL)
            self.port = s.getsockname()[1]
            self._listener = s
        self._acceptor = threading.Thread(target=self._accept, args=(s,), daemon=True)
        self._acceptor.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._socks.add(client)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _wait_forward(self, sock: socket.socket, way: threading.Event | None = None) -> bool:
        """Wait until forwarding (``way``) is on; False if ``sock`` was dropped meanwhile."""
        way = way or self._forward
        while not way.wait(_POLL):
            if sock not in self._socks:
                return False
        return sock in self._socks

    def _serve(self, client: socket.socket) -> None:
        if not self._wait_forward(client):  # a connection made during a black hole waits
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._drop(client)
            return
        with self._lock:
            self._socks.add(upstream)
        back = threading.Thread(target=self._pump, args=(upstream, client, self._back), daemon=True)
        back.start()
        self._pump(client, upstream, self._forward)
        back.join()
        self._drop(client, upstream)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._socks.discard(s)
        for s in socks:
            s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, way: threading.Event) -> None:
        try:
            while self._wait_forward(src, way):
                ready, _, _ = select.select([src], [], [], _POLL)
                if not ready or not way.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            with contextlib.suppress(OSError):  # one side failed: end the other direction too
                dst.shutdown(socket.SHUT_RDWR)
