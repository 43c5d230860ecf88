"""The probe run for real on this machine, through LocalConnection.

ShellProbe runs the probe exactly as on a remote host (shell only, no psutil);
stand-in GPU tools on PATH replay captured nvidia-smi output, since this
machine has no GPU.
"""

from __future__ import annotations

import getpass
import os
import platform
import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from deployer.connection import LocalConnection, _Stream
from deployer.facts.probe import gather

from tests.unit.facts.facts_fixture_files import FIXTURES

MIB = 1024 * 1024


class ShellProbe(LocalConnection):
    """This machine seen as a remote host: facts come from the shell probe alone.

    `prefix` is shell text run before the probe (PATH, a cgroup to join);
    every command is recorded, to count round trips.
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.commands: list[str] = []

    @property
    def is_local(self) -> bool:
        return False

    def _start(self, command: str) -> _Stream:
        self.commands.append(command)
        return super()._start(self.prefix + command)


def proc_meminfo_total() -> int:
    line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal:"))
    return int(line.split()[1]) * 1024


def nproc() -> int:
    return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)


def tool(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_shell_probe_agrees_with_proc_and_nproc(tmp_path):
    conn = ShellProbe()
    missing = tmp_path / "models" / "not" / "yet"
    facts = gather(conn, [str(missing)])
    assert len(conn.commands) == 1
    assert facts.source == "probe"
    assert facts.memory.total_bytes == proc_meminfo_total()
    assert facts.cpu.threads == os.cpu_count()
    assert facts.cpu.usable_threads == nproc()
    assert facts.hostname == os.uname().nodename
    assert facts.user == getpass.getuser()
    assert facts.arch == {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert facts.os.glibc == platform.libc_ver()[1]
    assert facts.os.id == platform.freedesktop_os_release()["ID"]
    assert [d.path for d in facts.disks] == [str(missing), os.path.expanduser("~"), "/tmp"]
    disk = facts.disks[0]  # checked at tmp_path, its nearest existing parent
    assert disk.total_bytes == shutil.disk_usage(tmp_path).total
    assert abs(disk.free_bytes - shutil.disk_usage(tmp_path).free) < 256 * MIB
    assert facts.gpus == []


def test_local_connection_uses_psutil_for_memory_cpus_and_disks(tmp_path):
    facts = gather(LocalConnection(), [str(tmp_path / "new")])
    assert facts.source == "local"
    assert facts.memory.total_bytes == proc_meminfo_total()
    assert (facts.cpu.threads, facts.cpu.usable_threads) == (os.cpu_count(), nproc())
    assert facts.disks[0].path == str(tmp_path / "new")
    assert facts.disks[0].total_bytes == shutil.disk_usage(tmp_path).total
    assert {d.path for d in facts.disks} >= {"/tmp", os.path.expanduser("~")}
    # the rest still comes from the probe
    assert facts.os.glibc == platform.libc_ver()[1]
    assert facts.cpu.model != "unknown"


def test_eight_gpus_from_nvidia_smi(tmp_path):
    tool(
        tmp_path,
        "nvidia-smi",
        f'case "$1" in --query-gpu=*) cat {FIXTURES}/nvidia/query-8x-a100-sxm4-80gb-units.csv ;;'
        f" *) cat {FIXTURES}/nvidia/header-a800-535.txt ;; esac\n",
    )
    facts = gather(ShellProbe(f"export PATH={tmp_path}:$PATH; "))
    assert [g.name for g in facts.gpus] == ["NVIDIA A100-SXM4-80GB"] * 8
    assert facts.vram_total_bytes == 8 * 81920 * MIB
    assert (facts.software.cuda_version, facts.software.nvidia_driver) == ("12.2", "535.86.10")


def test_old_driver_without_compute_cap_is_asked_again(tmp_path):
    log = tmp_path / "calls"
    tool(
        tmp_path,
        "nvidia-smi",
        f'echo "$*" >> {log}\n'
        'case "$1" in\n'
        '  *compute_cap*) echo \'Field "compute_cap" is not a valid field to query.\'; exit 2 ;;\n'
        f"  --query-gpu=*) cat {FIXTURES}/nvidia/query-2gpu-rtx-a5000-rtx-4500-ada.csv ;;\n"
        "esac\n",
    )
    facts = gather(ShellProbe(f"export PATH={tmp_path}:$PATH; "))
    assert [g.name for g in facts.gpus] == ["NVIDIA RTX A5000", "NVIDIA RTX 4500 Ada Generation"]
    queries = [ln for ln in log.read_text().splitlines() if ln.startswith("--query-gpu")]
    assert len(queries) == 2 and "compute_cap" in queries[0] and "compute_cap" not in queries[1]
    assert not any("nvidia-smi" in n for n in facts.notes)


def test_hung_tool_is_cut_off_and_noted(tmp_path):
    tool(tmp_path, "nvidia-smi", "exec sleep 60\n")
    start = time.monotonic()
    facts = gather(ShellProbe(f"export PATH={tmp_path}:$PATH DEPLOYER_FACTS_TOOL_TIMEOUT=1; "))
    assert time.monotonic() - start < 15
    assert facts.gpus == []
    assert "nvidia-smi did not answer within the probe's time limit" in facts.notes
    assert facts.os.glibc == platform.libc_ver()[1]  # later sections still ran


def test_probe_killed_halfway_gives_partial_facts_and_a_note(tmp_path):
    # lscpu prints a line, then the whole probe is killed (as by the OOM killer)
    tool(
        tmp_path,
        "lscpu",
        "echo 'Architecture:                            x86_64'\n"
        "p=$$; top=\n"
        "while [ \"$p\" -gt 1 ]; do\n"
        "  tr '\\0' ' ' < /proc/$p/cmdline | grep -q deployer-probe && top=$p\n"
        "  p=$(awk '{print $4}' /proc/$p/stat)\n"
        "done\n"
        "kill -s KILL -- \"-$(awk '{print $5}' /proc/$top/stat)\"\n",
    )
    facts = gather(ShellProbe(f"export PATH={tmp_path}:$PATH; "))
    assert facts.os.id == platform.freedesktop_os_release()["ID"]  # sections before lscpu arrived
    assert facts.user == getpass.getuser()
    assert facts.cpu.machine == platform.machine()
    assert facts.memory.total_bytes is None and facts.disks == []
    assert "section lscpu was cut off: its facts may be incomplete" in facts.notes
    assert "the probe's output ended early (after section lscpu): later facts are missing" in facts.notes
    assert any(n.startswith("the facts probe exited with status") for n in facts.notes)


def _cgroup_v1(controller: str) -> Path | None:
    root = Path("/sys/fs/cgroup") / controller
    return root if (root / "cgroup.procs").exists() and os.access(root, os.W_OK) else None


@pytest.mark.skipif(
    os.geteuid() != 0 or not (_cgroup_v1("memory") and _cgroup_v1("cpu")), reason="needs root and cgroup v1 memory+cpu"
)
def test_cgroup_limits_of_the_login_shell_are_found():
    name = f"deployer-facts-test-{uuid.uuid4().hex[:8]}"
    mem, cpu = Path("/sys/fs/cgroup/memory") / name, Path("/sys/fs/cgroup/cpu") / name
    mem.mkdir()
    cpu.mkdir()
    try:
        (mem / "memory.limit_in_bytes").write_text(str(256 * MIB))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text("50000")
        facts = gather(ShellProbe(f"echo $$ > {mem}/cgroup.procs && echo $$ > {cpu}/cgroup.procs && "))
    finally:
        mem.rmdir()
        cpu.rmdir()
    assert facts.memory.cgroup_limit_bytes == 256 * MIB
    assert facts.memory.usable_bytes == 256 * MIB
    assert facts.memory.cgroup_cpus == 0.5
