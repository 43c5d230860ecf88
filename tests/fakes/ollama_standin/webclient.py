"""HTTP/1.1 requests over transport.Conn, with Go's redirect rules and error wrapping.

Errors read like Go's *url.Error: ``Get "<url>": <reason>``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from . import config
from .transport import Conn, GoError, Stalled, UnexpectedEOF, open_connection, target_for

_REDIRECTS = (301, 302, 303, 307, 308)


def user_agent() -> str:
    return f"ollama/{config.version()} (amd64 linux) Go/go1.22.5"


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    url: str
    conn: Conn
    length: int | None = None
    chunked: bool = False
    done: bool = False
    _chunk_left: int = 0
    _eof_ok: bool = field(default=False)

    def read(self, limit: int = 1 << 16, stall: float | None = None) -> bytes:
        """Up to ``limit`` body bytes; b"" at the end. A short body is UnexpectedEOF."""
        if self.done:
            return b""
        if self.chunked:
            return self._read_chunked(limit, stall)
        if self.length is not None:
            limit = min(limit, self.length)
            if limit == 0:
                self.done = True
                return b""
        data = self._take(limit, stall)
        if not data:
            self.done = True
            if self.length:
                raise UnexpectedEOF()
            return b""
        if self.length is not None:
            self.length -= len(data)
        return data

    def _take(self, limit: int, stall: float | None) -> bytes:
        if not self.conn.buf:
            deadline = time.monotonic() + stall if stall else None
            if not self.conn.fill(deadline, Stalled()):
                return b""
        data = bytes(self.conn.buf[:limit])
        del self.conn.buf[:limit]
        return data

    def _read_chunked(self, limit: int, stall: float | None) -> bytes:
        if self._chunk_left == 0:
            size_line = self.conn.read_line(None).split(b";")[0].strip()
            self._chunk_left = int(size_line or b"0", 16)
            if self._chunk_left == 0:
                self.done = True
                return b""
        data = self._take(min(limit, self._chunk_left), stall)
        if not data:
            raise UnexpectedEOF()
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self.conn.read_line(None)
        return data

    def read_all(self) -> bytes:
        out = bytearray()
        while chunk := self.read():
            out += chunk
        return bytes(out)

    def close(self) -> None:
        self.conn.close()


def _send(method: str, url: str, headers: dict[str, str], cancel: threading.Event) -> Response:
    parts = urllib.parse.urlsplit(url)
    tgt = target_for(parts)
    opened = open_connection(tgt, cancel)
    conn = opened.conn
    if tgt.scheme == "https" and not tgt.registry:
        conn.close()
        raise GoError("http: server gave HTTP response to HTTPS client")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = tgt.host if tgt.port == (443 if tgt.scheme == "https" else 80) else f"{tgt.host}:{tgt.port}"
    target = url if opened.absolute_form else path
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {user_agent()}"]
    lines += [f"{k}: {v}" for k, v in {**headers, **opened.proxy_headers}.items()]
    conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    handshake = None
    if tgt.registry:
        handshake = time.monotonic() + config.knob_float("FAKE_OLLAMA_TLS_HANDSHAKE_TIMEOUT", 10.0)
    while not conn.buf:
        if not conn.fill(handshake, GoError("net/http: TLS handshake timeout")):
            conn.close()
            raise GoError("EOF")
    status_line = conn.read_line(None).decode(errors="replace")
    bits = status_line.split(" ", 2)
    if len(bits) < 2 or not bits[1].isdigit():
        conn.close()
        raise GoError(f"malformed HTTP response {status_line!r}")
    resp_headers: dict[str, str] = {}
    while line := conn.read_line(None):
        key, _, value = line.decode(errors="replace").partition(":")
        resp_headers[key.strip().lower()] = value.strip()
    resp = Response(int(bits[1]), bits[2] if len(bits) > 2 else "", resp_headers, url, conn)
    if method == "HEAD" or resp.status in (204, 304):
        resp.done = True
    elif resp_headers.get("transfer-encoding", "").lower() == "chunked":
        resp.chunked = True
    elif "content-length" in resp_headers:
        resp.length = int(resp_headers["content-length"])
    return resp


def request(method: str, url: str, cancel: threading.Event, headers: dict[str, str] | None = None,
            same_host_redirects_only: bool = False) -> Response:
    """One request, following redirects like Go's http.Client."""
    original_host = urllib.parse.urlsplit(url).hostname
    current = url
    for _ in range(11):
        try:
            resp = _send(method, current, headers or {}, cancel)
        except GoError as exc:
            raise GoError(f'{method[0]}{method[1:].lower()} "{current}": {exc}') from None
        location = resp.headers.get("location")
        if resp.status not in _REDIRECTS or not location:
            return resp
        nxt = urllib.parse.urljoin(current, location)
        if same_host_redirects_only and urllib.parse.urlsplit(nxt).hostname != original_host:
            return resp
        resp.close()
        current = nxt
    raise GoError(f'{method[0]}{method[1:].lower()} "{current}": stopped after 10 redirects')
