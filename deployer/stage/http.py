"""The download client of `deployer stage`: urllib, with what staging gigabytes needs.

- Redirects are followed (the registry answers blob GETs with a 307 to its CDN,
  GitHub release downloads with a 302 to an asset host); a ``Range`` header
  travels with them.
- Proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, either case) and a CA bundle
  (SSL_CERT_FILE / SSL_CERT_DIR) come from the environment *given*, not from
  the process's, so the CLI's injectable environment decides.
- :meth:`Http.download` resumes: a sink reports how many bytes it already
  holds, the request asks for the rest (``Range: bytes=N-``), and a server
  that ignores the range (200) makes the sink start over. A connection that
  drops, stalls or ends short is retried with backoff, resuming each time.
- A body whose sha256 is wrong is never kept and never retried in a loop: the
  sink raises :class:`Corrupt` and the caller says where it came from.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Mapping, Protocol

from deployer.errors import DeployerError, ExitStatus

#: (label, bytes done, bytes total or 0)
Progress = Callable[[str, int, int], None]
UPSTREAM_HINT = "no internet here? set HTTPS_PROXY (and SSL_CERT_FILE for a TLS-inspecting proxy), or stage on another machine"


class StageError(DeployerError):
    """Something could not be staged; what was fetched so far is kept for the rerun."""

    exit_status = ExitStatus.HOST_FAILED


class HttpStatus(StageError):
    """The server answered with an error status."""

    def __init__(self, url: str, status: int, body: str, hint: str | None = None) -> None:
        detail = f": {body}" if body else ""
        super().__init__(f"{url} answered {status}{detail}", hint)
        self.url, self.status, self.body = url, status, body

    @property
    def passing(self) -> bool:
        """A status worth another try (the server is busy or failing, not saying no)."""
        return self.status >= 500 or self.status == 429


class Cut(StageError):
    """A download kept failing part way (connection dropped, stalled, ended short)."""


class Corrupt(StageError):
    """Downloaded data does not hash to what it must; it was deleted."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or "the server or a proxy on the way sent corrupt data; "
                         "rerun `deployer stage` to fetch it again")


class Sink(Protocol):
    """Where a download goes: knows what it holds, takes the rest, verifies the whole."""

    def offset(self) -> int:
        """Bytes already held from an earlier attempt (0: start from scratch)."""

    def write(self, stream: BinaryIO, resumed: bool, length: int | None) -> None:
        """Consume `stream` (the bytes after offset() when `resumed`, else the whole body);
        `length` is what the server said it sends (Content-Length), when it did.

        Raises :class:`Cut` when the data ends short (kept for resuming),
        :class:`Corrupt` when it is complete but wrong (deleted).
        """


