"""Known GPUs and CPUs (hardware.yaml), name matching, and memory-bandwidth enrichment.

The probe reports names the way drivers print them ("NVIDIA A100-SXM4-80GB",
"Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz"); this module maps them to table
entries and fills :class:`~deployer.facts.model.Bandwidth` and
``GPU.bandwidth_gbs``, which drive the tokens/s prediction. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer.errors import InputError, Location
from deployer.facts.model import Bandwidth, HostFacts
from deployer.yamlload import loads, locate

GIB = 1024**3
_TABLE_PATH = "deployer/llm/hardware.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GPUEntry(_Strict):
    """One card of the table."""

    name: str
    vendor: Literal["nvidia", "amd"]
    vram_gib: float = Field(gt=0)
    bandwidth_gbs: float = Field(gt=0)
    memory: Literal["gddr", "hbm"]
    match: tuple[str, ...]
    default: bool = False


class CPUGroup(_Strict):
    """CPUs sharing one memory configuration."""

    vendor: Literal["intel", "amd"]
    channels: int = Field(gt=0)
    ddr: str
    mts: int = Field(gt=0)
    models: tuple[str, ...]


class _Tables(_Strict):
    gpus: tuple[GPUEntry, ...]
    cpus: tuple[CPUGroup, ...]


@dataclass(frozen=True)
class CPUEntry:
    """One CPU model: memory channels per socket, DDR type, highest supported MT/s."""

    name: str
    vendor: str
    channels: int
    ddr: str
    mts: int

    def peak_gbs(self, sockets: int = 1) -> float:
        """Peak memory bandwidth in GB/s: channels x 8 bytes x MT/s, per socket."""
        return peak_gbs(self.channels, self.mts, sockets)


def peak_gbs(channels: int, mts: int, sockets: int = 1) -> float:
    """channels x 8 bytes x MT/s per socket, times sockets, in GB/s."""
    return channels * 8 * mts * sockets / 1000


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    text = resources.files("deployer.llm").joinpath("hardware.yaml").read_text(encoding="utf-8")
    data = loads(text, _TABLE_PATH)
    try:
        return _Tables.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"hardware table: {err['msg']}", locate(data, err["loc"], Location(_TABLE_PATH)))


def gpu_table() -> tuple[GPUEntry, ...]:
    """Every known GPU, in table order."""
    return _tables().gpus


@lru_cache(maxsize=1)
def cpu_table() -> tuple[CPUEntry, ...]:
    """Every known CPU model."""
    return tuple(
        CPUEntry(name=m, vendor=g.vendor, channels=g.channels, ddr=g.ddr, mts=g.mts)
        for g in _tables().cpus
        for m in g.models
    )


# --- GPU names ---------------------------------------------------------------

_GPU_NOISE = {"nvidia", "geforce", "tesla", "amd", "ati", "instinct", "radeon", "generation", "graphics", "gpu"}


def _gpu_tokens(name: str) -> frozenset[str]:
    out = set()
    for tok in re.split(r"[\s\-_/()\[\]:,]+", name.lower()):
        if not tok or tok in _GPU_NOISE:
            continue
        tok = re.sub(r"^(\d+)g$", r"\1gb", tok)  # "80G" -> "80gb"
        tok = re.sub(r"^sxm\d*$", "sxm", tok)  # SXM2/SXM4/SXM5 -> sxm
        out.add(tok)
    return frozenset(out)


@dataclass(frozen=True)
class GPUMatch:
    """The outcome of matching a GPU name: the chosen entry, and the tied candidates."""

    entry: GPUEntry | None
    tied: tuple[GPUEntry, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Several cards of different VRAM fit the name equally well."""
        return len({e.vram_gib for e in self.tied}) > 1 and not any(e.default for e in self.tied)


def match_gpu(name: str, memory_bytes: int | None = None) -> GPUMatch:
    """The table entry for a GPU name as nvidia-smi/rocm-smi (or a person) writes it.

    Longest matching token set wins; ties go to the VRAM closest to
    `memory_bytes`, else to the entry marked default, else to table order.
    """
    tokens = _gpu_tokens(name)
    best: list[GPUEntry] = []
    best_score = 0
    for entry in gpu_table():
        score = max((len(p.split()) for p in entry.match if set(p.split()) <= tokens), default=0)
        if score > best_score:
            best, best_score = [entry], score
        elif score and score == best_score:
            best.append(entry)
    if not best:
        return GPUMatch(None)
    if len(best) == 1:
        return GPUMatch(best[0], (best[0],))
    if memory_bytes:
        gib = memory_bytes / GIB
        return GPUMatch(min(best, key=lambda e: abs(e.vram_gib - gib)), tuple(best))
    default = next((e for e in best if e.default), best[0])
    return GPUMatch(default, tuple(best))


