"""A small client for Ollama's HTTP API (docs/api.md), used through an SSH tunnel.

Ollama listens on 127.0.0.1 on the host; the control machine reaches it
through ``ctx.tunnel(host, port)``, so nothing listens on a public interface.
Streaming endpoints (/api/pull) are read line by line as NDJSON.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import urlsplit

from deployer.errors import ModuleFailure


class OllamaError(ModuleFailure):
    """The Ollama server answered with an error."""

    def __init__(self, message: str, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class OllamaUnavailable(OllamaError):
    """Nothing answers at the address (not started, crashed, wrong port)."""


class OllamaAPI:
    """Calls to one Ollama server at `base_url` (e.g. http://127.0.0.1:41234)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 11434
        self.timeout = timeout
        self.base_url = f"http://{self.host}:{self.port}"

    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float | None = None,
        raw: BinaryIO | bytes | None = None,
        length: int | None = None,
    ) -> tuple[int, bytes]:
        conn = self._conn(timeout)
        try:
            headers = {}
            data: Any = None
            if raw is not None:
                data = raw
                headers["Content-Type"] = "application/octet-stream"
                if length is not None:
                    headers["Content-Length"] = str(length)
            elif body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (ConnectionError, socket.timeout, OSError) as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url} did not answer {method} {path}: {exc}")
        finally:
            conn.close()

    def _json(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        status, data = self._request(method, path, body, timeout)
        if status >= 400:
            raise OllamaError(f"{method} {path}: HTTP {status}: {_error_text(data)}", status)
        try:
            return json.loads(data or b"null")
        except ValueError:
            raise OllamaError(f"{method} {path}: answer is not JSON: {data[:200]!r}", status)

    # -- server ---------------------------------------------------------
    def running(self) -> bool:
        """GET / answers 'Ollama is running'."""
        try:
            status, data = self._request("GET", "/", timeout=5)
        except OllamaUnavailable:
            return False
        return status == 200 and b"Ollama is running" in data

    def version(self) -> str:
        return str(self._json("GET", "/api/version").get("version", ""))

    def tags(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/tags").get("models") or [])

    def ps(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/ps").get("models") or [])

    # -- models -----------------------------------------------------------
    def pull(self, model: str, on_progress: Callable[[dict[str, Any]], None] | None = None, timeout: float = 600) -> None:
        """POST /api/pull, streamed; raises OllamaError with the server's error text."""
        for event in self._stream("POST", "/api/pull", {"model": model, "stream": True}, timeout):
            if "error" in event:
                raise OllamaError(str(event["error"]))
            if on_progress:
                on_progress(event)

    def _stream(self, method: str, path: str, body: Any, timeout: float) -> Iterator[dict[str, Any]]:
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status >= 400:
                raise OllamaError(f"{method} {path}: HTTP {resp.status}: {_error_text(resp.read())}", resp.status)
            for line in resp:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise OllamaError(f"{method} {path}: bad stream line {line[:200]!r}")
        except (ConnectionError, socket.timeout, OSError) as exc:
            raise OllamaUnavailable(f"Ollama at {self.base_url}: {method} {path} broke off: {exc}")
        finally:
            conn.close()

    def delete(self, model: str) -> None:
        self._json("DELETE", "/api/delete", {"model": model})

    def show(self, model: str) -> dict[str, Any]:
        return dict(self._json("POST", "/api/show", {"model": model}))

    def blob_exists(self, digest: str) -> bool:
        status, _ = self._request("HEAD", f"/api/blobs/{digest}")
        return status == 200

    def push_blob(self, digest: str, data: BinaryIO | bytes, size: int, timeout: float = 3600) -> None:
        status, body = self._request("POST", f"/api/blobs/{digest}", raw=data, length=size, timeout=timeout)
        if status >= 400:
            raise OllamaError(f"upload of blob {digest[:19]} failed: HTTP {status}: {_error_text(body)}", status)

    def create(self, model: str, **fields: Any) -> None:
        """POST /api/create (files=, from_=, template=, parameters=...), waiting for success."""
        body: dict[str, Any] = {"model": model, "stream": True}
        for k, v in fields.items():
            body["from" if k == "from_" else k] = v
        for event in self._stream("POST", "/api/create", body, 600):
            if "error" in event:
                raise OllamaError(f"create {model}: {event['error']}")

    def generate(self, model: str, prompt: str, options: dict[str, Any] | None = None, keep_alive: Any = None, timeout: float = 600) -> dict[str, Any]:
        """POST /api/generate with stream=false: the final object with its timings."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": False}
        if options:
            body["options"] = options
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        return dict(self._json("POST", "/api/generate", body, timeout=timeout))


def _error_text(data: bytes) -> str:
    try:
        obj = json.loads(data)
        if isinstance(obj, dict) and "error" in obj:
            return str(obj["error"])
    except ValueError:
        pass
    return data.decode("utf-8", "replace").strip()[:300]
