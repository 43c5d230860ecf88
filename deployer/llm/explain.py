"""The one-line reason behind a sizing decision, in numbers a person can check.

    RTX 4090 24 GiB: deepseek-r1:14b needs 8.4 + 1.5 KV + 1.1 = 11.0 GiB -> all on GPU, ~81 tok/s
"""

from __future__ import annotations

from collections import Counter

from deployer.facts.model import HostFacts
from deployer.llm.catalog import ModelTag
from deployer.llm.hardware import GIB
from deployer.llm.sizing import MemoryPlan, ram_pool
from deployer.llm.speed import SpeedEstimate


def fmt_gib(nbytes: float) -> str:
    """GiB with a precision that reads well: '24 GiB', '7.8 GiB'."""
    gib = nbytes / GIB
    return f"{gib:.0f} GiB" if gib >= 10 else f"{gib:.1f} GiB"


def fmt_tps(tps: float) -> str:
    """Tokens per second: '~95 tok/s', '~2.9 tok/s'."""
    return f"~{tps:.0f} tok/s" if tps >= 10 else f"~{tps:.1f} tok/s"


def _gpus(facts: HostFacts, indexes: list[int] | None = None) -> str:
    chosen = [g for g in facts.gpus if indexes is None or g.index in indexes]
    if not chosen:
        return "no GPU"
    counts = Counter((g.name, fmt_gib(g.memory_total_bytes or 0)) for g in chosen)
    return " + ".join(f"{n}x {name} {mem}" if n > 1 else f"{name} {mem}" for (name, mem), n in counts.items())


def _cpu(facts: HostFacts) -> str:
    model = facts.cpu.model if facts.cpu.model not in ("", "unknown") else "CPU"
    sockets = facts.cpu.sockets or 1
    return f"{sockets}x {model}" if sockets > 1 else model


def _ram(facts: HostFacts) -> str:
    ram = ram_pool(facts)
    return f"{fmt_gib(ram)} RAM free" if ram else "RAM unknown"


def host_words(facts: HostFacts, plan: MemoryPlan, policy: str) -> str:
    """What of the host the decision is about: the GPUs used, the RAM, the CPU."""
    if plan.placement == "gpu":
        return _gpus(facts, sorted(plan.gpu_layers))
    if plan.placement == "split":
        return f"{_gpus(facts, sorted(plan.gpu_layers))} + {_ram(facts)}"
    if plan.placement == "cpu" or policy == "cpu" or not facts.gpus:
        return f"{_cpu(facts)}, {_ram(facts)}"
    if policy == "gpu":
        return _gpus(facts)
    return f"{_gpus(facts)} + {_ram(facts)}"


def describe(tag: ModelTag, plan: MemoryPlan, facts: HostFacts, estimate: SpeedEstimate, policy: str) -> str:
    """One line: host, model, memory sum, placement, speed."""
    w, kv, oh = plan.weights / GIB, plan.kv / GIB, plan.overhead / GIB
    line = f"{host_words(facts, plan, policy)}: {tag.name} needs {w:.1f} + {kv:.1f} KV + {oh:.1f} = {w + kv + oh:.1f} GiB"
    if plan.placement == "none":
        return f"{line} -> does not fit ({plan.why}; short by {plan.shortfall / GIB:.1f} GiB, placement {policy})"
    if plan.placement == "gpu":
        n = len(plan.gpu_layers)
        line += " -> all on GPU" + (f" ({n} GPUs, layers split {'/'.join(map(str, plan.gpu_layers.values()))})"
                                    if n > 1 else "")
    elif plan.placement == "split":
        line += f" -> split, {plan.cpu_share:.0%} of layers ({plan.cpu_layers}/{plan.layers}) on CPU"
    else:
        line += " -> CPU only"
        if (facts.cpu.sockets or 1) > 1:
            line += f" (NUMA: {facts.cpu.sockets} sockets)"
    if estimate.tokens_per_second is None:
        return f"{line}, tok/s unknown: {estimate.unknown}"
    return f"{line}, {fmt_tps(estimate.tokens_per_second)}"
