"""Median and spread of a handful of runs.

A benchmark makes few runs (3 by default), so the summary is the median (robust
to one slow outlier, e.g. a run that waited for the GPU clock to ramp up) with
the full range (min and max) as its spread; with 4 runs or more the
interquartile range is given too.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Summary:
    """Median and spread of one measured quantity."""

    n: int
    median: float
    min: float
    max: float
    q1: float | None = None
    q3: float | None = None

    @property
    def spread(self) -> float:
        """max - min, as a fraction of the median (0 when the median is 0)."""
        return (self.max - self.min) / self.median if self.median else 0.0

    def to_data(self, digits: int = 3) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "median": round(self.median, digits),
            "min": round(self.min, digits),
            "max": round(self.max, digits),
        }
        if self.q1 is not None and self.q3 is not None:
            out["q1"] = round(self.q1, digits)
            out["q3"] = round(self.q3, digits)
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Summary":
        return cls(int(data["n"]), float(data["median"]), float(data["min"]), float(data["max"]),
                   data.get("q1"), data.get("q3"))


def summarize(values: Iterable[float]) -> Summary | None:
    """The summary of `values`, or None when there are none."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    q1 = q3 = None
    if len(xs) >= 4:
        # "inclusive" keeps the quartiles inside the observed range for small samples
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Summary(len(xs), statistics.median(xs), xs[0], xs[-1], q1, q3)


def fmt_range(summary: Summary | None, unit: str = "", digits: int = 1) -> str:
    """'41.2 (39.8-42.0)' or '41.2' for a single run; '-' for none."""
    if summary is None:
        return "-"
    med = f"{summary.median:.{digits}f}{unit}"
    if summary.n < 2:
        return med
    return f"{med} ({summary.min:.{digits}f}-{summary.max:.{digits}f})"
