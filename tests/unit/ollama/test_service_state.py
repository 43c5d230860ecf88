"""What ollama_service reads from a host (service_state): parsing, pid files, models dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from deployer.connection import LocalConnection
from deployer.modules.base import TaskContext
from deployer.ollama.layout import Layout
from deployer.ollama.service_state import ServiceState, dirs_to_create, parse_state, probe_script

SYSTEM_PROBE = """uid=0
home=/root
models=/srv/ollama/models
current=0.5.7
binary=/opt/ollama/0.5.7/bin/ollama
systemd=yes
models_existing=/srv
models_free_kib=2048
user_exists=yes
user_group=ollama
user_groups=ollama video
untraversable=/srv
host_group=render
host_group=video
LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=no
"""


def test_parse_system_probe() -> None:
    st = parse_state(SYSTEM_PROBE)
    assert (st.uid, st.current, st.binary, st.systemd) == (0, "0.5.7", "/opt/ollama/0.5.7/bin/ollama", True)
    assert not st.models_exists and st.models_existing == "/srv" and st.models_free == 2 << 20
    assert st.user_exists and st.user_group == "ollama" and st.user_groups == {"ollama", "video"} and st.host_groups == {"render", "video"}
    assert st.untraversable == ["/srv"] and st.active and st.enabled


@pytest.mark.parametrize(
    "props, active, enabled",
    [
        ({"LoadState": "not-found", "ActiveState": "inactive", "UnitFileState": "static"}, False, False),
        ({"LoadState": "loaded", "ActiveState": "activating", "UnitFileState": "disabled"}, True, False),
        ({"LoadState": "loaded", "ActiveState": "failed", "UnitFileState": "enabled"}, False, True),
    ],
)
def test_unit_states(props: dict[str, str], active: bool, enabled: bool) -> None:
    st = ServiceState(props=props)
    assert (st.active, st.enabled) == (active, enabled)


@pytest.mark.parametrize(
    "cmdline, running",
    [
        ("python3 /home/r/.local/opt/ollama/0.5.7/bin/ollama serve", True),
        ("/opt/ollama/0.6.0/bin/ollama serve", True),
        ("sleep 1000", False),  # the pid was reused
        ("/opt/ollama/0.6.0/bin/ollama run qwen", False),
        (None, False),  # the process is gone
    ],
)
def test_server_running_only_for_a_live_ollama_serve(cmdline: str | None, running: bool) -> None:
    assert ServiceState(pid=42, pid_cmdline=cmdline).server_running is running


def test_dirs_to_create_parents_first() -> None:
    assert dirs_to_create("/usr/share/ollama/.ollama/models", "/usr/share") == [
        "/usr/share/ollama", "/usr/share/ollama/.ollama", "/usr/share/ollama/.ollama/models",
    ]  # fmt: skip
    assert dirs_to_create("/srv/models/", "/srv/models") == []


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def probe_user(tmp_path: Path, pid_file: Path) -> ServiceState:
    lay = Layout("user", str(tmp_path / "opt" / "ollama"), str(tmp_path / "bin" / "ollama"))
    ctx = TaskContext("local", LocalConnection(), {})
    return parse_state(ctx.probe(probe_script(lay, str(tmp_path / "models"), False, "unused", str(pid_file))).stdout)


def test_user_probe_tells_a_live_server_from_a_reused_or_dead_pid(tmp_path: Path, processes: list) -> None:
    pid_file = tmp_path / "ollama.pid"
    fake_bin = str(tmp_path / "opt" / "ollama" / "0.5.7" / "bin" / "ollama")
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", fake_bin, "serve"])
    other = subprocess.Popen(["sleep", "60"])
    processes += [server, other]

    pid_file.write_text(f"{server.pid}\n")
    st = probe_user(tmp_path, pid_file)
    assert st.pid == server.pid and st.server_running and fake_bin in (st.pid_cmdline or "")

    pid_file.write_text(f"{other.pid}\n")
    st = probe_user(tmp_path, pid_file)
    assert st.pid == other.pid and not st.server_running and st.pid_cmdline == "sleep 60"

    other.kill()
    other.wait()
    st = probe_user(tmp_path, pid_file)
    assert st.pid == other.pid and st.pid_cmdline is None and not st.server_running

    pid_file.unlink()
    assert probe_user(tmp_path, pid_file).pid is None


def test_user_probe_of_models_dir(tmp_path: Path) -> None:
    st = probe_user(tmp_path, tmp_path / "none.pid")
    assert st.models == str(tmp_path / "models") and not st.models_exists and st.models_existing == str(tmp_path)
    (tmp_path / "models").mkdir()
    st = probe_user(tmp_path, tmp_path / "none.pid")
    assert st.models_exists and st.models_writable and st.models_free and st.models_free > 0


def test_probe_sees_a_listening_port(tmp_path: Path) -> None:
    import socket

    lay = Layout("user", str(tmp_path / "opt" / "ollama"), str(tmp_path / "bin" / "ollama"))
    ctx = TaskContext("local", LocalConnection(), {})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        script = probe_script(lay, str(tmp_path / "m"), False, "unused", str(tmp_path / "pid"), port)
        assert not parse_state(ctx.probe(script).stdout).port_busy  # bound, not listening
        s.listen(1)
        assert parse_state(ctx.probe(script).stdout).port_busy
