"""The registry client, behaving like Go's net/http as Ollama uses it.

What product code sees of it is the error text and the timing, so both follow
Go: ``Get "https://registry.ollama.ai/v2/...": dial tcp 1.2.3.4:443: i/o timeout``
after the dial timeout (30 s), ``connect: connection refused`` at once,
``net/http: TLS handshake timeout`` when a server accepts and says nothing,
``proxyconnect tcp: ...`` when HTTPS_PROXY is down. Proxies are chosen like
http.ProxyFromEnvironment (HTTPS_PROXY/https_proxy, NO_PROXY, loopback never
proxied) and tunnelled with CONNECT.

Stand-in knob FAKE_OLLAMA_REGISTRY_URL=http://HOST:PORT: connections meant for
registry.ollama.ai and its blob CDN (*.r2.cloudflarestorage.com) go to HOST:PORT
instead, in plain HTTP; the URLs in requests and messages stay the real ones.
Such traffic counts as HTTPS (HTTPS_PROXY applies, CONNECT goes to HOST:PORT).
Without the knob, or for any public address, nothing is sent: the dial waits
out its timeout and fails like an air-gapped node's.
"""

from __future__ import annotations

import base64
import errno
import ipaddress
import select
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from . import config, names

SIMULATED_REGISTRY_IP = "104.21.75.227"  # what registry.ollama.ai resolved to in upstream reports
SIMULATED_CDN_IP = "172.66.0.235"
CDN_SUFFIX = ".r2.cloudflarestorage.com"  # where registry.ollama.ai redirects blob downloads


class GoError(Exception):
    """An error whose text is what Ollama would print."""


class Cancelled(GoError):
    def __init__(self) -> None:
        super().__init__("context canceled")


class Stalled(GoError):
    def __init__(self) -> None:
        super().__init__("part stalled")


class UnexpectedEOF(GoError):
    def __init__(self) -> None:
        super().__init__("unexpected EOF")


def _registry_endpoint() -> tuple[str, int] | None:
    url = config.knob("FAKE_OLLAMA_REGISTRY_URL")
    if not url:
        return None
    parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return not (addr.is_loopback or addr.is_private or addr.is_link_local)


def _resolver() -> str:
    try:
        with open("/etc/resolv.conf") as fh:
            for line in fh:
                if line.startswith("nameserver"):
                    return line.split()[1] + ":53"
    except (OSError, IndexError):
        pass
    return "127.0.0.53:53"


def _lookup(host: str) -> str:
    """Resolve without sending DNS queries: literals, localhost, /etc/hosts."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host == "localhost":
        return "127.0.0.1"
    try:
        with open("/etc/hosts") as fh:
            for line in fh:
                fields = line.split("#", 1)[0].split()
                if len(fields) > 1 and host in fields[1:]:
                    return fields[0]
    except OSError:
        pass
    raise GoError(f"dial tcp: lookup {host} on {_resolver()}: no such host")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Conn:
    """A TCP connection whose every wait can be cancelled and timed out."""

    sock: socket.socket
    cancel: threading.Event
    buf: bytearray = field(default_factory=bytearray)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise GoError(f"write tcp: {exc.strerror or exc}".lower()) from None

    def fill(self, deadline: float | None, timeout_error: GoError | None = None) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        while True:
            if self.cancel.is_set():
                raise Cancelled()
            wait = 0.1
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise timeout_error or GoError("i/o timeout")
                wait = min(wait, left)
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                try:
                    chunk = self.sock.recv(1 << 16)
                except ConnectionResetError:
                    raise GoError("read: connection reset by peer") from None
                if not chunk:
                    return False
                self.buf += chunk
                return True

    def read_line(self, deadline: float | None, timeout_error: GoError | None = None) -> bytes:
        while b"\r\n" not in self.buf:
            if not self.fill(deadline, timeout_error):
                raise GoError("EOF")
        line, _, rest = bytes(self.buf).partition(b"\r\n")
        self.buf = bytearray(rest)
        return line

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def dial(host: str, port: int, cancel: threading.Event) -> Conn:
    """net.Dial with the Dialer's timeout, with Go's error texts."""
    timeout = config.knob_float("FAKE_OLLAMA_DIAL_TIMEOUT", 30.0)
    ip = _lookup(host)
    where = _hostport(ip, port)
    deadline = time.monotonic() + timeout
    if _is_public(ip):
        # An air-gapped node: the SYN goes nowhere. Send nothing, wait it out.
        while time.monotonic() < deadline:
            if cancel.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
                raise Cancelled()
        raise GoError(f"dial tcp {where}: i/o timeout")
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex((ip, port))
    while code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
        if cancel.is_set():
            sock.close()
            raise Cancelled()
        left = deadline - time.monotonic()
        if left <= 0:
            sock.close()
            raise GoError(f"dial tcp {where}: i/o timeout")
        _, ready, _ = select.select([], [sock], [], min(0.1, left))
        if ready:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            break
    if code:
        sock.close()
        reason = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
                  errno.ENETUNREACH: "network is unreachable"}.get(code, errno.errorcode.get(code, str(code)))
        raise GoError(f"dial tcp {where}: connect: {reason}")
    return Conn(sock, cancel)


def _no_proxy(host: str, port: int) -> bool:
    if host == "localhost":
        return True
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    spec = config.var("NO_PROXY") or config.var("no_proxy")
    for entry in (e.strip().lower() for e in spec.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        entry_host, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        entry_host = entry_host.lstrip(".")
        if host.lower() == entry_host or host.lower().endswith("." + entry_host):
            return True
    return False


@dataclass
class Target:
    """Where a URL's connection really goes, and how it behaves."""

    scheme: str          # the URL's scheme, or https for registry traffic
    host: str            # host in the URL (Host header)
    port: int
    dial_host: str
    dial_port: int
    registry: bool       # simulated TLS: handshake timeout applies