def gpu_names() -> list[str]:
    """The canonical names of every known GPU."""
    return [e.name for e in gpu_table()]


# --- CPU names ---------------------------------------------------------------


def _cpu_tokens(model: str) -> list[str]:
    text = re.sub(r"\((r|tm|c)\)", " ", model.lower())
    text = re.sub(r"@.*$", " ", text)  # "@ 2.20GHz"
    return [t for t in re.split(r"[\s,]+", text) if t]


def cpu_candidates(model: str) -> list[CPUEntry]:
    """Table CPUs whose every digit-bearing token is in `model`, best match first."""
    query = set(_cpu_tokens(model))
    scored: list[tuple[int, CPUEntry]] = []
    for entry in cpu_table():
        toks = _cpu_tokens(entry.name)
        key = [t for t in toks if any(c.isdigit() for c in t)]
        if key and all(t in query for t in key):
            scored.append((sum(t in query for t in toks), entry))
    top = max((s for s, _ in scored), default=0)
    return [e for s, e in scored if s == top]


def match_cpu(model: str) -> CPUEntry | None:
    """The table entry for an lscpu model string, or None when unknown or ambiguous."""
    found = cpu_candidates(model)
    return found[0] if len(found) == 1 else None


def cpu_names() -> list[str]:
    """The canonical names of every known CPU."""
    return [e.name for e in cpu_table()]


# --- enrichment --------------------------------------------------------------


def enrich(facts: HostFacts) -> HostFacts:
    """A copy of `facts` with CPU and GPU memory bandwidth filled in; `facts` is unchanged.

    CPU: from dmidecode's DIMMs when type, speed and count are known (source
    "dmidecode"), else from the CPU table (source "table"), else "unknown" with a
    note. A bandwidth given by a --hardware spec or measured by the probe is kept.
    GPU: from the table by name; unknown cards keep None and get a note.
    """
    out = facts.model_copy(deep=True)
    for gpu in out.gpus:
        if gpu.bandwidth_gbs is None:
            found = match_gpu(gpu.name, gpu.memory_total_bytes).entry
            if found:
                gpu.bandwidth_gbs = found.bandwidth_gbs
            else:
                out.notes.append(
                    f"GPU {gpu.index} '{gpu.name}' is not in the hardware table: memory bandwidth unknown, "
                    "tokens/s cannot be predicted for it"
                )
    if out.bandwidth.cpu_gbs is not None and out.bandwidth.cpu_source in ("spec", "probe"):
        return out
    out.bandwidth, note = cpu_bandwidth(out)
    if note:
        out.notes.append(note)
    return out


def cpu_bandwidth(facts: HostFacts) -> tuple[Bandwidth, str | None]:
    """Peak CPU memory bandwidth for a host, how it was found, and a note when unknown."""
    sockets = max(facts.cpu.sockets or 1, 1)
    cpu = match_cpu(facts.cpu.model) if facts.cpu.model and facts.cpu.model != "unknown" else None
    mem = facts.memory
    if mem.dimm_type and mem.dimm_speed_mts and mem.dimm_count:
        per_socket = max(mem.dimm_count // sockets, 1)
        channels = min(per_socket, cpu.channels) if cpu else per_socket
        detail = f"{channels}ch {mem.dimm_type}-{mem.dimm_speed_mts}"
        if sockets > 1:
            detail += f" x {sockets} sockets"
        detail += f" ({mem.dimm_count} DIMMs"
        detail += f", {cpu.name} has {cpu.channels} channels)" if cpu else ", CPU not in the table: one DIMM per channel assumed)"
        gbs = peak_gbs(channels, mem.dimm_speed_mts, sockets)
        return Bandwidth(cpu_gbs=round(gbs, 1), cpu_source="dmidecode", cpu_detail=detail), None
    if cpu:
        detail = f"{cpu.channels}ch {cpu.ddr}-{cpu.mts}"
        if sockets > 1:
            detail += f" x {sockets} sockets"
        detail += f" ({cpu.name} maximum; DIMMs not readable)"
        return Bandwidth(cpu_gbs=round(cpu.peak_gbs(sockets), 1), cpu_source="table", cpu_detail=detail), None
    known_model = facts.cpu.model not in ("", "unknown")
    what = f"CPU '{facts.cpu.model}' is not in the hardware table" if known_model else "the CPU model is unknown"
    note = (
        f"{what} and the DIMMs could not be read (dmidecode needs root): "
        "CPU memory bandwidth unknown, CPU tokens/s cannot be predicted"
    )
    return Bandwidth(cpu_gbs=None, cpu_source="unknown", cpu_detail=None), note
