"""User mode end to end on this machine: ollama_install + ollama_service with a real stand-in server.

HOME is pointed at a temporary directory (the task environment), so ~/.local/opt,
~/.local/bin and ~/.ollama all land there; the server is a real detached process.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.facts.model import CPUInfo, HostFacts, OSInfo
from deployer.modules.base import Change, FactsProvider, TaskContext, execute
from deployer.modules.ollama_install import InstallArgs, OllamaInstallModule
from deployer.modules.ollama_service import OllamaServiceModule, ServiceArgs
from deployer.ollama.api import OllamaAPI
from tests.fakes.release import build_release_set


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Host:
    """This machine as a host whose login user's HOME is a temp dir."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.home.mkdir()
        self.releases = tmp / "releases"
        self.port = free_port()
        self.facts = HostFacts(arch="amd64", cpu=CPUInfo(machine="x86_64"), os=OSInfo(glibc="2.36"))

    def ctx(self, check: bool = False) -> TaskContext:
        env = {"HOME": str(self.home), "FAKE_OLLAMA_ENV_FILE": "/nonexistent"}
        return TaskContext("local", LocalConnection(), {}, check_mode=check, base_dir=self.releases,
                           facts_provider=FactsProvider(lambda: self.facts, self.facts), env=env)

    def install(self, version: str, **kw: Any) -> Change | None:
        args = InstallArgs(version=version, mode="user", source={"tarball": f"v{version}/ollama-linux-amd64.tgz"}, **kw)
        return execute(OllamaInstallModule(), self.ctx(), args)

    def service(self, check: bool = False, **kw: Any) -> tuple[Change | None, TaskContext]:
        kw.setdefault("listen", f"127.0.0.1:{self.port}")
        ctx = self.ctx(check)
        return execute(OllamaServiceModule(), ctx, ServiceArgs(mode="user", wait=20, **kw)), ctx

    def pid(self) -> int:
        return int((self.home / ".ollama/run/ollama.pid").read_text())


def alive(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except FileNotFoundError:
        return False


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    h = Host(tmp_path)
    for v in ("0.5.7", "0.6.0"):
        build_release_set(h.releases, v)
    yield h
    pid_file = h.home / ".ollama/run/ollama.pid"
    if pid_file.exists() and alive(h.pid()):
        os.kill(h.pid(), 15)


def test_user_mode_life_cycle(host: Host) -> None:
    change = host.install("0.5.7")
    assert change is not None and change.summary.startswith("install 0.5.7 (push ")
    assert (host.home / ".local/bin/ollama").resolve() == host.home / ".local/opt/ollama/0.5.7/bin/ollama"

    change, _ = host.service(check=True)
    assert change is not None and f"start ollama serve on 127.0.0.1:{host.port}" in change.summary
    assert not (host.home / ".ollama/run").exists(), "--check started something"

    change, ctx = host.service()
    assert change is not None and ctx.result["running_version"] == "0.5.7"
    api = OllamaAPI(f"http://127.0.0.1:{host.port}")
    assert api.running() and api.version() == "0.5.7"
    first = host.pid()
    env_file = (host.home / ".ollama/run/ollama.env").read_text()
    assert f"export OLLAMA_HOST=127.0.0.1:{host.port}" in env_file
    assert oct((host.home / ".ollama/run/ollama.env").stat().st_mode & 0o777) == "0o600"

    # a rerun finds it running with the same settings: nothing to do
    assert host.install("0.5.7") is None
    change, ctx = host.service()
    assert change is None and "running on" in ctx.result["msg"] and host.pid() == first

    # a setting changes: restarted, with a diff of the env file
    change, _ = host.service(context_length=8192)
    assert change is not None and f"restart ollama serve (pid {first}: settings or binary changed)" in change.summary
    assert [d.label for d in change.diffs] == [str(host.home / ".ollama/run/ollama.env")]
    assert not alive(first) and alive(host.pid())

    # an upgrade switches current; the service restarts on the new binary
    assert host.install("0.6.0") is not None
    change, ctx = host.service(context_length=8192)
    assert change is not None and ctx.result["running_version"] == "0.6.0"

    # stopped, then stopped again: nothing to do
    change, _ = host.service(state="stopped")
    assert change is not None and change.summary.startswith("stop ollama serve")
    assert not (host.home / ".ollama/run/ollama.pid").exists()
    change, _ = host.service(state="stopped")
    assert change is None


def test_stale_pid_file_is_detected(host: Host) -> None:
    host.install("0.5.7")
    host.service()
    os.kill(host.pid(), 9)
    for _ in range(50):
        if not alive(host.pid()):
            break
        time.sleep(0.1)
    change, _ = host.service(check=True)
    assert change is not None and "remove the stale pid file (its process is gone" in change.summary
    change, _ = host.service()
    assert change is not None and alive(host.pid())


def test_a_taken_port_is_refused_before_starting(host: Host) -> None:
    host.install("0.5.7")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", host.port))
        taken.listen(1)
        with pytest.raises(ModuleFailure, match=f"port {host.port} on local is taken by another process"):
            host.service(check=True)
    assert not (host.home / ".ollama/run/ollama.pid").exists()


def test_a_server_that_exits_fails_at_once_with_its_log(host: Host) -> None:
    host.install("0.5.7")
    blocker = host.home / "a-file"
    blocker.write_text("")
    started = time.monotonic()
    with pytest.raises(ModuleFailure) as info:
        host.service(env={"HOME": f"{blocker}/home"})  # it cannot create ~/.ollama there: it exits
    assert time.monotonic() - started < 10, "a dead server must fail fast, not at the timeout"
    text = str(info.value)
    assert "Ollama did not come up on local: the server exited" in text
    assert f"{blocker}/home/.ollama" in text and str(host.home / ".ollama/logs/server.log") in text


def test_service_before_install_fails_but_check_after_a_pending_install_reports(host: Host) -> None:
    with pytest.raises(ModuleFailure, match="Ollama is not installed on local"):
        host.service()
    change, ctx = host.service(state="stopped")
    assert change is None and ctx.result["msg"].startswith("Ollama (not installed) not running")
    ctx = host.ctx(check=True)
    ctx.earlier_changes_pending = True
    change = execute(OllamaServiceModule(), ctx, ServiceArgs(mode="user", listen=f"127.0.0.1:{host.port}"))
    assert change is not None and "start ollama serve" in change.summary


def test_public_listen_is_allowed_only_when_asked_and_then_warned_about(host: Host) -> None:
    host.install("0.5.7")
    with pytest.raises(ValueError, match="no authentication"):
        ServiceArgs(mode="user", listen=f"0.0.0.0:{host.port}")
    change, ctx = host.service(check=True, listen=f"0.0.0.0:{host.port}", allow_public_bind=True)
    assert change is not None
    assert any(f"listens on 0.0.0.0:{host.port}" in w and "no authentication" in w for w in ctx.warnings)
