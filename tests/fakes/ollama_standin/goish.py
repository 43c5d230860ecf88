"""How Go prints things, so the stand-in's output reads like Ollama's.

Ollama is a Go program: its durations, JSON, timestamps, sizes and tables come
out of Go's standard library, gin and tablewriter. Product code parses some of
these (``eval rate``, ``ollama list`` columns, ``created_at``), so they are
reproduced here rather than approximated with Python's own formats.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re

NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MAX_DURATION = 2**63 - 1  # Go's math.MaxInt64 nanoseconds: "forever"

_UNITS = {"ns": NANOSECOND, "us": MICROSECOND, "µs": MICROSECOND, "μs": MICROSECOND,
          "ms": MILLISECOND, "s": SECOND, "m": MINUTE, "h": HOUR}


def _fraction(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    if not frac:
        return str(whole)
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def duration_string(ns: int) -> str:
    """time.Duration.String(): 1.5s, 12.345ms, 1m0s, 1h2m3.4s."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < SECOND:
        if u < MICROSECOND:
            return f"{sign}{u}ns"
        if u < MILLISECOND:
            return f"{sign}{_fraction(u, 3)}µs"
        return f"{sign}{_fraction(u, 6)}ms"
    total_s, frac_ns = divmod(u, SECOND)
    out = _fraction(total_s % 60 * SECOND + frac_ns, 9) + "s"
    minutes = total_s // 60
    if minutes:
        out = f"{minutes % 60}m" + out
        if minutes // 60:
            out = f"{minutes // 60}h" + out
    return sign + out


def parse_duration(text: str) -> int:
    """time.ParseDuration, with Go's error messages; returns nanoseconds."""
    orig = text
    if text in ("0", "+0", "-0"):
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{orig}"')
    neg = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
    total = 0.0
    pos = 0
    matched = False
    for m in re.finditer(r"(\d*\.?\d*)([^\d.]*)", text):
        if not m.group(0):
            continue
        if m.start() != pos:
            raise ValueError(f'time: invalid duration "{orig}"')
        pos = m.end()
        number, unit = m.groups()
        if number in ("", "."):
            raise ValueError(f'time: invalid duration "{orig}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += float(number) * _UNITS[unit]
        matched = True
    if not matched or pos != len(text):
        raise ValueError(f'time: invalid duration "{orig}"')
    ns = int(round(total))
    return -ns if neg else ns


def human_bytes(b: int) -> str:
    """format.HumanBytes: decimal units, "4.7 GB", "934 MB", "12 B"."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if b >= size:
            value = b / size
            break
    else:
        return f"{b} B"
    if value >= 10:
        return f"{int(value)} {unit}"
    if value != math.trunc(value):
        return f"{value:.1f} {unit}"
    return f"{int(value)} {unit}"


def human_number(n: int) -> str:
    """format.HumanNumber: 7615616512 -> "7.6B", 494032768 -> "494.03M"."""
    if n >= 10**9:
        v = n / 10**9
        return f"{v:.0f}B" if v == math.floor(v) else f"{v:.1f}B"
    if n >= 10**6:
        v = n / 10**6
        return f"{v:.0f}M" if v == math.floor(v) else f"{v:.2f}M"
    if n >= 10**3:
        return f"{n / 10**3:.0f}K"
    return str(n)


def _human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds // 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def human_time(when: _dt.datetime | None, zero: str) -> str:
    """format.HumanTime: "2 weeks ago", "4 minutes from now", "Forever"."""
    if when is None:
        return zero
    delta = (_dt.datetime.now(_dt.timezone.utc) - when).total_seconds()
    if delta / 3600 / 24 / 365 < -20:
        return "Forever"
    if delta < 0:
        return _human_duration(-delta) + " from now"
    return _human_duration(delta) + " ago"


def rfc3339nano(when: _dt.datetime) -> str:
    """Go's time.RFC3339Nano as encoding/json writes it (trailing zeros trimmed)."""
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{when.microsecond:06d}".rstrip("0")
    if frac:
        base += "." + frac
    off = when.utcoffset()
    if off is None or off == _dt.timedelta(0):
        return base + "Z"
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{base}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_rfc3339(text: str) -> _dt.datetime:
    """Inverse of rfc3339nano (Python accepts at most microseconds)."""
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        raise ValueError(f"bad timestamp {text!r}")
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return _dt.datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}")


def now_local() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def dumps(obj: object) -> str:
    """encoding/json.Marshal: compact, with Go's HTML-safe escaping."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, esc)
    return text


def table(headers: list[str], rows: list[list[str]]) -> str:
    """tablewriter as Ollama configures it: no borders, 4-space padding.

    Every row cell is followed by the padding (so lines end in spaces); the
    header's last cell by one space, as tablewriter does.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    pad = "    "
    last = len(headers) - 1
    lines = ["".join(h.upper().ljust(widths[i]) + (" " if i == last else pad)
                     for i, h in enumerate(headers))]
    for row in rows:
        lines.append("".join(cell.ljust(widths[i]) + pad for i, cell in enumerate(row)))
    return "\n".join(lines) + "\n"


def errno_message(exc: OSError, op: str | None = None) -> str:
    """An OSError the way Go's *PathError prints: "mkdir /x: permission denied"."""
    reason = (exc.strerror or str(exc)).strip()
    reason = reason[:1].lower() + reason[1:]
    if exc.filename is None:
        return reason
    verb = op or {"FileExistsError": "mkdir"}.get(type(exc).__name__, "open")
    return f"{verb} {exc.filename}: {reason}"
