"""The server's stderr log, in the formats Ollama's log readers see.

Three shapes, as in a real journal: Go's default logger before slog is set up
(``2025/01/30 10:00:00 routes.go:1259: INFO server config env="map[...]"``),
slog's text handler (``time=... level=INFO source=routes.go:1310 msg="Listening
on 127.0.0.1:11434 (version 0.5.7)"``) and gin's request lines.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
import threading

from . import goish

_lock = threading.Lock()
_SOURCES = {"config": "routes.go:1259", "listen": "routes.go:1310", "prune": "images.go:757",
            "gpu": "gpu.go:226", "nogpu": "gpu.go:392", "compute": "types.go:131",
            "download": "download.go:175", "sched": "server.go:104", "images": "images.go:1005"}


def _write(line: str) -> None:
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _quote(value: str) -> str:
    if value and not re.search(r'[\s="\\]|[^\x21-\x7e]', value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def std(level: str, source: str, msg: str) -> None:
    """Go's log package format, used by Ollama before its slog handler is installed."""
    stamp = _dt.datetime.now().strftime("%Y/%m/%d %H:%M:%S")
    _write(f"{stamp} {_SOURCES.get(source, source)}: {level} {msg}")


def slog(level: str, source: str, msg: str, **attrs: object) -> None:
    now = goish.now_local()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"
    off = goish.rfc3339nano(now.replace(microsecond=0))[19:]
    parts = [f"time={stamp}{off}", f"level={level}", f"source={_SOURCES.get(source, source)}",
             f"msg={_quote(msg)}"]
    parts += [f"{k}={_quote(str(v))}" for k, v in attrs.items()]
    _write(" ".join(parts))


def gin(status: int, latency_ns: int, client: str, method: str, path: str) -> None:
    stamp = _dt.datetime.now().strftime("%Y/%m/%d - %H:%M:%S")
    if latency_ns > goish.MINUTE:
        latency_ns -= latency_ns % goish.SECOND
    latency = goish.duration_string(latency_ns)
    _write(f'[GIN] {stamp} | {status:3d} | {latency:>13} | {client:>15} | {method:<7}  "{path}"')


def go_map(values: dict[str, str]) -> str:
    """fmt's %v of a map[string]string: keys sorted, "map[k:v k:v]"."""
    return "map[" + " ".join(f"{k}:{values[k]}" for k in sorted(values)) + "]"
