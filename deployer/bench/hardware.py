"""A host's hardware in a few lines for the report: CPU, RAM, GPUs and memory bandwidth.

Bandwidths come from :func:`deployer.llm.hardware.enrich` (the same figures the
tokens/s prediction used) with their source: ``dmidecode`` (the DIMMs), ``table``
(the CPU's maximum), ``probe``, ``spec`` or ``unknown``.
"""

from __future__ import annotations

from typing import Any

from deployer.facts.model import HostFacts
from deployer.llm.hardware import enrich

GIB = 2**30


def summary(facts: HostFacts) -> dict[str, Any]:
    """Plain data (JSON) describing the host's hardware."""
    f = enrich(facts)
    cpu = f.cpu
    cores = f"{cpu.cores} cores" if cpu.cores else None
    threads = f"{cpu.threads} threads" if cpu.threads else None
    count = ", ".join(x for x in (cores, threads) if x)
    name = cpu.model if cpu.model not in ("", "unknown") else "CPU model unknown"
    cpu_text = (f"{cpu.sockets}x {name}" if (cpu.sockets or 1) > 1 else name) + (f" ({count})" if count else "")
    return {
        "hostname": f.hostname,
        "cpu": cpu_text,
        "arch": f.arch,
        "ram_bytes": f.memory.usable_bytes,
        "gpus": [
            {"index": g.index, "vendor": g.vendor, "name": g.name, "vram_bytes": g.memory_total_bytes,
             "bandwidth_gbs": g.bandwidth_gbs, "bandwidth_source": "table" if g.bandwidth_gbs else "unknown"}
            for g in f.gpus
        ],
        "cpu_bandwidth_gbs": f.bandwidth.cpu_gbs,
        "cpu_bandwidth_source": f.bandwidth.cpu_source,
        "cpu_bandwidth_detail": f.bandwidth.cpu_detail,
        "os": f.os.pretty_name,
        "notes": list(dict.fromkeys(f.notes))[:5],  # enrich() may repeat a note the probe made
    }


def one_line(hw: dict[str, Any] | None) -> str:
    """'2x Xeon Gold 6230N (40 cores), 188 GiB RAM, 1x A100 80 GiB' for tables."""
    if not hw:
        return "-"
    parts = [str(hw.get("cpu") or "CPU unknown")]
    if hw.get("ram_bytes"):
        parts.append(f"{hw['ram_bytes'] / GIB:.0f} GiB RAM")
    gpus = hw.get("gpus") or []
    if gpus:
        names: dict[str, int] = {}
        for g in gpus:
            label = f"{g['name']} {g['vram_bytes'] / GIB:.0f} GiB" if g.get("vram_bytes") else g["name"]
            names[label] = names.get(label, 0) + 1
        parts.append(" + ".join(f"{n}x {label}" if n > 1 else label for label, n in names.items()))
    else:
        parts.append("no GPU")
    return ", ".join(parts)
