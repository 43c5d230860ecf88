"""The rules that turn a measurement into warnings and failures, with the likely causes.

- too slow: the median decode speed is below ``min_tokens_per_second``: the
  task fails (a warning with ``only_warn``).
- slower than predicted: median < ``max_slowdown`` x the predicted speed.
- spilled: planned all on GPU, but /api/ps shows part (or all) of the model in
  system RAM - Ollama does this silently, and decode then runs at CPU speed.
  Planned as a split, but noticeably more on the CPU than planned, is flagged too.
- placement unknown: the model was not in /api/ps after the runs.

Causes are read from evidence the benchmark collected (the Ollama server's
environment, processes on the GPU, the context it loaded, GPU memory use,
the host's facts), most specific first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.bench.measure import Measurement
from deployer.bench.plan import Plan
from deployer.facts.model import HostFacts

GIB = 2**30
#: a planned split may put this much more of the model on the CPU before it is flagged
SPLIT_TOLERANCE = 0.10


@dataclass(frozen=True)
class Limits:
    """The thresholds of the `verify:` key / llm_benchmark arguments."""

    min_tokens_per_second: float | None = 5.0
    max_slowdown: float = 0.5
    only_warn: bool = False


@dataclass(frozen=True)
class Flag:
    """One finding: `severity` "fail" fails the task, "warn" is shown as a warning."""

    kind: str
    severity: str
    message: str
    causes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        if not self.causes:
            return self.message
        return f"{self.message}; likely: " + "; ".join(self.causes)

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message, "causes": list(self.causes)}


def evaluate(m: Measurement, plan: Plan, limits: Limits, facts: HostFacts | None = None) -> list[Flag]:
    """Every flag that applies to measurement `m` against `plan`."""
    flags: list[Flag] = []
    spill = _spill(m, plan, facts)
    if spill:
        flags.append(spill)
    if m.placement is None:
        flags.append(Flag("placement_unknown", "warn",
                          f"{m.model} was not listed by /api/ps after the runs: placement unknown",
                          ("the server unloads models at once (OLLAMA_KEEP_ALIVE=0?)",)))
    median = m.decode.median
    predicted = plan.tokens_per_second
    if predicted and median < limits.max_slowdown * predicted:
        flags.append(Flag(
            "slower_than_predicted", "warn",
            f"{m.model}: measured {median:.1f} tok/s is {median / predicted:.0%} of the predicted "
            f"{predicted:.1f} tok/s (max_slowdown {limits.max_slowdown:g})",
            tuple(_slow_causes(m, spill, facts)),
        ))
    if limits.min_tokens_per_second is not None and median < limits.min_tokens_per_second:
        flags.append(Flag(
            "too_slow", "warn" if limits.only_warn else "fail",
            f"{m.model}: {median:.1f} tok/s is below min_tokens_per_second {limits.min_tokens_per_second:g}",
            ("a smaller model or tag (size/max_size), or a host with a GPU that holds it",) if not spill else (),
        ))
    return flags


def status(flags: list[Flag]) -> str:
    """'fail', 'warn' or 'ok': the worst severity among `flags`."""
    if any(f.severity == "fail" for f in flags):
        return "fail"
    return "warn" if flags else "ok"


def _spill(m: Measurement, plan: Plan, facts: HostFacts | None) -> Flag | None:
    p = m.placement
    if p is None or p.cpu_share is None or p.cpu_share == 0.0:
        return None
    if plan.placement == "gpu":
        what = f"{m.model} spilled to the CPU although planned all on GPU: /api/ps shows {p.label}"
    elif plan.placement == "split" and plan.cpu_share is not None and p.cpu_share > plan.cpu_share + SPLIT_TOLERANCE:
        what = (f"{m.model}: {p.cpu_share:.0%} of it is on the CPU, planned {plan.cpu_share:.0%} "
                f"(/api/ps shows {p.label})")
    else:
        return None
    return Flag("spilled", "warn", what, tuple(spill_causes(m, plan, facts)))


def spill_causes(m: Measurement, plan: Plan, facts: HostFacts | None) -> list[str]:
    """Why a model may not sit in VRAM as planned, from what was observed; never empty."""
    causes: list[str] = []
    use = m.utilisation
    env = use.server_env
    amd = facts is not None and any(g.vendor == "amd" for g in facts.gpus)
    rocr = env.get("ROCR_VISIBLE_DEVICES")
    if rocr is None and facts is not None:
        rocr = facts.env.get("ROCR_VISIBLE_DEVICES")
    if rocr is not None and not amd:  # on AMD nodes it is the legitimate GPU selector
        causes.append(f"ROCR_VISIBLE_DEVICES={rocr} is set for the server (Slurm sets it): Ollama >= 0.9.3 "
                      "then hides NVIDIA GPUs too - unset it in the service environment")
    elif rocr is not None and rocr.strip() in ("", "-1"):
        causes.append(f"ROCR_VISIBLE_DEVICES='{rocr}' hides every AMD GPU from the server")
    cuda = env.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None and cuda.strip() in ("", "-1", "none", "NoDevFiles"):
        causes.append(f"CUDA_VISIBLE_DEVICES='{cuda}' hides every GPU from the server")
    others = [p for p in use.gpu_processes if p["pid"] not in use.server_pids and "ollama" not in p["name"].lower()]
    if others:
        listing = ", ".join(f"{p['name']} (pid {p['pid']}, {(p['memory_bytes'] or 0) / GIB:.1f} GiB)" for p in others[:3])
        causes.append(f"other processes hold GPU memory: {listing}")
    loaded_ctx = m.placement.context_length if m.placement else None
    if loaded_ctx and plan.context and loaded_ctx > plan.context:
        causes.append(f"the server loaded it with context {loaded_ctx}, more than the planned {plan.context}: "
                      f"a bigger KV cache - set OLLAMA_CONTEXT_LENGTH={plan.context}")
    elif loaded_ctx and not plan.context and loaded_ctx >= 32768:
        causes.append(f"Ollama's automatic context {loaded_ctx} makes the KV cache large - set OLLAMA_CONTEXT_LENGTH")
    parallel = env.get("OLLAMA_NUM_PARALLEL", "")
    if parallel.isdigit() and int(parallel) > 1:
        causes.append(f"OLLAMA_NUM_PARALLEL={parallel} multiplies the KV cache")
    if facts is not None and not facts.gpus:
        causes.append("no GPU was found on the host (driver not loaded, or nvidia-smi/rocm-smi missing)")
    for g in use.gpus:
        if g.memory_used_bytes_max and g.memory_total_bytes and g.memory_used_bytes_max > 0.95 * g.memory_total_bytes:
            causes.append(f"GPU {g.index} memory was full: {g.memory_used_bytes_max / GIB:.1f} of "
                          f"{g.memory_total_bytes / GIB:.1f} GiB used")
    if not causes and m.placement is not None:
        p = m.placement
        causes.append(f"it needs more GPU memory than was free: {p.size_vram / GIB:.1f} of {p.size / GIB:.1f} GiB "
                      "went to VRAM")
    return causes


def _slow_causes(m: Measurement, spill: Flag | None, facts: HostFacts | None) -> list[str]:
    causes: list[str] = []
    if spill is not None:
        causes.append("it spilled to the CPU (see above): decode runs at CPU memory speed")
    use = m.utilisation
    if use.cpu_pct_avg is not None and use.cpu_pct_avg > 90 and (m.placement is None or m.placement.kind == "gpu"):
        causes.append(f"the host's CPUs were {use.cpu_pct_avg:.0f}% busy during the runs")
    gpus_busy = [g for g in use.gpus if g.util_pct_avg is not None]
    if m.placement is not None and m.placement.kind == "gpu" and gpus_busy and max(g.util_pct_avg or 0 for g in gpus_busy) < 30:
        causes.append("the GPUs were mostly idle during the runs (another bottleneck: PCIe, CPU, power limit)")
    if facts is not None and m.placement is not None and m.placement.kind != "gpu":
        bw = facts.bandwidth
        if bw.cpu_source == "table":
            causes.append("the CPU memory bandwidth behind the prediction is the CPU's maximum (DIMMs not readable): "
                          "fewer DIMMs than channels, or slower ones, give less")
    if not causes:
        causes.append("other load on the host or its GPUs during the runs, or an optimistic bandwidth figure")
    return causes
