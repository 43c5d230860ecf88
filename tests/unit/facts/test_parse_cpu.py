"""CPU and memory parsers on captured outputs (see tests/fixtures/facts/README.txt)."""

from __future__ import annotations

import re
import subprocess

import pytest

from deployer.facts.parse import (
    parse_cgroup,
    parse_cpuinfo,
    parse_dmidecode_memory,
    parse_lscpu,
    parse_meminfo,
)
from deployer.facts.parse_cpu import lscpu_fields, parse_numa
from deployer.facts.probe import probe_script

from tests.unit.facts.facts_fixture_files import FIXTURES, read_fixture

GIB = 1024**3


def test_lscpu_dual_socket_xeon_two_numa_nodes():
    cpu = parse_lscpu(read_fixture("lscpu/xeon-gold-6230n-2socket-2numa.txt"))
    assert cpu.model == "Intel(R) Xeon(R) Gold 6230N CPU @ 2.30GHz"
    assert cpu.vendor == "GenuineIntel"
    assert cpu.machine == "x86_64"
    assert (cpu.sockets, cpu.cores_per_socket, cpu.cores, cpu.threads) == (2, 20, 40, 80)
    assert [(n.id, n.cpus) for n in cpu.numa_nodes] == [(0, "0-19,40-59"), (1, "20-39,60-79")]
    assert cpu.flags == ["fma", "avx", "f16c", "avx2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"]
    assert cpu.mhz_max == 3500.0


def test_lscpu_old_layout_with_terminal_wrapped_flags():
    text = read_fixture("lscpu/xeon-e5-2673v4-2socket-terminal-wrapped.txt")
    cpu = parse_lscpu(text)
    assert (cpu.sockets, cpu.cores, cpu.threads) == (2, 40, 80)
    assert cpu.numa_nodes[0].cpus == "0-19,40-59"
    # words cut by the wrap come back whole; "avx2" sits on a continuation line
    flags = lscpu_fields(text)["Flags"].split()
    assert "rep_good" in flags and "rtm" in flags and "rdrand" in flags
    assert cpu.flags == ["fma", "avx", "f16c", "avx2"]
    assert cpu.mhz_max == 2301.0


def test_lscpu_new_layout_wrapped_at_the_value_column():
    cpu = parse_lscpu(read_fixture("lscpu/wsl2-ryzen-3700x-indented-wrapped.txt"))
    assert cpu.model == "AMD Ryzen 7 3700X 8-Core Processor"
    assert (cpu.sockets, cpu.cores, cpu.threads) == (1, 8, 16)
    words = lscpu_fields(read_fixture("lscpu/wsl2-ryzen-3700x-indented-wrapped.txt"))["Flags"].split()
    assert {"pdpe1gb", "movbe", "topoext", "xgetbv1", "xsaves"} <= set(words)
    assert cpu.flags == ["fma", "avx", "f16c", "avx2"]


def test_lscpu_vm_without_numa_lines_has_no_numa_nodes():
    cpu = parse_lscpu(read_fixture("lscpu/wsl2-vm-xeon-e5-2680v2-no-numa.txt"))
    assert cpu.numa_nodes == []
    assert (cpu.sockets, cpu.cores_per_socket, cpu.cores, cpu.threads) == (1, 20, 20, 40)
    assert cpu.mhz_max == 2800.0  # no "CPU max MHz" in a VM: the current clock is all there is
    assert cpu.flags == []  # the paste ends before the Flags line


def test_lscpu_aarch64_two_sockets_four_numa_nodes():
    cpu = parse_lscpu(read_fixture("lscpu/aarch64-kunpeng920-2socket-4numa.txt"))
    assert cpu.machine == "aarch64"
    assert cpu.model == "Kunpeng-920"
    assert (cpu.sockets, cpu.cores, cpu.threads) == (2, 128, 128)
    assert [n.cpus for n in cpu.numa_nodes] == ["0-31", "32-63", "64-95", "96-127"]
    assert cpu.flags == ["asimd", "fphp", "asimdhp", "asimddp", "asimdfhm"]


def test_lscpu_aarch64_clusters_instead_of_sockets():
    cpu = parse_lscpu(read_fixture("lscpu/aarch64-jetson-agx-orin-no-sockets.txt"))
    assert cpu.model == "Cortex-A78AE"
    assert cpu.sockets == 1  # "Socket(s): -"
    assert cpu.cores_per_socket is None
    assert (cpu.cores, cpu.threads) == (12, 12)
    assert cpu.mhz_max == pytest.approx(2201.6001)


