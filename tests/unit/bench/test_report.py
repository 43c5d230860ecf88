"""The fleet report: built from a run's results, written as JSON and one offline HTML page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from deployer.bench.render import chart, nice_step, render_html
from deployer.bench.report import bench_rows, build, fleet_rows, write
from deployer.llm.spec import parse_hardware_spec
from deployer.results import Redactor, RunReport, TaskResult
from tests.unit.bench.sample import bench, hardware, sample_report


class Links(HTMLParser):
    """Every src/href value, every tag and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


def test_every_host_is_in_the_page_and_nothing_is_loaded_from_anywhere() -> None:
    report = sample_report()
    html = render_html(report)
    page = parsed(html)
    text = " ".join(page.text)
    for h in report.hosts:
        assert h.host in text
    assert all(not r.startswith(("http://", "https://", "//")) for r in page.refs), page.refs
    assert all(r.startswith("#") for r in page.refs), "only in-page anchors"
    assert not {"script", "link", "img", "iframe", "object"} & page.tags
    assert "@import" not in html and "url(" not in html
    assert "svg" in page.tags and "rect" in page.tags


def test_the_page_shows_what_the_issue_asks_for() -> None:
    text = " ".join(parsed(render_html(sample_report())).text)
    for expected in ("NVIDIA GeForce RTX 4090", "1008 GB/s", "source: dmidecode", "deepseek-r1:14b",
                     "Why this model: RTX 4090 24 GiB", "100% GPU", "36%/64% CPU/GPU", "81.0 predicted",
                     "79.5 measured", "http://gpu-node-01:3000", "ROCR_VISIBLE_DEVICES=0",
                     "Install Ollama", "glibc 2.17 is older than 2.27", "open_webui: the image is 3 weeks old",
                     "7.0 GiB in VRAM", "188.0 GiB", "spilled, slower than predicted"):
        assert expected in text, expected


def test_host_names_and_messages_are_escaped() -> None:
    html = render_html(sample_report())
    assert "login-<b>04</b>" not in html
    assert "login-&lt;b&gt;04&lt;/b&gt;" in html


def test_chart_scale_and_bars() -> None:
    c = chart(sample_report())
    assert c is not None
    assert [g.host for g in c.groups] == ["gpu-node-01", "gpu-node-02", "cpu-node-03"]
    top = max(x for x, _ in c.ticks)
    for g in c.groups:
        assert g.predicted is not None and g.measured is not None
        assert 0 < g.measured.width <= top and 0 < g.predicted.width <= top
    first = c.groups[0]
    assert first.predicted.width / first.measured.width == pytest.approx(81.0 / 79.5, rel=1e-3)  # px rounded to 0.1
    assert [t for _, t in c.ticks] == ["0", "20", "40", "60", "80", "100"]
    assert chart(type(sample_report())("x", False, "t")) is None
    assert nice_step(85) == 20 and nice_step(9) == 2 and nice_step(0) == 1


def test_built_from_a_run_with_failures_webui_and_secrets() -> None:
    run = RunReport(check_mode=False)
    redactor = Redactor()
    redactor.add("s3cr3t-pass")
    b = bench("deepseek-r1:7b", 40.0, [38, 39, 40], (5, 5))
    run.add(TaskResult("h1", "Install Ollama", "ollama_install", "ok"))
    run.add(TaskResult("h1", "Open WebUI", "open_webui", "changed", data={"url": "http://h1:3000", "access": "only this host", "admin_password": "s3cr3t-pass"}))
    run.add(TaskResult("h1", "Benchmark deepseek-r1", "llm_benchmark", "ok", data={"benchmarks": [b], "hardware": hardware("X", 8, [])},
                       warnings=["flag text, shown with the benchmark"]))
    run.add(TaskResult("h1", "Model deepseek-r1 (auto)", "ollama_model", "ok", data={"model": "deepseek-r1:7b", "reason": "r"}))
    run.add(TaskResult("h2", "Model qwen2.5 (auto)", "ollama_model", "changed", data={
        "model": "qwen2.5:1.5b", "reason": "no GPU: qwen2.5:1.5b ... ~12 tok/s", "placement": "cpu",
        "predicted_tokens_per_second": 12.0, "memory_gib": 1.3}))
    run.add(TaskResult("h2", "Install Ollama", "ollama_install", "failed", msg="sudo: password for s3cr3t-pass\nmore lines"))
    run.add(TaskResult("h3", "Gathering", "ollama_install", "unreachable", msg="h3: connecting timed out"))
    run.add(TaskResult("h4", "Benchmark x", "llm_benchmark", "failed", ignored=True, msg="ignored failure",
                       warnings=["x"], data={"benchmarks": [{**b, "status": "warn"}]}))
    report = build(run, redactor, {"h2": parse_hardware_spec("gpu=RTX 4090", hostname="h2")})
    h1, h2, h3, h4 = report.hosts
    assert (h1.status, h1.webui_url, h1.hardware["cpu"], len(h1.benchmarks), h1.warnings) == ("ok", "http://h1:3000", "X", 1, [])
    assert h1.webui_access == "only this host" and "only this host" in render_html(report)
    assert h2.status == "failed" and h2.failures == [{"task": "Install Ollama", "msg": "sudo: password for ********"}]
    assert h2.hardware is not None and h2.hardware["gpus"][0]["bandwidth_gbs"] == 1008.0
    (chosen,) = h2.benchmarks  # deployed, not benchmarked: its choice and reason still show
    assert (chosen["model"], chosen["status"], chosen["plan"]["reason"], chosen["plan"]["tokens_per_second"]) == \
        ("qwen2.5:1.5b", "not_measured", "no GPU: qwen2.5:1.5b ... ~12 tok/s", 12.0)
    assert h3.status == "unreachable" and h3.failures[0]["msg"] == "h3: connecting timed out"
    assert h4.status == "warn" and h4.failures == []  # an ignored failure is not a failure
    assert report.counts == {"ok": 1, "warn": 1, "failed": 1, "unreachable": 1}
    assert "s3cr3t" not in json.dumps(report.to_json())
    rows = fleet_rows(report)
    assert [r[0] for r in rows] == ["h1", "h2", "h3", "h4"]
    assert rows[0][3] == "gpu -> 100% GPU" and rows[0][5] == "39.0 (38.0-40.0)"
    assert "Install Ollama: sudo: password for ********" in rows[1][-1]
    assert bench_rows(h1)[0][:4] == ["deepseek-r1:7b", "gpu -> 100% GPU", "40.0", "39.0 (38.0-40.0)"]


def test_write_puts_json_and_html_in_the_directory(tmp_path: Path) -> None:
    json_path, html_path = write(sample_report(), tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert [h["host"] for h in data["hosts"]] == ["gpu-node-01", "gpu-node-02", "cpu-node-03", "login-<b>04</b>"]
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "report.json"]
