"""A stand-in for registry.ollama.ai (and its blob CDN) and for GitHub release downloads.

    with RegistryServer(root) as reg:           # root: a models dir in Ollama's layout
        make_model(root, "deepseek-r1:7b", params="7.6B", gguf_size=2_000_000)
        env = {"FAKE_OLLAMA_REGISTRY_URL": reg.url}   # for the Ollama stand-in
        ...
        assert reg.fetched_blobs() == []        # "the second pull fetched nothing"

Like the real registry it answers ``/v2/<ns>/<model>/manifests/<tag>`` (with
Docker-Content-Digest) and redirects ``/v2/<ns>/<model>/blobs/<digest>`` (307)
to a CDN URL on ``*.r2.cloudflarestorage.com``, which the Ollama stand-in maps
back to this server; the CDN path serves bytes with Range support. With
``redirect="none"`` blobs are served directly, as a plain docker registry
does (real Ollama then fails with "http: no Location header in response").

Release archives: ``/ollama/ollama/releases/download/v<ver>/<file>`` (302 to
an asset path, as GitHub does), ``/ollama/ollama/releases/latest/download/<file>``
and ollama.com's ``/download/<file>?version=<ver>``, served from
``releases/v<ver>/<file>``.

Faults: corrupt_blob, drop_blob, hide, set_mode("refuse" | "hang" |
"blackhole" | "up"), bytes_per_second. Every request lands in ``log``.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fakes.models import make_model  # noqa: F401  (re-exported: build models into a registry)
from tests.fakes.ollama_standin import names
from tests.fakes.ollama_standin.config import version_tuple

CDN_HOST = "dd20bb891979d25aebc8bec07b2b3bbc.r2.cloudflarestorage.com"
MODES = ("up", "refuse", "hang", "blackhole")
_MANIFEST_RE = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_CDN_RE = re.compile(r"^/ollama/docker/registry/v2/blobs/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})/data$")
_GH_RE = re.compile(r"^/ollama/ollama/releases/(?:download/(?P<tag>[^/]+)|latest/download)/(?P<file>[^/]+)$")
_ASSET_RE = re.compile(r"^/github-production-release-asset/(?P<tag>[^/]+)/(?P<file>[^/]+)$")
_OLLAMA_COM_RE = re.compile(r"^/download/(?P<file>[^/]+)$")


@dataclass(frozen=True)
class Hit:
    """One request as the registry saw it."""

    method: str
    path: str           # without the query
    kind: str           # ping | manifest | blob (registry URL) | blob-data (bytes) | release | other
    status: int
    range: str | None   # the Range header, if any
    sent: int           # body bytes actually sent
    digest: str | None  # for manifest/blob/blob-data: the blob's or manifest's digest
    host: str           # the Host header (the CDN's name for blob-data)


@dataclass
class _Drop:
    after: int
    times: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _record(self, kind: str, status: int, sent: int = 0, digest: str | None = None) -> None:
        self.server.owner._record(Hit(self.command, self.path.split("?", 1)[0], kind, status,
                                      self.headers.get("Range"), sent, digest, self.headers.get("Host", "")))

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
               kind: str = "other", digest: str | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(kind, status, 0 if self.command == "HEAD" else len(body), digest)

    def _not_found(self, kind: str, code: str = "MANIFEST_UNKNOWN", message: str = "manifest unknown") -> None:
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self._reply(404, body, {"Content-Type": "application/json"}, kind)

    def do_GET(self) -> None:
        owner = self.server.owner
        with owner._lock:
            owner._active += 1
        try:
            self._dispatch()
        finally:
            with owner._lock:
                owner._active -= 1

    do_HEAD = do_GET

    def _dispatch(self) -> None:
        owner = self.server.owner
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        if path in ("/v2", "/v2/"):
            return self._reply(200, b"{}", {"Content-Type": "application/json"}, "ping")
        if m := _MANIFEST_RE.match(path):
            return self._manifest(m.group("repo"), m.group("ref"))
        if m := _BLOB_RE.match(path):
            digest = m.group("digest")
            if not owner._blob(digest).is_file():
                return self._not_found("blob", "BLOB_UNKNOWN", "blob unknown to registry")
            if owner.redirect == "cdn":
                hexd = digest[7:]
                location = (f"https://{owner.cdn_host}/ollama/docker/registry/v2/blobs/sha256/{hexd[:2]}/"
                            f"{hexd}/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86400")
                return self._reply(307, b"", {"Location": location}, "blob", digest)
            return self._serve_file(owner._blob(digest), "blob-data", digest)
        if m := _CDN_RE.match(path):
            digest = "sha256:" + m.group("hex")
            if not owner._blob(digest).is_file():
                return self._reply(404, b"NoSuchKey", {"Content-Type": "text/plain"}, "blob-data", digest)
            return self._serve_file(owner._blob(digest), "blob-data", digest)
        if m := _GH_RE.match(path):
            tag = m.group("tag") or owner._latest_release()
            target = f"/github-production-release-asset/{tag}/{m.group('file')}"
            return self._reply(302, b"", {"Location": target}, "release")
        if m := _OLLAMA_COM_RE.match(path):
            query = urllib.parse.parse_qs(parts.query)
            version = query.get("version", [""])[0]
            tag = f"v{version.lstrip('v')}" if version else owner._latest_release()
            target = f"/ollama/ollama/releases/download/{tag}/{m.group('file')}"
            return self._reply(307, b"", {"Location": target}, "release")
        if m := _ASSET_RE.match(path):
            file = owner._release_file(m.group("tag"), m.group("file"))
            if file is None:
                return self._reply(404, b"Not Found", {"Content-Type": "text/plain"}, "release")
            return self._serve_file(file, "release", None)
        self._reply(404, b"404 page not found", {"Content-Type": "text/plain"})

    def _manifest(self, repo: str, ref: str) -> None:
        owner = self.server.owner
        path = owner._manifest(repo, ref)
        if path is None:
            return self._not_found("manifest")
        raw = path.read_bytes()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        self._reply(200, raw, {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
                               "Docker-Content-Digest": digest}, "manifest", digest)

    def _serve_file(self, path: Path, kind: str, digest: str | None) -> None:
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        spec = self.headers.get("Range", "")
        if m := re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip()):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            elif m.group(2):
                start = max(0, size - int(m.group(2)))
            if start > end or start >= size:
                return self._reply(416, b"", {"Content-Range": f"bytes */{size}"}, kind, digest)
            status = 206
        length = end - start + 1
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                   "Content-Length": str(length), "ETag": f'"{digest or path.name}"'}
        if digest:
            headers["Docker-Content-Digest"] = digest
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        sent = 0
        if self.command == "GET":
            sent = self._stream(path, start, length, size, digest)
        self._record(kind, status, sent, digest)

    def _stream(self, path: Path, start: int, length: int, size: int, digest: str | None) -> int:
        owner = self.server.owner
        limit = owner._take_drop(digest) if digest else None
        corrupt = digest in owner._corrupt
        sent = 0
        with open(path, "rb") as fh:
            fh.seek(start)
            while sent < length:
                chunk = fh.read(min(1 << 16, length - sent))
                if not chunk:
                    break
                if corrupt and start + sent + len(chunk) == size:
                    chunk = chunk[:-1] + bytes([chunk[-1] ^ 0xFF])
                if limit is not None and sent + len(chunk) >= limit:
                    chunk = chunk[:max(0, limit - sent)]
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except OSError:
                    break
                sent += len(chunk)
                if limit is not None and sent >= limit:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    break
                if owner.bytes_per_second:
                    time.sleep(len(chunk) / owner.bytes_per_second)
        return sent


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    owner: "RegistryServer"


class RegistryServer:
    """The registry stand-in; see the module docstring."""

    def __init__(self, root: Path | str, *, host: str = "127.0.0.1", port: int = 0,
                 releases: Path | str | None = None, redirect: str = "cdn", cdn_host: str = CDN_HOST) -> None:
        if redirect not in ("cdn", "none"):
            raise ValueError(f"redirect={redirect!r}: use 'cdn' (like registry.ollama.ai) or 'none'")
        self.root = Path(root)
        self.releases = Path(releases) if releases is not None else None
        self.host, self.port = host, port
        self.redirect, self.cdn_host = redirect, cdn_host
        self.bytes_per_second = 0
        self.log: list[Hit] = []
        self.mode = "down"
        self._lock = threading.Lock()
        self._http: _HTTPServer | None = None
        self._sockets: list[socket.socket] = []
        self._hidden: set[tuple[str, str]] = set()
        self._corrupt: set[str] = set()
        self._drops: dict[str, _Drop] = {}
        self._active = 0

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> str:
        """Listen and serve; returns the base URL (give it to FAKE_OLLAMA_REGISTRY_URL)."""
        self.set_mode("up")
        return self.url

    def stop(self) -> None:
        with self._lock:
            self._teardown()
            self.mode = "down"

    def __enter__(self) -> "RegistryServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_mode(self, mode: str) -> None:
        """up: serve; refuse: port closed; hang: accept, never answer; blackhole: SYNs dropped."""
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: one of {', '.join(MODES)}")
        with self._lock:
            if mode == self.mode:
                return
            self._teardown()
            if mode == "up":
                server = _HTTPServer((self.host, self.port), _Handler)
                server.owner = self
                self.port = server.server_address[1]
                self._http = server
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True).start()
            elif mode in ("hang", "blackhole"):
                self._listen_without_accepting(backlog=64 if mode == "hang" else 0)
            self.mode = mode

    def _listen_without_accepting(self, backlog: int) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        sock.listen(backlog)
        self._sockets.append(sock)
        if backlog == 0:
            # one queued connection fills a zero backlog; later SYNs are dropped
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex((self.host, self.port))
            time.sleep(0.05)
            self._sockets.append(filler)

    def _teardown(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    # -- faults --------------------------------------------------------------------

    def corrupt_blob(self, digest: str) -> None:
        """Serve this blob with its last byte flipped: same size, wrong sha256."""
        self._corrupt.add(digest)

    def drop_blob(self, digest: str, after_bytes: int, times: int = 1) -> None:
        """The next ``times`` downloads of this blob send ``after_bytes`` body bytes, then hang up."""
        self._drops[digest] = _Drop(after_bytes, times)

    def hide(self, name: str) -> None:
        """Answer 404 for this model's manifest, as for a tag that does not exist."""
        n = names.parse(name)
        self._hidden.add((n.repository(), n.tag))

    def unhide(self, name: str) -> None:
        n = names.parse(name)
        self._hidden.discard((n.repository(), n.tag))

    def heal(self) -> None:
        """Forget every fault (modes aside)."""
        self._corrupt.clear()
        self._drops.clear()
        self._hidden.clear()
        self.bytes_per_second = 0

    def _take_drop(self, digest: str) -> int | None:
        with self._lock:
            drop = self._drops.get(digest)
            if drop is None or drop.times <= 0:
                return None
            drop.times -= 1
            return drop.after

    # -- the request log -----------------------------------------------------------

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.log.append(hit)

    def _settle(self) -> None:
        """Wait (at most 2 s) for requests in flight to finish and be logged."""
        deadline = time.monotonic() + 2
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)

    def hits(self, kind: str | None = None) -> list[Hit]:
        """The log of finished requests, optionally of one kind."""
        self._settle()
        with self._lock:
            return [h for h in self.log if kind is None or h.kind == kind]

    def clear_log(self) -> None:
        self._settle()
        with self._lock:
            self.log.clear()

    def fetched_blobs(self) -> list[str]:
        """Digests whose bytes were sent (GET on the data URL), in order, repeats included."""
        return [h.digest for h in self.hits("blob-data") if h.method == "GET" and h.sent and h.digest]

    # -- storage -------------------------------------------------------------------

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / digest.replace(":", "-")

    def _manifest(self, repo: str, ref: str) -> Path | None:
        if (repo, ref) in self._hidden:
            return None
        hosts = sorted((self.root / "manifests").glob("*"), key=lambda p: p.name != names.DEFAULT_HOST)
        for host_dir in hosts:
            path = host_dir / repo / ref
            if path.is_file():
                return path
        return None

    def _release_file(self, tag: str, file: str) -> Path | None:
        if self.releases is None:
            return None
        path = self.releases / tag / file
        return path if path.is_file() else None

    def _latest_release(self) -> str:
        tags = [p.name for p in self.releases.iterdir() if p.is_dir()] if self.releases else []
        return max(tags, key=version_tuple, default="v0.0.0")
