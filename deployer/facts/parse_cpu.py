"""Pure parsers for CPU and memory facts: lscpu, /proc/cpuinfo, NUMA nodes,
/proc/meminfo, cgroup limits and dmidecode memory devices. No I/O here."""

from __future__ import annotations

import re
from collections import Counter

from deployer.facts.model import CPUInfo, MemoryInfo, NumaNode

KIB = 1024

#: ISA extensions that decide which inference kernels run fast (llama.cpp/ggml builds).
_FLAGS = frozenset(
    "avx avx2 avx_vnni avx_vnni_int8 avx_ifma f16c fma "
    "neon asimd asimddp asimdhp asimdfhm fphp sve sve2 i8mm bf16".split()
)
_FLAG_PREFIXES = ("avx512", "amx")

#: cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit value.
_UNLIMITED = 1 << 60

_KEY_LINE = re.compile(r"^(\s*)([^:\s][^:]*?):[ \t]*(.*)$")


def cpu_flags(words: str) -> list[str]:
    """The flags that matter for LLM inference, in the order the kernel lists them."""
    seen: list[str] = []
    for flag in words.split():
        if (flag in _FLAGS or flag.startswith(_FLAG_PREFIXES)) and flag not in seen:
            seen.append(flag)
    return seen


def lscpu_fields(text: str) -> dict[str, str]:
    """lscpu's "Key: value" lines, old flat or new indented layout.

    A value wrapped onto more lines (lscpu run in a narrow terminal) is joined
    back: the continuation is cut at the value column, so a word split across
    the wrap ("pd" + "pe1gb") comes back whole.
    """
    fields: dict[str, str] = {}
    last: str | None = None
    column = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _KEY_LINE.match(line)
        if match:
            last = match.group(2).strip()
            column = match.start(3)
            fields[last] = match.group(3).rstrip()
        elif last is not None:
            head = line[:column]
            fields[last] += line[column:].rstrip() if head.isspace() and len(line) > column else line.rstrip()
    return fields


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def parse_lscpu(text: str) -> CPUInfo:
    """CPUInfo from ``LC_ALL=C lscpu`` output.

    Sockets may be "-" (Jetson, some ARM boards: cores come in clusters), the
    model name may be "-" (then the BIOS model name is used), and a VM may
    print no NUMA lines at all (then there are no NUMA nodes).
    """
    f = lscpu_fields(text)
    model = f.get("Model name", "").strip()
    if model in ("", "-"):
        model = f.get("BIOS Model name", "").strip() or "unknown"
    threads = _int(f.get("CPU(s)"))
    per_core = _int(f.get("Thread(s) per core"))
    sockets = _int(f.get("Socket(s)"))
    per_socket = _int(f.get("Core(s) per socket"))
    cores = None
    if sockets and per_socket:
        cores = sockets * per_socket
    elif _int(f.get("Core(s) per cluster")) and _int(f.get("Cluster(s)")):
        cores = _int(f.get("Core(s) per cluster")) * _int(f.get("Cluster(s)"))  # type: ignore[operator]
    elif threads and per_core:
        cores = threads // per_core
    numa = []
    for key, value in f.items():
        m = re.fullmatch(r"NUMA node(\d+) CPU\(s\)", key)
        if m:
            numa.append(NumaNode(id=int(m.group(1)), cpus=value.strip()))
    return CPUInfo(
        model=model,
        vendor=f.get("Vendor ID") or None,
        machine=f.get("Architecture", "unknown"),
        sockets=sockets or 1,
        cores_per_socket=per_socket,
        cores=cores,
        threads=threads,
        numa_nodes=sorted(numa, key=lambda n: n.id),
        flags=cpu_flags(f.get("Flags", "")),
        mhz_max=_float(f.get("CPU max MHz")) or _float(f.get("CPU MHz")),
    )


