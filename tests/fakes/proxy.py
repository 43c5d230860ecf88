"""A small forward proxy (CONNECT tunnels and absolute-form HTTP) for HTTPS_PROXY tests.

    with ConnectProxy() as proxy:
        env["HTTPS_PROXY"] = proxy.url
        ...
        assert proxy.log == ["CONNECT 127.0.0.1:40123"]

It only connects to loopback and private addresses: a target anywhere else is
answered 502, so a test can never send traffic off the machine through it.
``deny=True`` answers every request 403 Forbidden (a proxy that refuses).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import socketserver
import threading
from typing import Any
from urllib.parse import urlsplit


def _safe(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    return addr.is_loopback or addr.is_private


def _pipe(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], 30)
        if not ready:
            return
        for s in ready:
            data = s.recv(1 << 16)
            if not data:
                return
            (b if s is a else a).sendall(data)


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"
    rbufsize = 0  # unbuffered: nothing read past the headers stays behind in a buffer

    def handle(self) -> None:
        head = self.rfile.readline().decode(errors="replace").strip()
        headers = []
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            headers.append(line)
        method, _, rest = head.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        owner = self.server.owner
        owner._record(f"{method} {target}")
        if owner.deny:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            path_and_rest = None
        else:
            url = urlsplit(target)
            host, port = url.hostname or "", str(url.port or 80)
            path_and_rest = (url.path or "/") + (f"?{url.query}" if url.query else "")
        if not _safe(host):
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            if path_and_rest is None:
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                kept = [h for h in headers if not h.lower().startswith(b"proxy-")]
                upstream.sendall(f"{method} {path_and_rest} HTTP/1.1\r\n".encode() + b"".join(kept) + b"\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "ConnectProxy"


class ConnectProxy:
    """See the module docstring; ``log`` lists "CONNECT host:port" / "GET http://..." lines."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, deny: bool = False) -> None:
        self.host, self.port, self.deny = host, port, deny
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _record(self, line: str) -> None:
        with self._lock:
            self.log.append(line)

    def start(self) -> str:
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ConnectProxy":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
