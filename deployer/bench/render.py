"""report.html: the fleet report as one self-contained page.

No script, no web font, no image file, no external URL: inline CSS and an
inline SVG bar chart (predicted next to measured tokens/s per host and model),
so the file opens offline, from a mail attachment or a login node's scratch.
The template (report.html.j2, shipped in this package) gets plain values;
autoescaping is on, so host names and messages cannot inject markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from deployer.bench.report import FleetReport, HostReport, use_text

# chart geometry (px)
LABEL_W = 230
BAR_W = 470
VALUE_W = 150
BAR_H = 13
GROUP_GAP = 14
TOP = 30


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    value: float
    text: str


@dataclass(frozen=True)
class Group:
    """One host and model in the chart: a predicted and a measured bar."""

    host: str
    model: str
    y: float
    status: str
    predicted: Bar | None
    measured: Bar | None
    threshold_x: float | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_w: int
    bar_w: int
    top: int
    ticks: list[tuple[float, str]]
    groups: list[Group]


def nice_step(top: float, target: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 x 10^k) giving about `target` ticks up to `top`."""
    if top <= 0:
        return 1.0
    raw = top / target
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def chart(report: FleetReport) -> Chart | None:
    """Geometry of the predicted-vs-measured chart; None when nothing was measured or predicted."""
    pairs = []
    for h in report.hosts:
        for b in h.benchmarks:
            predicted = (b.get("plan") or {}).get("tokens_per_second")
            measured = ((b.get("measured") or {}).get("tokens_per_second") or {}).get("median")
            threshold = (b.get("limits") or {}).get("min_tokens_per_second")
            if predicted is not None or measured is not None:
                pairs.append((h.host, str(b.get("model", "?")), b.get("status", "ok"), predicted, measured, threshold))
    if not pairs:
        return None
    top_value = max(v for p in pairs for v in (p[3], p[4], p[5]) if isinstance(v, (int, float)))
    step = nice_step(top_value * 1.05)
    axis_max = step * math.ceil(top_value * 1.05 / step)

    def x(v: float) -> float:
        return round(v / axis_max * BAR_W, 1)

    groups = []
    y = float(TOP)
    for host, model, status, predicted, measured, threshold in pairs:
        pbar = Bar(y, x(predicted), predicted, f"{predicted:.1f} predicted") if predicted is not None else None
        mbar = Bar(y + BAR_H + 2, x(measured), measured, f"{measured:.1f} measured") if measured is not None else None
        groups.append(Group(host, model, y, status, pbar, mbar, x(threshold) if isinstance(threshold, (int, float)) else None))
        y += 2 * BAR_H + 2 + GROUP_GAP
    ticks = []
    v = 0.0
    while v <= axis_max + 1e-9:
        ticks.append((x(v), f"{v:g}"))
        v += step
    return Chart(LABEL_W + BAR_W + VALUE_W, int(y + 8), LABEL_W, BAR_W, TOP, ticks, groups)


def _size(n: Any) -> str:
    """Bytes in the unit that reads well: '11.0 GiB', '977 KiB'."""
    if not isinstance(n, (int, float)) or not n:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit in ("B", "KiB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    # optional keys of the report data (a benchmark that failed has no `measured`) read as empty
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["size"] = _size
    env.filters["num"] = lambda v, d=1: f"{v:.{d}f}" if isinstance(v, (int, float)) else "-"
    text = resources.files("deployer.bench").joinpath("report.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def render_html(report: FleetReport) -> str:
    """The whole page as text."""
    return _template().render(
        report=report,
        counts=report.counts,
        chart=chart(report),
        use_text=use_text,
        host_anchor=_anchor,
        hosts=report.hosts,
    )


def _anchor(host: HostReport) -> str:
    return "host-" + "".join(c if c.isalnum() else "-" for c in host.host)
