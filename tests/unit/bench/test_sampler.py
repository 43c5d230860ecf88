"""The background sampler: its parser on captured shapes, and the real command on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from deployer.bench.sampler import Sampler, parse
from deployer.connection import LocalConnection

MIB = 2**20

CAPTURE = """\
nvproc 2211, /usr/lib/xorg/Xorg, 312
nvproc 4242, /usr/local/bin/ollama, 10822
nvproc 5001, python3, 8000
env 4242 CUDA_VISIBLE_DEVICES=0,1
env 4242 OLLAMA_NUM_PARALLEL=4
env 4243 CUDA_VISIBLE_DEVICES=0,1
@
cpu  1000 0 500 8000 500 0 0 0 0 0
mem 65536000 60000000
nv 0, 10, 12000, 24564
nv 1, [N/A], [N/A], 24564
@
cpu  1800 0 600 8100 500 0 0 0 0 0
mem 65536000 50000000
nv 0, 95, 20000, 24564
nv 1, 5, 1000, 24564
@
cpu  1800 0 700 9000 500 0 0 0 0 0
mem 65536000 55000000
nv 0, 85, 20010, 24564
nv 1, 7, 1000, 24564
@
cpu  20
"""

ROCM = """\
@
cpu  100 0 0 900 0 0 0 0
mem 1000 500
amd device,GPU use (%),VRAM Total Memory (B),VRAM Total Used Memory (B)
amd card0,40,68702699520,30000000000
amd card1,N/A,68702699520,1000
@
cpu  200 0 0 1000 0 0 0 0
amd device,GPU use (%),VRAM Total Memory (B),VRAM Total Used Memory (B)
amd card0,60,68702699520,31000000000
amd card1,0,68702699520,1000
"""


def test_cpu_ram_and_nvidia_gpus_from_a_capture() -> None:
    use = parse(CAPTURE)
    assert use.samples == 4  # the last one broke off: counted, its garbage skipped
    # busy = total - idle - iowait: first->last 1000 of 2000 jiffies; intervals 900/1000 and 100/1000
    assert use.cpu_pct_avg == pytest.approx(50.0)
    assert use.cpu_pct_max == pytest.approx(90.0)  # 900 busy of 1000 in the second interval
    assert use.ram_total_bytes == 65536000 * 1024
    assert use.ram_used_bytes_max == (65536000 - 50000000) * 1024
    g0, g1 = use.gpus
    assert (g0.index, g0.vendor, g0.util_pct_max, g0.memory_used_bytes_max) == (0, "nvidia", 95.0, 20010 * MIB)
    assert g0.util_pct_avg == pytest.approx((10 + 95 + 85) / 3)
    assert g0.memory_total_bytes == 24564 * MIB
    assert g1.util_pct_avg == pytest.approx(6.0)  # [N/A] is skipped, not zero
    assert [p["pid"] for p in use.gpu_processes] == [2211, 4242, 5001]
    assert use.gpu_processes[2]["memory_bytes"] == 8000 * MIB
    assert use.server_env == {"CUDA_VISIBLE_DEVICES": "0,1", "OLLAMA_NUM_PARALLEL": "4"}
    assert use.server_pids == [4242, 4243]


def test_rocm_csv_columns_are_found_by_name() -> None:
    use = parse(ROCM)
    assert [(g.vendor, g.index) for g in use.gpus] == [("amd", 0), ("amd", 1)]
    assert use.gpus[0].util_pct_avg == pytest.approx(50.0)
    assert use.gpus[0].memory_used_bytes_max == 31000000000
    assert use.gpus[0].memory_total_bytes == 68702699520
    assert use.gpus[1].util_pct_max == 0.0
    assert use.cpu_pct_avg == pytest.approx(50.0)


def test_empty_or_garbage_output_gives_no_numbers() -> None:
    for text in ("", "garbage\n@\ncpu x y\nmem a b\nnv x, y\n"):
        use = parse(text)
        assert use.cpu_pct_avg is None and use.ram_used_bytes_max is None and use.gpus == []


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_the_real_command_samples_until_its_stdin_closes(tmp_path: Path) -> None:
    """On this machine: a fake nvidia-smi on PATH, and a process named `ollama` with GPU variables."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text('#!/bin/sh\ncase "$*" in\n*compute-apps*) echo "777, /opt/other/train.py, 4096";;\n'
                   '*) echo "0, 33, 1000, 16384";;\nesac\n')
    smi.chmod(0o755)
    fake_ollama = bindir / "ollama"
    shutil.copy("/bin/sleep", fake_ollama)
    server = subprocess.Popen([str(fake_ollama), "30"], env={"ROCR_VISIBLE_DEVICES": "0", "PATH": "/usr/bin:/bin"})
    try:
        conn = LocalConnection()
        env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
        sampler = Sampler(lambda cmd, **kw: conn.run(cmd, env=env, **kw), interval=0.2).start()
        started = time.monotonic()
        _busy(1.0)
        use = sampler.stop()
        assert time.monotonic() - started < 4, "the sampler did not stop when its stdin closed"
    finally:
        server.kill()
        server.wait()
    assert use.error is None
    assert use.samples >= 3
    assert use.cpu_pct_avg is not None and 0 < use.cpu_pct_avg <= 100
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert use.ram_total_bytes == int(meminfo["MemTotal"].split()[0]) * 1024
    assert [(g.index, g.util_pct_max, g.memory_total_bytes) for g in use.gpus] == [(0, 33.0, 16384 * MIB)]
    assert use.gpu_processes == [{"pid": 777, "name": "/opt/other/train.py", "memory_bytes": 4096 * MIB}]
    assert use.server_env.get("ROCR_VISIBLE_DEVICES") == "0"
    assert server.pid in use.server_pids


def test_a_sampler_that_cannot_run_reports_why() -> None:
    def broken(cmd: str, **kw: object) -> object:
        raise OSError("connection lost")

    use = Sampler(broken, interval=0.2).start().stop()
    assert use.samples == 0 and use.error is not None and "connection lost" in use.error
