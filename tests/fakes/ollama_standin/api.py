"""The HTTP API on OLLAMA_HOST: routes, status codes, bodies and streaming as Ollama's gin server.

Streaming endpoints answer 200 with chunked application/x-ndjson and report a
failure as a final ``{"error": ...}`` line; with ``"stream": false`` they
answer one JSON object, or the error with its status. A client that hangs up
cancels a pull (its partial download stays for the next one to resume).
"""

from __future__ import annotations

import ipaddress
import json
import queue
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from . import goish, logs, names
from .create import CreateError
from .pull import PullError, pull_model
from .runner import RunnerError, Scheduler
from .store import InvalidDigest, Store
from .transport import Cancelled, GoError

Emit = Callable[[dict[str, Any]], None]
_NOTHING = object()


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Api:
    """State behind the routes: the store and the scheduler."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sched = Scheduler(store)

    def pull(self, name: names.Name, emit: Emit, insecure: bool = False,
             cancel: threading.Event | None = None) -> None:
        pull_model(self.store, name, insecure, emit, cancel or threading.Event())

    def model(self, text: str) -> tuple[names.Name, Any]:
        name = names.parse(text)
        if not name.valid:
            raise ApiError(404, f"model '{text}' not found")
        name = self.store.resolve(name)
        try:
            return name, self.store.read_manifest(name)
        except FileNotFoundError:
            raise ApiError(404, f"model '{text}' not found") from None


def _json_error(exc: Exception) -> str:
    text = str(exc)
    if "Expecting value" in text:
        return "invalid character looking for beginning of value"
    return text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: Api  # set on the subclass the server creates

    # -- plumbing ------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # gin logs instead
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self._status = code

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json_body(self) -> dict[str, Any]:
        raw = self._body()
        if not raw.strip():
            raise ApiError(400, "missing request body")
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, _json_error(exc)) from None
        if not isinstance(doc, dict):
            raise ApiError(400, "json: cannot unmarshal into Go value of type api.Request")
        return doc

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        if body or status not in (200,):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, goish.dumps(obj).encode(), "application/json; charset=utf-8")

    def _client_gone(self) -> bool:
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, work: Callable[[Emit, threading.Event], None]) -> None:
        """Run ``work`` in a thread and stream what it emits as NDJSON chunks."""
        events: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()

        def runner() -> None:
            try:
                work(events.put, cancel)
            except Cancelled:
                pass
            except Exception as exc:  # reported to the client as Ollama does
                events.put(_error_event(exc))
            finally:
                events.put(None)

        threading.Thread(target=runner, daemon=True).start()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        checked = time.monotonic()
        while True:
            try:
                item = events.get(timeout=0.1)
            except queue.Empty:
                item = _NOTHING
            if time.monotonic() - checked >= 0.1:
                checked = time.monotonic()
                if self._client_gone():
                    cancel.set()
                    self.close_connection = True
                    return
            if item is _NOTHING:
                continue
            if item is None:
                break
            line = (goish.dumps(item) + "\n").encode()
            try:
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            except OSError:
                cancel.set()
                self.close_connection = True
                return
        self.wfile.write(b"0\r\n\r\n")

    def _wait(self, work: Callable[[Emit, threading.Event], None]) -> None:
        """waitForStream: one object, the "success" status or the error."""
        events: list[dict[str, Any]] = []
        try:
            work(events.append, threading.Event())
        except Exception as exc:
            err = _error_event(exc)
            self._json(int(err.pop("status", 500)), err)
            return
        success = next((e for e in events if e.get("status") == "success"), None)
        if success is None:
            self._json(500, {"error": "unexpected end of progress response"})
        else:
            self._json(200, success)

    def _route(self) -> None:
        from .routes import ROUTES
        path = self.path.split("?", 1)[0]
        start = time.monotonic_ns()
        self._status = 200
        try:
            if not _host_allowed(self.headers.get("Host", ""), self.server.server_address[0]):
                self._send(403, b"", "text/plain")
                return
            handler = ROUTES.get((self.command, path))
            if handler is None and path.startswith("/api/blobs/") and self.command in ("HEAD", "POST"):
                handler = ROUTES[(self.command, "/api/blobs/:digest")]
            if handler is None:
                self._send(404, b"404 page not found", "text/plain")
                return
            handler(self)
        except ApiError as exc:
            self._json(exc.status, {"error": str(exc)})
        finally:
            logs.gin(self._status, time.monotonic_ns() - start, self.client_address[0], self.command, path)

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = do_OPTIONS = _route


def _error_event(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, (CreateError, RunnerError, ApiError)):
        status = exc.status
        return {"error": str(exc), "status": status} if status != 500 else {"error": str(exc)}
    if isinstance(exc, (PullError, GoError)):
        return {"error": str(exc)}
    if isinstance(exc, InvalidDigest):
        return {"error": str(exc)}
    if isinstance(exc, OSError):
        return {"error": goish.errno_message(exc)}
    return {"error": str(exc)}


def _host_allowed(host_header: str, bound: str) -> bool:
    """allowedHostsMiddleware: a loopback-bound server answers only local Host names."""
    try:
        if not ipaddress.ip_address(bound or "0.0.0.0").is_loopback:
            return True
    except ValueError:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(host)
        return addr.is_loopback or addr.is_private or addr.is_unspecified
    except ValueError:
        pass
    return (host in ("", "localhost", socket.gethostname().lower())
            or host.endswith((".localhost", ".local", ".internal")))


def stream_or_wait(handler: Handler, stream: Any, work: Callable[[Emit, threading.Event], None]) -> None:
    if stream is False:
        handler._wait(work)
    else:
        handler._stream(work)
