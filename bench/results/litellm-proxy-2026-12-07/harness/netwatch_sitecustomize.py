# Logs every DNS lookup and socket connect of this process to $NETWATCH_LOG.
import os
import socket

_log = os.environ.get("NETWATCH_LOG")
if _log:

    def _note(kind, what):
        with open(_log, "a") as f:
            f.write(f"{os.getpid()} {kind} {what}\n")

    _gai = socket.getaddrinfo

    def getaddrinfo(host, *a, **k):
        _note("dns", host)
        return _gai(host, *a, **k)

    socket.getaddrinfo = getaddrinfo
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, addr):
        _note("connect", addr)
        return _connect(self, addr)

    def connect_ex(self, addr):
        _note("connect", addr)
        return _connect_ex(self, addr)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
