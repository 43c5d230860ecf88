"""Predicted decode speed and load time.

Decode is memory-bandwidth bound: every token reads the weights once (only the
active experts of a MoE), so

    t_token = sum over devices of bytes_on_device / (eta x bandwidth) + c

with eta the share of peak bandwidth the engine reaches and c a fixed cost per
token (kernel launches, sampling). A split model pays for its CPU part, which
dominates; a model spread over several GPUs reads their parts one after the
other. Cross-socket CPU runs lose about half their efficiency to NUMA traffic.

The constants are fitted to the measured table of shared/reference/sizing.md
(benchmarks/calibration.py prints predicted against measured, and against 29
held-out llama.cpp runs on other cards):

- GDDR cards (RTX 3090/4090 rows) reach ~90% of peak with ~2 ms per token;
- HBM cards (the A100 rows) reach only ~50% of peak under llama.cpp — its
  matrix-vector kernels do not saturate HBM (an A100 PCIe 80GB decodes Llama 3
  8B F16 at 54.6 tok/s: 16 GB per token, ~880 GB/s of 1935);
- CPUs reach ~70% of peak (i9-13900K, DDR5-6400 dual channel: 18.3 tok/s on a
  3.8 GB model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.facts.model import GPU, HostFacts
from deployer.llm.hardware import match_gpu
from deployer.llm.sizing import MemoryPlan


@dataclass(frozen=True)
class SpeedModel:
    """Efficiency constants of the bandwidth model."""

    gpu_eta: dict[str, float] = field(default_factory=lambda: {"gddr": 0.90, "hbm": 0.52})
    gpu_overhead_s: float = 0.0025
    cpu_eta: float = 0.70
    cpu_eta_measured: float = 0.90  # against a measured copy bandwidth (deployer.facts.bandwidth)
    cpu_overhead_s: float = 0.0
    numa_factor: float = 0.5  # eta multiplier when a CPU run spans sockets
    disk_read_gbs: float = 1.0  # NVMe-class sequential read, for load time


DEFAULT_SPEED = SpeedModel()


@dataclass(frozen=True)
class SpeedEstimate:
    """Predicted decode speed, or why it cannot be predicted."""

    tokens_per_second: float | None
    detail: str = ""
    unknown: str | None = None


def gpu_efficiency(gpu: GPU, model: SpeedModel = DEFAULT_SPEED) -> float:
    """eta for a card: by its memory kind in the hardware table (GDDR when unknown)."""
    entry = match_gpu(gpu.name, gpu.memory_total_bytes).entry
    return model.gpu_eta[entry.memory if entry else "gddr"]


def gpu_bandwidth(gpu: GPU) -> float | None:
    """Peak bandwidth of a card, GB/s: the probed/enriched value, else the table's."""
    if gpu.bandwidth_gbs:
        return gpu.bandwidth_gbs
    entry = match_gpu(gpu.name, gpu.memory_total_bytes).entry
    return entry.bandwidth_gbs if entry else None


def predict_speed(
    weights: int, active_fraction: float, plan: MemoryPlan, facts: HostFacts, model: SpeedModel = DEFAULT_SPEED
) -> SpeedEstimate:
    """Decode tokens/s for a placed model; None with the reason when a bandwidth is unknown."""
    if plan.placement == "none":
        return SpeedEstimate(None, unknown="does not fit")
    read = weights * active_fraction
    seconds = 0.0
    parts: list[str] = []
    by_index = {g.index: g for g in facts.gpus}
    for index, layers in plan.gpu_layers.items():
        gpu = by_index[index]
        bw = gpu_bandwidth(gpu)
        if bw is None:
            return SpeedEstimate(None, unknown=f"bandwidth of GPU {index} '{gpu.name}' unknown")
        eta = gpu_efficiency(gpu, model)
        part = read * layers / plan.layers
        seconds += part / (eta * bw * 1e9)
        parts.append(f"{part / 1e9:.1f} GB/({eta:.2f}x{bw:.0f} GB/s)")
    if plan.gpu_layers:
        seconds += model.gpu_overhead_s
        parts.append(f"{model.gpu_overhead_s * 1000:.1f} ms")
    if plan.cpu_layers:
        bw = facts.bandwidth.cpu_gbs
        if not bw:
            return SpeedEstimate(None, unknown=f"CPU memory bandwidth unknown ({facts.cpu.model})")
        # a measured bandwidth is already what software reaches; a spec peak is not
        eta = model.cpu_eta_measured if facts.bandwidth.cpu_source == "probe" else model.cpu_eta
        sockets = max(facts.cpu.sockets or 1, 1)
        if sockets > 1:
            eta *= model.numa_factor
        part = read * plan.cpu_layers / plan.layers
        seconds += part / (eta * bw * 1e9) + model.cpu_overhead_s
        numa = f", NUMA x{model.numa_factor} over {sockets} sockets" if sockets > 1 else ""
        parts.append(f"{part / 1e9:.1f} GB/({eta:.2f}x{bw:.0f} GB/s CPU{numa})")
    return SpeedEstimate(1.0 / seconds, detail="t = " + " + ".join(parts))


def load_seconds(weights: int, disk_read_gbs: float | None = None, model: SpeedModel = DEFAULT_SPEED) -> float:
    """Seconds to read the weights from disk at `disk_read_gbs` (GB/s)."""
    return weights / ((disk_read_gbs or model.disk_read_gbs) * 1e9)
