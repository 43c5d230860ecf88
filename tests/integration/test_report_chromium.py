"""report.html in a real browser: headless Chromium, offline, no network, shows every host.

Needs Debian's `chromium` (tests/run.sh installs it); skipped with the reason without it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html import unescape
from pathlib import Path

import pytest

from deployer.bench.report import write
from tests.unit.bench.sample import sample_report

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return path


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / "chromium-profile"
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def dump_dom(page: Path, tmp: Path) -> str:
    """The DOM after Chromium loaded `page` (a file:// URL, no network)."""
    proc = _run(["--dump-dom", page.resolve().as_uri()], tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def page_text(page: Path, tmp: Path) -> str:
    """The visible text of `page` as Chromium shows it; without Chromium, of the file as written."""
    return visible_text(dump_dom(page, tmp) if chromium_path() else page.read_text(encoding="utf-8"))


def visible_text(dom: str) -> str:
    body = re.sub(r"<style.*?</style>", " ", dom, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def screenshot(page: Path, out: Path, tmp: Path, size: str = "1300,1800") -> tuple[int, int]:
    """A PNG of `page`; returns its (width, height)."""
    proc = _run([f"--window-size={size}", f"--screenshot={out}", page.resolve().as_uri()], tmp)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_the_report_renders_offline_with_every_host(tmp_path: Path) -> None:
    report = sample_report()
    _, html = write(report, tmp_path / "report")
    dom = dump_dom(html, tmp_path)
    text = visible_text(dom)
    for host in report.hosts:
        assert host.host in text, f"{host.host} is not on the page"
    for expected in ("deployer fleet report", "Tokens per second: predicted and measured", "81.0 predicted",
                     "79.5 measured", "36%/64% CPU/GPU", "glibc 2.17 is older than 2.27"):
        assert expected in text, expected
    assert "<svg" in dom and dom.count("<rect") >= 6  # two bars for each of the three benchmarks
    width, height = screenshot(html, tmp_path / "report.png", tmp_path)
    assert (width, height) == (1300, 1800)
    assert (tmp_path / "report.png").stat().st_size > 20_000, "a blank page compresses to almost nothing"
