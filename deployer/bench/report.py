"""The fleet report: per host, its hardware, model, placement, speed, front end and failures.

Built from a run's :class:`~deployer.results.RunReport` (every task result with
its data: llm_benchmark's ``benchmarks`` and ``hardware``, ollama_model's
chosen model and reason - shown as "not_measured" when no benchmark ran -,
open_webui's ``url`` and ``access``, failures with their messages) plus the
facts gathered during the run. Written as ``report.json`` (this data) and ``report.html`` (one offline
page, :mod:`deployer.bench.render`); the same rows feed the terminal tables.
Every text passes the run's Redactor.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from deployer.bench.hardware import one_line
from deployer.bench.placement import canonical_name
from deployer.bench.plan import from_vars
from deployer.bench.hardware import summary as hardware_summary
from deployer.facts.model import HostFacts
from deployer.results import NO_LOG_TEXT, Redactor, RunReport, TaskResult

BENCH_ACTION = "llm_benchmark"
WEBUI_ACTION = "open_webui"
MODEL_ACTION = "ollama_model"


@dataclass
class HostReport:
    """One host of the fleet report."""

    host: str
    status: str  # ok | warn | failed | unreachable
    hardware: dict[str, Any] | None = None
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    webui_url: str | None = None
    webui_access: str | None = None  # who reaches it, e.g. "only this host; from elsewhere: ssh -L ..."
    failures: list[dict[str, str]] = field(default_factory=list)  # {"task", "msg"}
    warnings: list[str] = field(default_factory=list)


@dataclass
class FleetReport:
    """Everything report.json and report.html show."""

    source: str
    check_mode: bool
    generated_at: str
    hosts: list[HostReport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "warn": 0, "failed": 0, "unreachable": 0}
        for h in self.hosts:
            out[h.status] = out.get(h.status, 0) + 1
        return out


def _leaves(results: Iterable[TaskResult]) -> Iterable[TaskResult]:
    for r in results:
        if r.items:
            yield from r.items
        else:
            yield r


def build(
    run: RunReport,
    redactor: Redactor,
    facts: Mapping[str, HostFacts] | None = None,
    source: str = "deployer run",
    now: _dt.datetime | None = None,
) -> FleetReport:
    """The fleet report of a finished run."""
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="seconds")
    report = FleetReport(source=source, check_mode=run.check_mode, generated_at=stamp)
    by_host: dict[str, list[TaskResult]] = {h: [] for h in run.stats}
    for r in run.results:
        by_host.setdefault(r.host, []).append(r)
    for host, results in by_host.items():
        report.hosts.append(_host(host, results, run, redactor, (facts or {}).get(host)))
    return report


def _host(host: str, results: list[TaskResult], run: RunReport, redactor: Redactor, facts: HostFacts | None) -> HostReport:
    hr = HostReport(host=host, status="ok", hardware=hardware_summary(facts) if facts is not None else None)
    chosen: list[dict[str, Any]] = []
    for top in results:
        if top.status == "unreachable" or (top.status == "failed" and not top.ignored):
            msg = NO_LOG_TEXT if top.no_log else redactor.text(top.msg)
            hr.failures.append({"task": top.task, "msg": msg.strip().splitlines()[0][:500] if msg.strip() else top.status})
        for r in _leaves([top]):
            if r.no_log:
                continue
            if r.action != BENCH_ACTION:  # a benchmark's warnings are its flags, shown with it
                hr.warnings += [redactor.text(w) for w in r.warnings]
            data = redactor.data(r.data)
            if r.action == BENCH_ACTION:
                hr.benchmarks += [b for b in data.get("benchmarks") or [] if isinstance(b, dict)]
                if hr.hardware is None and isinstance(data.get("hardware"), dict):
                    hr.hardware = data["hardware"]
            elif r.action == MODEL_ACTION and r.status in ("ok", "changed") and isinstance(data.get("model"), str):
                chosen.append(data)
            elif r.action == WEBUI_ACTION and isinstance(data.get("url"), str):
                hr.webui_url = data["url"]
                hr.webui_access = data.get("access") if isinstance(data.get("access"), str) else None
    measured = {canonical_name(str(b.get("model"))) for b in hr.benchmarks}
    for data in chosen:  # a model deployed but not benchmarked still shows with its plan
        plan = from_vars(data["model"], {data["model"]: data})
        if plan is not None and canonical_name(plan.model) not in measured:
            measured.add(canonical_name(plan.model))
            hr.benchmarks.append({"request": plan.request, "model": plan.model, "status": "not_measured",
                                  "plan": plan.to_data(), "flags": []})
    stats = run.stats.get(host)
    if stats is not None and stats.unreachable and not stats.failed:
        hr.status = "unreachable"
    elif (stats is not None and stats.failed) or any(b.get("status") in ("fail", "error") for b in hr.benchmarks):
        hr.status = "failed"
    elif hr.warnings or any(b.get("status") == "warn" for b in hr.benchmarks):
        hr.status = "warn"
    return hr


def write(report: FleetReport, directory: Path) -> tuple[Path, Path]:
    """Write DIR/report.json and DIR/report.html (each atomically); returns their paths."""
    from deployer.bench.render import render_html

    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    html_path = directory / "report.html"
    _atomic(json_path, json.dumps(report.to_json(), indent=2, default=str) + "\n")
    _atomic(html_path, render_html(report))
    return json_path, html_path


def _atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- rows for the terminal ------------------------------------------------------------

FLEET_COLUMNS = ["Host", "Hardware", "Model", "Placement (plan -> actual)", "Predicted tok/s", "Measured tok/s",
                 "Open WebUI", "Status"]
BENCH_COLUMNS = ["Model", "Placement (plan -> actual)", "Predicted tok/s", "Measured tok/s", "Prompt tok/s",
                 "TTFT s", "Load s", "CPU / GPU use", "Status"]


def _num(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _range(summary: Mapping[str, Any] | None, digits: int = 1) -> str:
    if not summary:
        return "-"
    text = _num(summary.get("median"), digits)
    if summary.get("n", 1) > 1:
        text += f" ({_num(summary.get('min'), digits)}-{_num(summary.get('max'), digits)})"
    return text


def placement_text(bench: Mapping[str, Any]) -> str:
    """'gpu -> 100% GPU', 'gpu -> 50%/50% CPU/GPU', '- -> 100% CPU'."""
    planned = (bench.get("plan") or {}).get("placement") or "-"
    actual = ((bench.get("measured") or {}).get("placement") or {}).get("label") or "-"
    return f"{planned} -> {actual}"


def status_text(bench: Mapping[str, Any]) -> str:
    """'ok', or the status with the first flag's kind / the error."""
    status = str(bench.get("status", "?"))
    if status == "error":
        return f"error: {bench.get('error', '')}"[:200]
    kinds = [f.get("kind", "") for f in bench.get("flags") or []]
    return f"{status}: {', '.join(kinds)}" if kinds else status