def parse_cpuinfo(text: str) -> CPUInfo:
    """CPUInfo from the probe's /proc/cpuinfo summary (used where lscpu is missing):
    the first processor block plus ``deployer_processors/sockets/cores`` counts."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=" if line.startswith("deployer_") else ":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    threads = _int(info.get("deployer_processors"))
    sockets = _int(info.get("deployer_sockets"))
    cores = _int(info.get("deployer_cores"))
    return CPUInfo(
        model=info.get("model name") or info.get("Hardware") or "unknown",
        vendor=info.get("vendor_id") or info.get("CPU implementer"),
        sockets=sockets or 1,
        cores_per_socket=cores // sockets if cores and sockets else None,
        cores=cores or None,
        threads=threads,
        flags=cpu_flags(info.get("flags") or info.get("Features") or ""),
        mhz_max=_float(info.get("cpu MHz")),
    )


def parse_numa(text: str) -> list[NumaNode]:
    """The probe's sysfs NUMA lines: ``<node> <cpulist> <MemTotal kB or ?>``."""
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            kb = _int(parts[2])
            nodes.append(NumaNode(id=int(parts[0]), cpus=parts[1], memory_bytes=kb * KIB if kb is not None else None))
    return sorted(nodes, key=lambda n: n.id)


def parse_meminfo(text: str) -> MemoryInfo:
    """MemoryInfo (RAM, swap, huge pages) from /proc/meminfo; sizes in bytes."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = KIB if len(parts) > 1 and parts[1] == "kB" else 1
            values[key.strip()] = int(parts[0]) * factor
    return MemoryInfo(
        total_bytes=values.get("MemTotal"),
        available_bytes=values.get("MemAvailable"),
        swap_total_bytes=values.get("SwapTotal"),
        swap_free_bytes=values.get("SwapFree"),
        hugepages_total=values.get("HugePages_Total"),
        hugepage_size_bytes=values.get("Hugepagesize"),
    )


def parse_cgroup(text: str) -> tuple[int | None, float | None]:
    """(memory limit in bytes, CPU limit in CPUs) binding the probe's shell.

    Input: the probe's ``file <path> <content>`` lines for the shell's cgroup
    and each ancestor, v2 (memory.max, cpu.max) or v1 (memory.limit_in_bytes,
    cpu.cfs_quota_us + cpu.cfs_period_us). The tightest level wins; "max",
    -1 and v1's huge "unlimited" value mean no limit.
    """
    memory: list[int] = []
    cpus: list[float] = []
    quota: dict[str, int] = {}
    period: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "file":
            continue
        directory, _, name = parts[1].rpartition("/")
        values = parts[2:]
        if name in ("memory.max", "memory.limit_in_bytes"):
            limit = _int(values[0])
            if limit is not None and limit < _UNLIMITED:
                memory.append(limit)
        elif name == "cpu.max" and len(values) == 2 and values[0] != "max":
            q, p = _int(values[0]), _int(values[1])
            if q and p:
                cpus.append(q / p)
        elif name == "cpu.cfs_quota_us" and values[0].lstrip("-").isdigit():
            quota[directory] = int(values[0])
        elif name == "cpu.cfs_period_us" and values[0].isdigit():
            period[directory] = int(values[0])
    for directory, q in quota.items():
        if q > 0 and period.get(directory):
            cpus.append(q / period[directory])
    return (min(memory) if memory else None, min(cpus) if cpus else None)


def _speed(value: str) -> int | None:
    m = re.match(r"(\d+)\s*(MT/s|MHz)", value)
    return int(m.group(1)) if m else None


def parse_dmidecode_memory(text: str) -> tuple[str | None, int | None, int | None]:
    """(DIMM type, speed in MT/s, populated slots) from ``dmidecode -t 17``.

    The configured speed (what the memory controller runs) is preferred over
    the module's rated speed; with mixed DIMMs the slowest one sets the pace.
    """
    devices: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.strip() == "Memory Device":
            current = {}
            devices.append(current)
        elif line.startswith("Handle "):
            current = None
        elif current is not None and ":" in line:
            key, _, value = line.strip().partition(":")
            current[key.strip()] = value.strip()
    populated = [d for d in devices if _int(d.get("Size", "").split(" ")[0]) and "No Module" not in d.get("Size", "")]
    if not devices:
        return None, None, None
    types = Counter(d["Type"] for d in populated if d.get("Type") not in (None, "Unknown", "Other"))
    speeds = []
    for d in populated:
        configured = d.get("Configured Memory Speed") or d.get("Configured Clock Speed") or ""
        speed = _speed(configured) or _speed(d.get("Speed", ""))
        if speed:
            speeds.append(speed)
    return (types.most_common(1)[0][0] if types else None, min(speeds) if speeds else None, len(populated))