def test_lscpu_this_machine_amx_and_avx512():
    cpu = parse_lscpu(read_fixture("lscpu/kvm-xeon-sapphire-rapids-2vcpu.txt"))
    assert {"amx_bf16", "amx_tile", "amx_int8", "avx512_fp16", "avx_vnni", "avx512_bf16"} <= set(cpu.flags)
    assert [(n.id, n.cpus) for n in cpu.numa_nodes] == [(0, "0,1")]


def _cpuinfo_summary(path: str) -> str:
    """Run the probe's own awk summary of /proc/cpuinfo over a captured file."""
    program = re.search(r"awk -F: '(.*?)' /proc/cpuinfo", probe_script(), re.S)
    assert program, "the probe's cpuinfo awk program moved"
    return subprocess.run(["awk", "-F:", program.group(1), path], capture_output=True, text=True, check=True).stdout


def test_cpuinfo_fallback_two_sockets():
    cpu = parse_cpuinfo(_cpuinfo_summary(str(FIXTURES / "cpuinfo/ansible-x86_64-2socket-2core-2cpu-cpuinfo")))
    assert cpu.model == "Dual-Core AMD Opteron(tm) Processor 2216"
    assert (cpu.sockets, cpu.cores_per_socket, cpu.cores, cpu.threads) == (2, 2, 4, 4)
    assert cpu.mhz_max == 1000.0


def test_cpuinfo_fallback_aarch64_features():
    cpu = parse_cpuinfo(_cpuinfo_summary(str(FIXTURES / "cpuinfo/ansible-aarch64-4cpu-cpuinfo")))
    assert cpu.threads == 4
    assert cpu.flags == ["asimd"]
    assert cpu.model == "sun50iw1p1"


def test_cpuinfo_fallback_this_machine_matches_lscpu():
    cpu = parse_cpuinfo(_cpuinfo_summary(str(FIXTURES / "cpuinfo/kvm-xeon-sapphire-rapids-2vcpu.txt")))
    via_lscpu = parse_lscpu(read_fixture("lscpu/kvm-xeon-sapphire-rapids-2vcpu.txt"))
    assert (cpu.model, cpu.sockets, cpu.cores, cpu.threads) == (via_lscpu.model, 1, 2, 2)
    assert cpu.flags == via_lscpu.flags


def test_numa_sysfs_lines():
    nodes = parse_numa("1 20-39,60-79 197867396\n0 0-19,40-59 196608000\n2 80-99 ?\n")
    assert [(n.id, n.cpus, n.memory_bytes) for n in nodes] == [
        (0, "0-19,40-59", 196608000 * 1024),
        (1, "20-39,60-79", 197867396 * 1024),
        (2, "80-99", None),
    ]


def test_meminfo_this_machine():
    mem = parse_meminfo(read_fixture("meminfo/kvm-24g-no-swap.txt"))
    assert mem.total_bytes == 24684084 * 1024
    assert mem.available_bytes == 23985628 * 1024
    assert (mem.swap_total_bytes, mem.swap_free_bytes) == (0, 0)
    assert (mem.hugepages_total, mem.hugepage_size_bytes) == (0, 2 * 1024 * 1024)


def test_cgroup_v2_container_limits():
    assert parse_cgroup(read_fixture("cgroup/v2-container-1cpu-512m.txt")) == (512 * 1024 * 1024, 1.0)
    assert parse_cgroup(read_fixture("cgroup/v2-container-15cpu-no-memory-limit.txt")) == (None, 15.0)


def test_cgroup_v1_nested_limit_wins_over_unlimited_root():
    assert parse_cgroup(read_fixture("cgroup/v1-capture-768m-1.5cpu.txt")) == (768 * 1024 * 1024, 1.5)


def test_cgroup_tightest_ancestor_wins():
    text = (
        "cgroup 0::/user.slice/user-1000.slice/session-3.scope\n"
        "file /sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/memory.max max\n"
        "file /sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/cpu.max max 100000\n"
        "file /sys/fs/cgroup/user.slice/user-1000.slice/memory.max 8589934592\n"
        "file /sys/fs/cgroup/user.slice/memory.max 17179869184\n"
        "file /sys/fs/cgroup/user.slice/cpu.max 400000 100000\n"
    )
    assert parse_cgroup(text) == (8 * GIB, 4.0)


def test_dmidecode_two_of_four_slots_configured_speed():
    assert parse_dmidecode_memory(read_fixture("dmidecode/dell-laptop-4slots-2x16g-ddr4.txt")) == ("DDR4", 2933, 2)


def test_dmidecode_nothing_readable():
    assert parse_dmidecode_memory("") == (None, None, None)
    # what dmidecode says to a non-root user: no memory device at all
    assert parse_dmidecode_memory("# dmidecode 3.4\n/sys/firmware/dmi/tables/smbios_entry_point: Permission denied\n") == (None, None, None)
