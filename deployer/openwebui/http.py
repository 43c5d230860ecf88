"""Talking to Open WebUI on a host from the control machine (through ctx.tunnel).

Open WebUI answers ``GET /health`` with ``{"status": true}`` once its
database is migrated and it serves; the first start can take minutes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from deployer.modules.base import TaskContext


def base_url(ctx: TaskContext, host: str, port: int) -> str:
    """A URL on the control machine that reaches the UI at host:port as the target sees it."""
    lhost, lport = ctx.tunnel(host, port)
    return f"http://[{lhost}]:{lport}" if ":" in lhost else f"http://{lhost}:{lport}"


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 30) -> tuple[int, Any]:
    """One JSON request; returns (status, parsed body or None). Connection errors raise OSError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def healthy(base: str) -> tuple[bool, str]:
    """(True, "") when GET /health says {"status": true}, else (False, what it said)."""
    try:
        status, body = call(base, "GET", "/health", timeout=10)
    except (OSError, urllib.error.URLError) as exc:
        return False, f"no answer ({getattr(exc, 'reason', exc)})"
    if status == 200 and isinstance(body, dict) and body.get("status") is True:
        return True, ""
    return False, f"HTTP {status} {json.dumps(body)[:120] if body is not None else ''}".strip()


def wait_healthy(base: str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> tuple[bool, str, float]:
    """Poll /health until it is true or `timeout` seconds passed: (ok, last answer, seconds waited)."""
    start = time.monotonic()
    while True:
        ok, last = healthy(base)
        waited = time.monotonic() - start
        if ok or waited >= timeout:
            return ok, last, waited
        sleep(min(1.0, max(0.0, timeout - waited)))
