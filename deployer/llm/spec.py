"""``--hardware SPEC``: describe a machine in one line instead of probing it.

    gpu=RTX 4090
    gpu=2xA100 80GB,ram=512
    cpu=Xeon Silver 4214,sockets=2,memory=DDR4-2400x6,ram=32

Keys: gpu (repeatable, ``[N x]NAME``), vram (GiB per GPU, overrides the
table), cpu, sockets, memory (``TYPE-SPEED x channels per socket``), ram (GiB),
bandwidth (CPU memory bandwidth in GB/s, overrides everything else). The result
is a :class:`HostFacts` with ``source="spec"`` that goes through the same
enrich/select path as a probed host.
"""

from __future__ import annotations

import re

from deployer.errors import InputError, Location, did_you_mean
from deployer.facts.model import GPU, Bandwidth, CPUInfo, HostFacts, MemoryInfo
from deployer.llm.hardware import GIB, cpu_candidates, cpu_names, enrich, gpu_names, gpu_table, match_gpu

KEYS = ("gpu", "vram", "cpu", "sockets", "memory", "ram", "bandwidth")
_WHERE = Location("--hardware")


def _fail(message: str, hint: str | None = None) -> InputError:
    return InputError(message, _WHERE, hint)


def _number(key: str, value: str, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise _fail(f"{key}={value!r} is not {kind}", f"e.g. {key}={'2' if integer else '64'}") from None
    if number <= 0:
        raise _fail(f"{key}={value!r} must be more than 0")
    return number


def _gpu_items(value: str) -> tuple[int, str]:
    m = re.fullmatch(r"\s*(?:(\d+)\s*[xX*]\s*)?(.+?)\s*", value)
    if not m or not m.group(2):
        raise _fail(f"gpu={value!r}: expected [COUNTx]NAME", "e.g. gpu=2xA100 80GB")
    count = int(m.group(1) or 1)
    if count < 1:
        raise _fail(f"gpu={value!r}: the count must be at least 1")
    return count, m.group(2)


def _close_gpus(name: str) -> str:
    digits = {t for t in re.split(r"[\s\-_/]+", name.lower()) if any(c.isdigit() for c in t)}
    near = [e.name for e in gpu_table() if digits & {t for t in re.split(r"[\s\-_/]+", e.name.lower())}]
    if near:
        return "did you mean " + ", ".join(f"'{n}'" for n in near[:6]) + "?"
    return did_you_mean(name, gpu_names()) or "known GPUs include RTX 4090, A100 80GB, H100 SXM, L40S, MI300X"


def _close_cpus(name: str) -> str:
    digits = {t for t in name.lower().split() if any(c.isdigit() for c in t)}
    near = [n for n in cpu_names() if any(d[:3] in n.lower() for d in digits if len(d) >= 3)]
    if near:
        return "did you mean " + ", ".join(f"'{n}'" for n in near[:6]) + "? (or give memory=TYPE-SPEEDxCHANNELS)"
    return did_you_mean(name, cpu_names()) or "give memory=TYPE-SPEEDxCHANNELS or bandwidth=GB/s instead"


def parse_hardware_spec(text: str, hostname: str = "spec") -> HostFacts:
    """A HostFacts built from a --hardware spec, enriched with bandwidths; InputError when malformed."""
    pairs: list[tuple[str, str]] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise _fail(f"'{part}' is not KEY=VALUE", f"keys: {', '.join(KEYS)}")
        if key not in KEYS:
            raise _fail(f"unknown key '{key}'", did_you_mean(key, KEYS) or f"keys: {', '.join(KEYS)}")
        pairs.append((key, value))
    if not pairs:
        raise _fail("empty hardware spec", "e.g. gpu=RTX 4090,ram=64")
    single = {}
    for key, value in pairs:
        if key != "gpu" and key in single:
            raise _fail(f"'{key}' given twice", "give each key once (only gpu may repeat)")
        single[key] = value

    vram = _number("vram", single["vram"]) * GIB if "vram" in single else None
    gpus: list[GPU] = []
    for key, value in pairs:
        if key != "gpu":
            continue
        count, name = _gpu_items(value)
        found = match_gpu(name, int(vram) if vram else None)
        if found.entry is None and count > 1:  # "7900 XTX" is a name, not 7900 x "TX"
            whole = match_gpu(value, int(vram) if vram else None)
            if whole.entry is not None:
                count, name, found = 1, value.strip(), whole
        if found.entry is None:
            raise _fail(f"unknown GPU '{name}'", _close_gpus(name))
        if found.ambiguous and vram is None:
            options = ", ".join(f"'{e.name}'" for e in found.tied)
            raise _fail(f"GPU '{name}' is ambiguous: {options}", "name the variant, or give vram=GiB")
        entry = found.entry
        for _ in range(count):
            gpus.append(GPU(
                index=len(gpus), vendor=entry.vendor, name=entry.name,
                memory_total_bytes=int(vram or entry.vram_gib * GIB), bandwidth_gbs=entry.bandwidth_gbs,
            ))
    if vram is not None and not gpus:
        raise _fail("vram= given without gpu=", "e.g. gpu=RTX 4090,vram=24")

    sockets = int(_number("sockets", single["sockets"], integer=True)) if "sockets" in single else 1
    cpu = CPUInfo(sockets=sockets, machine="x86_64")
    if "cpu" in single:
        found_cpu = cpu_candidates(single["cpu"])
        if len(found_cpu) > 1:
            options = ", ".join(f"'{e.name}'" for e in found_cpu[:6])
            raise _fail(f"CPU '{single['cpu']}' is ambiguous: {options}", "name the model exactly")
        if not found_cpu:
            raise _fail(f"unknown CPU '{single['cpu']}'", _close_cpus(single["cpu"]))
        cpu = CPUInfo(model=found_cpu[0].name, vendor=found_cpu[0].vendor, sockets=sockets, machine="x86_64")

    memory = MemoryInfo()
    if "ram" in single:
        ram = int(_number("ram", single["ram"]) * GIB)
        memory = MemoryInfo(total_bytes=ram, available_bytes=ram)
    if "memory" in single:
        m = re.fullmatch(r"(DDR\d|LPDDR\d\w?)-(\d+)\s*[xX*]\s*(\d+)", single["memory"].strip(), re.IGNORECASE)
        if not m:
            raise _fail(f"memory={single['memory']!r}: expected TYPE-SPEEDxCHANNELS", "e.g. memory=DDR4-2400x6")
        channels = int(m.group(3))
        memory = memory.model_copy(update={
            "dimm_type": m.group(1).upper(), "dimm_speed_mts": int(m.group(2)), "dimm_count": channels * sockets,
        })

    bandwidth = Bandwidth()
    if "bandwidth" in single:
        gbs = _number("bandwidth", single["bandwidth"])
        bandwidth = Bandwidth(cpu_gbs=gbs, cpu_source="spec", cpu_detail=f"{gbs:g} GB/s given in --hardware")
    facts = HostFacts(
        hostname=hostname, arch="amd64", cpu=cpu, memory=memory, gpus=gpus, bandwidth=bandwidth, source="spec",
    )
    return enrich(facts)