def _proxies(environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for scheme in ("http", "https", "no"):
        value = environ.get(f"{scheme}_proxy") or environ.get(f"{scheme.upper()}_PROXY")
        if value:
            out[scheme] = value
    return out


class _ProxyHandler(urllib.request.ProxyHandler):
    """urllib's ProxyHandler, with NO_PROXY read from the same environment as the proxies."""

    def __init__(self, proxies: dict[str, str]) -> None:
        self._no = {"no": proxies["no"]} if "no" in proxies else {}
        super().__init__({k: v for k, v in proxies.items() if k != "no"})

    def proxy_open(self, req: urllib.request.Request, proxy: str, type: str):  # type: ignore[override]
        if self._no and req.host and urllib.request.proxy_bypass_environment(req.host, self._no):
            return None
        return super().proxy_open(req, proxy, type)


def _ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    cafile = environ.get("SSL_CERT_FILE") or None
    capath = environ.get("SSL_CERT_DIR") or None
    ctx = ssl.create_default_context()
    if cafile or capath:
        ctx.load_verify_locations(cafile=cafile, capath=capath)
    return ctx


@dataclass
class Http:
    """One client for a staging run: settings, an opener, and the retry policy."""

    environ: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0
    progress: Progress | None = None
    user_agent: str = "deployer-stage"

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(
            _ProxyHandler(_proxies(self.environ)),
            urllib.request.HTTPSHandler(context=_ssl_context(self.environ)),
        )

    def open(self, url: str, headers: Mapping[str, str] | None = None, offset: int = 0) -> http.client.HTTPResponse:
        """GET `url` (redirects followed); HttpStatus for an error status, StageError when unreachable."""
        req = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **(headers or {})})
        if offset:
            req.add_header("Range", f"bytes={offset}-")
        try:
            return self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # everything is there already: the range starts at the end
                return exc  # type: ignore[return-value]
            body = _excerpt(exc)
            raise HttpStatus(exc.geturl() or url, exc.code, body) from None
        except urllib.error.URLError as exc:
            raise StageError(f"cannot reach {_where(req, url)}: {_reason(exc.reason)}", UPSTREAM_HINT) from None
        except (OSError, http.client.HTTPException) as exc:
            raise StageError(f"cannot reach {_where(req, url)}: {_reason(exc)}", UPSTREAM_HINT) from None

    def get_bytes(self, url: str, headers: Mapping[str, str] | None = None, limit: int = 16 << 20) -> tuple[bytes, Mapping[str, str]]:
        """A small document (manifest, sha256sum.txt) and its headers, retried when the connection fails."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with self.open(url, headers) as resp:
                    data = resp.read(limit + 1)
                    length = resp.headers.get("Content-Length")
                    headers_got = resp.headers
            except HttpStatus as exc:
                if not exc.passing:
                    raise
                last = exc.message
                continue
            except StageError as exc:
                last = exc.message
                continue
            except (OSError, http.client.HTTPException) as exc:
                last = f"cannot read {url}: {_reason(exc)}"
                continue
            if len(data) > limit:
                raise StageError(f"{url} sent more than {limit} bytes: not the small document expected")
            if length is not None and length.isdigit() and int(length) != len(data):
                last = f"cannot read {url}: the connection ended after {len(data)} of {length} bytes"
                continue
            return data, headers_got
        tries = "once" if self.retries == 0 else f"{self.retries + 1} times"
        raise StageError(f"{last} (tried {tries})", UPSTREAM_HINT)

    def download(self, url: str, sink: Sink, label: str, total: int = 0, headers: Mapping[str, str] | None = None) -> int:
        """Fill `sink` from `url`, resuming after failures; returns the bytes transferred."""
        moved = 0
        failures: list[str] = []
        unreachable = False  # the last attempt got no answer, or only an error status
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            start = sink.offset()
            try:
                resp = self.open(url, headers, offset=start)
            except HttpStatus as exc:
                if not exc.passing:
                    raise
                failures.append(exc.message)
                unreachable = True
            except StageError as exc:
                failures.append(exc.message)
                unreachable = True
            else:
                unreachable = False
                counter = _Counting(resp, label, start, total, self.progress)
                try:
                    with resp:
                        status = getattr(resp, "status", None) or resp.getcode()
                        if status == 416:
                            sink.write(_Empty(), True, 0)
                        else:
                            length = resp.headers.get("Content-Length")
                            sink.write(counter, status == 206, int(length) if length and length.isdigit() else None)
                    return moved + counter.count
                except Corrupt as exc:
                    raise Corrupt(f"{exc.message} (downloaded from {url})", exc.hint) from None
                except Cut as exc:
                    failures.append(exc.message)
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(_reason(exc))
                moved += counter.count
        held = sink.offset()
        of = f" of {total}" if total else ""
        times = "once" if len(failures) == 1 else f"{len(failures)} times"
        if unreachable:
            raise StageError(f"{label}: {failures[-1]} (tried {times})", UPSTREAM_HINT)
        raise Cut(
            f"{label}: the download from {url} failed {times}, last: {failures[-1]}; {held}{of} bytes are kept",
            "rerun `deployer stage`: it resumes where this stopped",
        )


class _Counting:
    """A response body that counts what was read and reports progress."""

    def __init__(self, raw: BinaryIO, label: str, start: int, total: int, progress: Progress | None) -> None:
        self.raw, self.label, self.start, self.total, self.progress = raw, label, start, total, progress
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        # read1: what has arrived, at once - a read(n) that times out would lose what it had buffered
        read = getattr(self.raw, "read1", self.raw.read)
        try:
            data = read(n)
        except socket.timeout as exc:
            raise OSError(f"stalled: nothing arrived for a while ({exc})") from None
        self.count += len(data)
        if self.progress and data:
            self.progress(self.label, self.start + self.count, self.total)
        return data


class _Empty:
    def read(self, n: int = -1) -> bytes:
        return b""


def _where(req: urllib.request.Request, url: str) -> str:
    """`url`, or the last place it redirected to (urllib records them on the request)."""
    visited = list(getattr(req, "redirect_dict", {}) or {})
    if not visited:
        return url
    return f"{visited[-1].split('?', 1)[0]} (where {url} redirects)"


def _excerpt(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read(400).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        body = ""
    return " ".join(body.split())[:200]


def _reason(reason: object) -> str:
    if isinstance(reason, socket.timeout):
        return "timed out"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
