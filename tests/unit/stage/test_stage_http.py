"""The download client on its own, against small real HTTP servers: a server that ignores Range,
one that stalls, proxies and NO_PROXY from the environment given (not the process's)."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from deployer.stage.http import Cut, Http, HttpStatus, StageError
from deployer.stage.sinks import FileSink

BODY = bytes(range(256)) * 400  # 102400 bytes
DIGEST = hashlib.sha256(BODY).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Range")))
        if self.path in ("/missing", "/busy"):
            status, body = (404, b"not here!") if self.path == "/missing" else (503, b"try later")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/stall-once" and len(self.server.seen) == 1:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
            time.sleep(1.5)  # longer than the client's timeout
            return
        # never honours Range: always the whole body with 200
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str | None]]


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_a_server_that_ignores_range_makes_the_download_start_over(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.with_name("f.part").write_bytes(BODY[:5000])
    moved = Http(backoff=0).download(_url(server, "/file"), FileSink(dest, "f", DIGEST), "f")
    assert dest.read_bytes() == BODY and moved == len(BODY)
    assert server.seen == [("/file", "bytes=5000-")]


def test_a_stalled_download_is_retried_and_resumed(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "f"
    Http(timeout=0.5, backoff=0).download(_url(server, "/stall-once"), FileSink(dest, "f", DIGEST), "f")
    assert dest.read_bytes() == BODY
    assert server.seen == [("/stall-once", None), ("/stall-once", "bytes=1000-")]


def test_an_error_status_is_said_with_the_body_and_not_retried(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(HttpStatus) as exc:
        Http(backoff=0).download(_url(server, "/missing"), FileSink(tmp_path / "m", "m"), "m")
    assert exc.value.status == 404 and str(exc.value) == f"{_url(server, '/missing')} answered 404: not here!"
    assert server.seen == [("/missing", None)]


def test_proxies_and_no_proxy_come_from_the_environment_given(server: _Server, tmp_path: Path) -> None:
    url = _url(server, "/file")
    nowhere = "http://127.0.0.1:9"
    with pytest.raises(StageError) as exc:
        Http(environ={"HTTP_PROXY": nowhere}, retries=0).get_bytes(url)
    assert "cannot reach" in exc.value.message and "Connection refused" in exc.value.message
    data, _ = Http(environ={"http_proxy": nowhere, "no_proxy": "127.0.0.1"}, retries=0).get_bytes(url)
    assert data == BODY


def test_a_short_body_is_cut_and_kept(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "f", "f", DIGEST, len(BODY))

    class Short:
        def __init__(self) -> None:
            self.left = BODY[:700]

        def read(self, n: int = -1) -> bytes:
            chunk, self.left = self.left[:n], self.left[n:]
            return chunk

    with pytest.raises(Cut) as exc:
        sink.write(Short(), False, len(BODY))  # type: ignore[arg-type]
    assert exc.value.message == f"the connection ended after 700 bytes ({len(BODY) - 700} missing)"
    assert sink.offset() == 700 and not (tmp_path / "f").exists()


def test_a_busy_server_is_tried_again(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(StageError) as exc:
        Http(backoff=0, retries=2).download(_url(server, "/busy"), FileSink(tmp_path / "b", "b"), "b")
    assert exc.value.message == f"b: {_url(server, '/busy')} answered 503: try later (tried 3 times)"
    assert [p for p, _ in server.seen] == ["/busy"] * 3
