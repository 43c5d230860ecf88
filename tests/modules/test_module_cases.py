"""Every case file under cases/<module>/ run for real (see casefile.py and runner.py)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from deployer import modules
from deployer.connection import LocalConnection
from tests.modules.casefile import CASES, all_cases, load
from tests.modules.runner import run_case

CASE_FILES = all_cases()
#: the modules of this suite, each with its case directory
CORE = ("command", "shell", "copy", "template", "file", "lineinfile", "service", "wait_for", "debug", "assert", "set_fact", "fail")


@pytest.mark.parametrize("path", CASE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in CASE_FILES])
def test_case(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    case = load(path)
    cls = modules.lookup(case.module)
    assert cls is not None and cls.name == path.parent.name, f"{path}: module {case.module} in the wrong folder"
    if case.requires_root and os.geteuid() != 0:
        pytest.skip("needs root (chown)")
    if case.host == "local":
        root = tmp_path / "root"
        root.mkdir()
        conn = LocalConnection()
        run_case(case, conn, str(root), tmp_path, lambda cmd: conn.run(cmd).check())
        return
    conn = request.getfixturevalue("module_fleet")[case.host]
    root = conn.run("mktemp -d /tmp/module-case-XXXXXX").check().stdout.strip()
    try:
        run_case(case, conn, root, tmp_path, lambda cmd: conn.run(cmd).check())
    finally:
        conn.run(f"rm -rf {shlex.quote(root)}")


@pytest.mark.parametrize("name", CORE)
def test_every_module_has_the_basic_cases(name: str) -> None:
    """'already as wanted', 'would change' (for modules that change things) and 'bad argument'."""
    cls = modules.lookup(name)
    assert cls is not None
    statuses = {load(p).check.status for p in (CASES / name).glob("*.yml")}
    wanted = {"failed" if name == "fail" else "ok", "invalid"} | ({"changed"} if cls.needs_connection and name != "wait_for" else set())
    assert wanted <= statuses, f"cases/{name}/ lacks cases with check status {sorted(wanted - statuses)}"


def test_fleet_cases_are_marked() -> None:
    """Cases on fleet hosts say so (they are skipped without a fleet, failed in CI)."""
    hosts = {load(p).host for p in CASE_FILES if p.parent.name == "service"}
    assert "systemd" in hosts and "plain" in hosts
