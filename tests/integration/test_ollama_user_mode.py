"""User mode on fleet hosts as `researcher`: no sudo, no systemd (an HPC account), through the real CLI.

h4 is reached directly, h6 only through the jump host h1. The server is the
Ollama stand-in from a release archive, run detached by deployer.
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.fakes.release import build_release_set
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult

PLAYBOOKS = Path(__file__).with_name("playbooks")
HOME = "/home/researcher"
PID_FILE = f"{HOME}/.ollama/run/ollama.pid"
Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ollama-user-releases")
    for version in ("0.5.7", "0.6.0"):
        build_release_set(root, version)
    return root


def run(cli: Cli, playbook: str, inventory: Path, *flags: str, **extra: Any) -> tuple[CliResult, dict]:
    res = cli("run", PLAYBOOKS / playbook, "-i", inventory, "--json", *flags, "-e", json.dumps(extra))
    return res, (json.loads(res.stdout) if res.stdout.strip() else {})


def result(report: dict, host: str, action: str) -> dict:
    return next(r for r in report["results"] if r["host"] == host and r["action"] == action)


def as_researcher(fleet: Fleet, host: str, command: str, check: bool = True) -> str:
    return fleet.exec(host, f"su researcher -c {shlex.quote(command)}", check=check).stdout.strip()


def researcher_files(fleet: Fleet, host: str) -> str:
    return fleet.exec(host, f"find {HOME} -printf '%p %y %s %m %u %T@ %l\\n' | sort; ps -eo pid,args | grep '[o]llama serve'; true").stdout


def server_pid(fleet: Fleet, host: str) -> int | None:
    out = fleet.exec(host, f"cat {PID_FILE} 2>/dev/null", check=False).stdout.strip()
    return int(out) if out.isdigit() else None


def clean(fleet: Fleet, host: str) -> None:
    """No user-mode Ollama of the researcher's on `host`: its server stopped, its files gone."""
    pid = server_pid(fleet, host)
    if pid:
        fleet.exec(host, f"kill {pid}", check=False)
    fleet.exec(host, f"rm -rf {HOME}/.ollama {HOME}/.local/opt/ollama {HOME}/.local/bin/ollama", check=False)


@pytest.fixture
def hosts(fleet: Fleet) -> Iterator[list[str]]:
    """The researcher's hosts, without a user-mode Ollama before and after the test."""
    names = ["h4", "h6"]
    for h in names:
        clean(fleet, h)
    yield names
    for h in names:
        clean(fleet, h)


@pytest.fixture
def inventory(fleet: Fleet, tmp_path: Path, hosts: list[str]) -> Path:
    return fleet.write_inventory(tmp_path / "inv.ini", hosts=hosts, group_vars={"ansible_user": "researcher"})


def test_user_mode_on_a_direct_host_and_behind_the_jump_host(
    fleet: Fleet, deployer_cli: Cli, releases: Path, inventory: Path, hosts: list[str]
) -> None:
    port = random.randint(30000, 39999)
    v = dict(releases=str(releases), version="0.5.7", port=port)
    before = {h: researcher_files(fleet, h) for h in hosts}
    res, rep = run(deployer_cli, "ollama_user.yml", inventory, "--check", **v)
    assert res.rc == 0 and all(rep["stats"][h]["changed"] == 2 for h in hosts), res
    assert {h: researcher_files(fleet, h) for h in hosts} == before, "--check changed a host"

    res, rep = run(deployer_cli, "ollama_user.yml", inventory, **v)
    assert res.rc == 0, res
    for h in hosts:
        assert result(rep, h, "ollama_service")["msg"].startswith(f"create {HOME}/.ollama/models, start ollama serve on 127.0.0.1:{port}")
        assert as_researcher(fleet, h, f"OLLAMA_HOST=127.0.0.1:{port} ~/.local/bin/ollama -v") == "ollama version is 0.5.7"
        pid = server_pid(fleet, h)
        assert fleet.exec(h, f"stat -c %U /proc/{pid}").stdout.strip() == "researcher"
        assert fleet.exec(h, f"readlink {HOME}/.local/opt/ollama/current").stdout.strip() == "0.5.7"
    assert not fleet.path("h4", "/etc/systemd/system/ollama.service").exists()

    pids = {h: server_pid(fleet, h) for h in hosts}
    res, rep = run(deployer_cli, "ollama_user.yml", inventory, **v)
    assert res.rc == 0 and all(rep["stats"][h]["changed"] == 0 for h in hosts), res
    assert {h: server_pid(fleet, h) for h in hosts} == pids  # status read across runs: same server

    # an upgrade and a setting: one restart each host, on the new binary
    res, rep = run(deployer_cli, "ollama_user.yml", inventory, "--diff", **{**v, "version": "0.6.0", "context": 8192})
    assert res.rc == 0, res
    assert "-export OLLAMA_CONTEXT_LENGTH=4096" in res.stderr and "+export OLLAMA_CONTEXT_LENGTH=8192" in res.stderr
    for h in hosts:
        assert "restart ollama serve" in result(rep, h, "ollama_service")["msg"]
        assert server_pid(fleet, h) != pids[h]
        assert as_researcher(fleet, h, f"OLLAMA_HOST=127.0.0.1:{port} ~/.local/bin/ollama -v") == "ollama version is 0.6.0"


def test_stale_pid_file_then_stop(fleet: Fleet, deployer_cli: Cli, releases: Path, inventory: Path) -> None:
    inventory = inventory.with_name("h4.ini")
    fleet.write_inventory(inventory, hosts=["h4"], group_vars={"ansible_user": "researcher"})
    port = random.randint(30000, 39999)
    v = dict(releases=str(releases), version="0.5.7", port=port)
    res, _ = run(deployer_cli, "ollama_user.yml", inventory, **v)
    assert res.rc == 0, res

    # the server died and its pid now belongs to something else of the user's
    fleet.exec("h4", f"kill -9 {server_pid(fleet, 'h4')}")
    other = as_researcher(fleet, "h4", f"sleep 300 >/dev/null 2>&1 & echo $! > {PID_FILE}; echo $!")
    try:
        res, rep = run(deployer_cli, "ollama_user.yml", inventory, **v)
        assert res.rc == 0, res
        msg = result(rep, "h4", "ollama_service")["msg"]
        assert f"remove the stale pid file (pid {other} is now: sleep 300)" in msg
        assert server_pid(fleet, "h4") != int(other)
        assert fleet.exec("h4", f"kill -0 {other}", check=False).returncode == 0, "someone else's process was killed"

        res, rep = run(deployer_cli, "ollama_user_stop.yml", inventory, port=port)
        assert res.rc == 0 and result(rep, "h4", "ollama_service")["msg"].startswith("stop ollama serve"), res
        assert server_pid(fleet, "h4") is None
        assert fleet.exec("h4", "ps -eo args | grep -c '[o]llama serve'", check=False).stdout.strip() == "0"
        res, rep = run(deployer_cli, "ollama_user_stop.yml", inventory, port=port)
        assert res.rc == 0 and rep["stats"]["h4"]["changed"] == 0, res
    finally:
        fleet.exec("h4", f"kill {other}", check=False)