def target_for(url: urllib.parse.SplitResult) -> Target:
    scheme = url.scheme or "https"
    host = url.hostname or ""
    port = url.port or (443 if scheme == "https" else 80)
    endpoint = _registry_endpoint()
    ours = host == names.DEFAULT_HOST or host.endswith(CDN_SUFFIX)
    if endpoint and ours:
        return Target("https", host, port, endpoint[0], endpoint[1], True)
    if endpoint and (host, port) == endpoint:
        return Target("https", host, port, host, port, True)
    if ours:
        ip = SIMULATED_REGISTRY_IP if host == names.DEFAULT_HOST else SIMULATED_CDN_IP
        return Target("https", host, port, ip, port, False)
    return Target(scheme, host, port, host, port, False)


def proxy_for(tgt: Target) -> urllib.parse.SplitResult | None:
    """http.ProxyFromEnvironment for this target."""
    keys = ("HTTPS_PROXY", "https_proxy") if tgt.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    spec = next((config.var(k) for k in keys if config.var(k)), "")
    if not spec or _no_proxy(tgt.host, tgt.port):
        return None
    if "://" not in spec:
        spec = "http://" + spec
    parsed = urllib.parse.urlsplit(spec)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GoError(f'invalid proxy address "{spec}"')
    return parsed


@dataclass
class Opened:
    conn: Conn
    absolute_form: bool          # plain HTTP through a proxy: "GET http://host/path"
    proxy_headers: dict[str, str]


def open_connection(tgt: Target, cancel: threading.Event) -> Opened:
    """Connect, through a proxy (CONNECT for HTTPS) if one applies."""
    proxy = proxy_for(tgt)
    if proxy is None:
        return Opened(dial(tgt.dial_host, tgt.dial_port, cancel), False, {})
    try:
        conn = dial(proxy.hostname or "", proxy.port or 80, cancel)
    except Cancelled:
        raise
    except GoError as exc:
        raise GoError(f"proxyconnect tcp: {exc}") from None
    headers: dict[str, str] = {}
    if proxy.username is not None:
        cred = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    if tgt.scheme != "https":
        return Opened(conn, True, headers)
    where = _hostport(tgt.dial_host, tgt.dial_port)
    lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}", "User-Agent: Go-http-client/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    status = conn.read_line(None).decode(errors="replace")
    while conn.read_line(None):
        pass
    parts = status.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        conn.close()
        raise GoError(parts[2] if len(parts) > 2 else "unknown status code")
    return Opened(conn, False, {})