def use_text(measured: Mapping[str, Any] | None) -> str:
    use = (measured or {}).get("utilisation") or {}
    parts = []
    if use.get("cpu_pct_avg") is not None:
        parts.append(f"CPU {use['cpu_pct_avg']:.0f}%")
    for g in use.get("gpus") or []:
        if g.get("util_pct_avg") is not None:
            parts.append(f"GPU{g['index']} {g['util_pct_avg']:.0f}%")
    return ", ".join(parts) or "-"


def fleet_rows(report: FleetReport) -> list[list[str]]:
    """One row per host and model (a host without a benchmark gets one row with its failure)."""
    rows: list[list[str]] = []
    for h in report.hosts:
        cause = "; ".join(f"{f['task']}: {f['msg']}" for f in h.failures[:2])
        hw = one_line(h.hardware)
        for i, b in enumerate(h.benchmarks or [None]):  # type: ignore[list-item]
            status = h.status + (f" - {cause}" if cause else "")
            if b is None:
                rows.append([h.host, hw, "-", "-", "-", "-", h.webui_url or "-", status])
                continue
            measured = b.get("measured") or {}
            rows.append([
                h.host if i == 0 else "", hw if i == 0 else "", str(b.get("model", "-")), placement_text(b),
                _num((b.get("plan") or {}).get("tokens_per_second")), _range(measured.get("tokens_per_second")),
                (h.webui_url or "-") if i == 0 else "", status_text(b) if not cause else status,
            ])
    return rows


def bench_rows(host: HostReport) -> list[list[str]]:
    """One row per model benchmarked on `host`."""
    rows = []
    for b in host.benchmarks:
        m = b.get("measured") or {}
        rows.append([
            str(b.get("model", "-")), placement_text(b), _num((b.get("plan") or {}).get("tokens_per_second")),
            _range(m.get("tokens_per_second")), _range(m.get("prompt_tokens_per_second"), 0),
            _range(m.get("ttft_s"), 2), _num(m.get("load_s"), 2), use_text(m), status_text(b),
        ])
    return rows
