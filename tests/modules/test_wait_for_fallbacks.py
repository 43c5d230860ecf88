"""wait_for's port test on hosts without bash: python3, then /proc/net/tcp.

The host is this machine with PATH cut down to a folder of the tools the
shell loop needs, so `command -v bash` (and python3) really fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext, execute
from deployer.modules.wait_for import WaitForArgs, WaitForModule
from tests.modules.runner import Listener

TOOLS = ("date", "sleep", "cat", "awk", "printf", "timeout")


def _ctx(tmp_path: Path, extra_tools: tuple[str, ...]) -> TaskContext:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS + extra_tools:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return TaskContext(host="localhost", connection=LocalConnection(), vars={}, env={"PATH": str(bin_dir)})


@pytest.mark.parametrize("tools", [("python3",), ()], ids=["python3", "proc-net-tcp"])
def test_port_open_without_bash(tmp_path: Path, tools: tuple[str, ...]) -> None:
    if tools and shutil.which("python3") is None:
        pytest.skip("no python3 here")
    listener = Listener()
    listener.open()
    try:
        ctx = _ctx(tmp_path, tools)
        # found open before the deadline (a closed port would raise); no bound on the elapsed
        # seconds: starting python3 on a loaded 2-core machine can itself take a second
        assert execute(WaitForModule(), ctx, WaitForArgs(port=listener.port, timeout=10)) is None
        assert ctx.result["elapsed"] < 10
    finally:
        listener.close()


@pytest.mark.parametrize("tools", [("python3",), ()], ids=["python3", "proc-net-tcp"])
def test_port_closed_without_bash_times_out(tmp_path: Path, tools: tuple[str, ...]) -> None:
    listener = Listener()  # a free port nobody listens on
    ctx = _ctx(tmp_path, tools)
    with pytest.raises(ModuleFailure, match=f"timed out after 1s waiting for port {listener.port} on 127.0.0.1 to be open"):
        execute(WaitForModule(), ctx, WaitForArgs(port=listener.port, timeout=1, sleep=0.2))


def test_remote_port_without_bash_or_python_is_a_clear_error(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, ())
    with pytest.raises(ModuleFailure, match="no bash or python3 to test 10.9.9.9:80"):
        execute(WaitForModule(), ctx, WaitForArgs(host="10.9.9.9", port=80, timeout=1))
