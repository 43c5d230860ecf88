"""The CLI's connection to the server at OLLAMA_HOST (api.Client), with its error texts."""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any, Callable, Iterator

from . import config, goish


class ClientError(Exception):
    """An error as the Go client reports it (StatusError or the stream's "error")."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(ClientError):
    pass


def _op(method: str) -> str:
    return method[0] + method[1:].lower()


class Client:
    def __init__(self) -> None:
        self.host = config.host()

    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host.dial_host, self.host.port, timeout=timeout)

    def _open(self, method: str, path: str, body: bytes | None,
              headers: dict[str, str]) -> http.client.HTTPResponse:
        url = f"{self.host.base}{path}"
        conn = self._conn()
        try:
            conn.request(method, path, body=body, headers={
                "User-Agent": f"ollama/{config.version()} (amd64 linux) Go/go1.22.5", **headers})
            return conn.getresponse()
        except ConnectionRefusedError:
            raise Unreachable(f'{_op(method)} "{url}": dial tcp {self.host.dial_host}:{self.host.port}: '
                              "connect: connection refused") from None
        except (socket.timeout, TimeoutError):
            raise Unreachable(f'{_op(method)} "{url}": dial tcp {self.host.dial_host}:{self.host.port}: '
                              "i/o timeout") from None
        except OSError as exc:
            raise Unreachable(f'{_op(method)} "{url}": {goish.errno_message(exc)}') from None

    def heartbeat(self) -> None:
        resp = self._open("HEAD", "/", None, {})
        resp.read()
        if resp.status >= 400:
            raise ClientError(f"{resp.status} {resp.reason}", resp.status)

    def do(self, method: str, path: str, req: Any = None) -> Any:
        body = None if req is None else goish.dumps(req).encode()
        resp = self._open(method, path, body, {"Content-Type": "application/json", "Accept": "application/json"})
        raw = _checked(resp)
        return json.loads(raw) if raw.strip() else None

    def stream(self, path: str, req: Any, fn: Callable[[dict[str, Any]], None]) -> None:
        """POST and feed each NDJSON object to ``fn``; an "error" line raises."""
        for obj in self._lines(path, req):
            fn(obj)

    def _lines(self, path: str, req: Any) -> Iterator[dict[str, Any]]:
        resp = self._open("POST", path, goish.dumps(req).encode(),
                          {"Content-Type": "application/json", "Accept": "application/x-ndjson"})
        for raw in resp:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise ClientError(f"unmarshal: {exc}") from None
            if obj.get("error"):
                raise ClientError(obj["error"], resp.status)
            if resp.status >= 400:
                raise ClientError(f"{resp.status} {resp.reason}", resp.status)
            yield obj

    def upload_blob(self, digest: str, path: str) -> None:
        """CreateBlob: HEAD first, POST the file only if the server lacks it."""
        try:
            self.do("HEAD", f"/api/blobs/{digest}")
            return
        except ClientError as exc:
            if exc.status != 404:
                raise
        size = os.path.getsize(path)
        conn = self._conn()
        with open(path, "rb") as fh:
            conn.request("POST", f"/api/blobs/{digest}", body=fh, headers={"Content-Length": str(size)})
            _checked(conn.getresponse())


def _checked(resp: http.client.HTTPResponse) -> bytes:
    """The body, or the StatusError checkError would make of it (its message, else the status)."""
    raw = resp.read()
    if resp.status >= 400:
        try:
            message = json.loads(raw).get("error", "")
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace")
        raise ClientError(message or f"{resp.status} {resp.reason}", resp.status)
    return raw
