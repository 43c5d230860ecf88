"""Pure parsers for GPU facts: nvidia-smi CSV and header, rocm-smi JSON, and
the probe's /sys/class/drm lines. A value a tool cannot give ("[N/A]",
"[Not Supported]") becomes None; a line that is not data (a warning, "No
devices were found") is skipped, never an error."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from deployer.facts.model import GPU

MIB = 1024 * 1024

#: the probe's query, in order; with a header line the header decides instead
NVIDIA_QUERY = (
    "index",
    "name",
    "uuid",
    "memory.total",
    "memory.free",
    "memory.used",
    "driver_version",
    "compute_cap",
    "utilization.gpu",
)
#: the query old drivers accept (no compute_cap)
NVIDIA_QUERY_LEGACY = tuple(f for f in NVIDIA_QUERY if f != "compute_cap")

_UNREPORTED = {
    "",
    "n/a",
    "[n/a]",
    "[not supported]",
    "not supported",
    "[unknown error]",
    "[insufficient permissions]",
    "[gpu is lost]",
    "[requires pro/lite]",
}
_HEADER_CELL = re.compile(r"^([a-z_.]+)(?: \[[^\]]*\])?$")
_UNIT = re.compile(r"\s*(MiB|%|W|MHz)$")


def _cell(value: str) -> str | None:
    value = value.strip()
    if value.lower() in _UNREPORTED:
        return None
    return _UNIT.sub("", value)


def _mib(value: str | None) -> int | None:
    try:
        return int(float(value)) * MIB if value is not None else None
    except ValueError:
        return None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _header(cells: list[str]) -> list[str] | None:
    names = [_HEADER_CELL.match(c) for c in cells]
    if all(names) and any(m.group(1) == "name" for m in names if m):
        return [m.group(1) for m in names if m]
    return None


def parse_nvidia_smi(csv_text: str) -> list[GPU]:
    """GPUs from ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]``.

    With a header line the columns are read by name (any subset, any order,
    with or without units); without one they must be :data:`NVIDIA_QUERY` or
    :data:`NVIDIA_QUERY_LEGACY`.
    """
    gpus: list[GPU] = []
    fields: list[str] | None = None
    for row in csv.reader(io.StringIO(csv_text), skipinitialspace=True):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        header = _header(cells)
        if header:
            fields = header
            continue
        names = fields
        if names is None:
            names = {len(NVIDIA_QUERY): NVIDIA_QUERY, len(NVIDIA_QUERY_LEGACY): NVIDIA_QUERY_LEGACY}.get(len(cells))
        if names is None or len(names) != len(cells):
            continue
        v = {name: _cell(cell) for name, cell in zip(names, cells)}
        index = v.get("index")
        gpus.append(
            GPU(
                index=int(index) if index and index.isdigit() else len(gpus),
                vendor="nvidia",
                name=v.get("name") or "unknown",
                uuid=v.get("uuid"),
                memory_total_bytes=_mib(v.get("memory.total")),
                memory_free_bytes=_mib(v.get("memory.free")),
                memory_used_bytes=_mib(v.get("memory.used")),
                driver=v.get("driver_version"),
                compute_capability=v.get("compute_cap"),
                utilization_pct=_number(v.get("utilization.gpu")),
            )
        )
    return gpus


def parse_nvidia_header(text: str) -> tuple[str | None, str | None]:
    """(driver version, CUDA version) from nvidia-smi's banner line, e.g.
    ``| NVIDIA-SMI 535.86.10   Driver Version: 535.86.10   CUDA Version: 12.2 |``."""
    driver = re.search(r"Driver Version:\s*([0-9][\w.]*)", text)
    cuda = re.search(r"CUDA Version\s*:\s*([0-9][\d.]*)", text)
    return (driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def _first_name(info: dict[str, str]) -> str | None:
    for key in ("card series", "marketing name", "card model", "device name"):
        value = str(info.get(key, "")).strip()
        if value and not value.startswith("0x") and value.lower() not in _UNREPORTED:
            return value
    return None


def parse_rocm_smi(json_text: str) -> list[GPU]:
    """AMD GPUs from ``rocm-smi --showproductname --showmeminfo vram --json``.

    Key spelling changed across ROCm releases ("Card series" / "Card Series"),
    so keys are compared case-insensitively; warnings printed before the JSON
    are skipped.
    """
    start = json_text.find("{")
    if start < 0:
        return []
    data, _ = json.JSONDecoder().raw_decode(json_text[start:])
    gpus: list[GPU] = []
    for card, raw in data.items():
        if not card.lower().startswith("card") or not isinstance(raw, dict):
            continue
        info = {str(k).strip().lower(): v for k, v in raw.items()}
        total = _int_or_none(info.get("vram total memory (b)"))
        used = _int_or_none(info.get("vram total used memory (b)"))
        suffix = card[4:]
        gpus.append(
            GPU(
                index=int(suffix) if suffix.isdigit() else len(gpus),
                vendor="amd",
                name=_first_name(info) or "AMD GPU",
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=total - used if total is not None and used is not None else None,
                driver=info.get("driver version"),
            )
        )
    return gpus


def _int_or_none(value: object) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class DrmCard:
    """One GPU as /sys/class/drm shows it."""

    card: int
    vendor: str
    device: str
    vram_total_bytes: int | None
    vram_used_bytes: int | None
    name: str | None


VENDOR_AMD = "0x1002"
VENDOR_NVIDIA = "0x10de"


def parse_drm(text: str) -> list[DrmCard]:
    """The probe's ``card=N vendor=0x1002 device=0x744c vram_total=... name=...`` lines."""
    cards = []
    for line in text.splitlines():
        head, _, name = line.partition(" name=")
        kv = dict(part.split("=", 1) for part in head.split() if "=" in part)
        if "card" not in kv or "vendor" not in kv:
            continue
        cards.append(
            DrmCard(
                card=int(kv["card"]),
                vendor=kv["vendor"].lower(),
                device=kv.get("device", "").lower(),
                vram_total_bytes=_int_or_none(kv.get("vram_total")),
                vram_used_bytes=_int_or_none(kv.get("vram_used")),
                name=name.strip() or None,
            )
        )
    return cards


def amd_gpus_from_drm(cards: list[DrmCard]) -> list[GPU]:
    """AMD GPUs from sysfs, for hosts without rocm-smi."""
    gpus = []
    for i, c in enumerate(c for c in cards if c.vendor == VENDOR_AMD):
        total, used = c.vram_total_bytes, c.vram_used_bytes
        gpus.append(
            GPU(
                index=i,
                vendor="amd",
                name=c.name or f"AMD GPU [1002:{c.device.removeprefix('0x')}]",
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=total - used if total is not None and used is not None else None,
            )
        )
    return gpus
