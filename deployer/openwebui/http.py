"""Talking to Open WebUI on a host from the control machine (through ctx.tunnel).

Open WebUI answers ``GET /health`` with ``{"status": true}`` once its
database is migrated and it serves; the first start can take minutes. Until
its port is open, the wait happens on the host (one command): a tunnel to a
closed port would only collect refused SSH channels, one per try.
"""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from deployer.modules.base import TaskContext


#: shell: wait until $1:$2 accepts connections, at most $3 seconds (exit 3 when not)
_PORT_LOOP = r"""
is_open() {
  if command -v bash >/dev/null 2>&1; then bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' "$1" "$2" 2>/dev/null
  else return 0; fi  # nothing to test with: the HTTP poll will tell
}
end=$(( $(date +%s) + $3 ))
until is_open "$1" "$2"; do [ "$(date +%s)" -ge "$end" ] && exit 3; sleep 1; done
"""


def wait_port(ctx: TaskContext, host: str, port: int, timeout: float) -> bool:
    """Wait on the host until host:port accepts connections (read-only); False after `timeout` seconds."""
    res = ctx.probe(f"sh -c {shlex.quote(_PORT_LOOP)} _ {shlex.quote(host)} {port} {int(timeout)}", timeout=timeout + 60)
    return res.ok


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
