"""Memory a model needs on a host, and where Ollama would put it.

memory = weights + KV cache + compute graph + a runtime minimum per GPU:

- weights: the tag's real file size (or another quantization scaled from it by
  bytes per parameter; or the seed's "2 bytes per parameter" rule as a policy);
- KV cache: 2 x layers x kv_heads x head_dim x context x bytes_per_elem x
  num_parallel (Gemma 3's sliding-window layers keep only their window);
- compute graph: the larger of the output logits (4 bytes x batch x (vocab +
  embedding)) and, without flash attention, the attention scores (4 bytes x
  batch x context x heads) — the same terms Ollama's own estimate is built on;
- runtime: 457 MiB per GPU used (Ollama's CUDA/ROCm minimum).

Placement follows Ollama: one GPU when the model fits on one, else spread by
layers over all GPUs; what does not fit goes to the CPU (split) when allowed.
Every pool keeps a headroom of 10% of its size, at most 1 GiB (configurable).
Pure functions: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from deployer.facts.model import GPU, HostFacts
from deployer.llm.catalog import Arch, ModelTag, normalize_quant

GIB = 1024**3
MIB = 1024**2
OLLAMA_GPU_RUNTIME_BYTES = 457 * MIB
BATCH = 512
# llama.cpp block sizes: q8_0 stores 32 values in 34 bytes, q4_0 in 18.
KV_BYTES_PER_ELEM = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

Placement = Literal["gpu", "split", "cpu", "none"]
PlacementPolicy = Literal["gpu", "gpu_or_spill", "cpu"]
PRECISION_RULE = "rule_2bpp"


@dataclass(frozen=True)
class Headroom:
    """Memory left free in each pool (each GPU, and RAM): `fraction` of it, at most `max_gib`."""

    fraction: float = 0.10
    max_gib: float = 1.0

    def reserve(self, pool_bytes: int) -> int:
        return int(min(pool_bytes * self.fraction, self.max_gib * GIB))


@dataclass(frozen=True)
class SizingOptions:
    """How a model is to be run: the knobs that change its memory."""

    context: int = 8192
    num_parallel: int = 1
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    precision: str = "tag"
    placement: PlacementPolicy = "gpu_or_spill"
    headroom: Headroom = field(default_factory=Headroom)
    flash_attention: bool | None = None  # None: on when the KV cache is quantized (it requires it)

    @property
    def uses_flash_attention(self) -> bool:
        return self.flash_attention if self.flash_attention is not None else self.kv_cache_type != "f16"


@dataclass(frozen=True)
class Weights:
    """The weights that will be loaded: bytes, quantization label, the name to pull."""

    bytes: int
    quantization: str
    pull_name: str | None


def weights_for(tag: ModelTag, precision: str = "tag") -> Weights:
    """Weights under a precision policy: 'tag' (the real file), a quantization name, or 'rule_2bpp'."""
    if precision == "tag":
        return Weights(tag.spec.size_bytes, tag.quantization, tag.name)
    if precision == PRECISION_RULE:
        return Weights(int(tag.params * 2), "F16 (2 bytes/param rule)", tag.pull_name("F16"))
    quant = normalize_quant(precision)
    return Weights(tag.size_for(quant), quant, tag.pull_name(quant))


def kv_cache_bytes(arch: Arch, context: int, kv_cache_type: str = "f16", num_parallel: int = 1) -> int:
    """KV cache: 2 (K and V) x layers x kv_heads x head_dim x context x bytes x parallel."""
    per_elem = KV_BYTES_PER_ELEM[kv_cache_type]
    k = arch.key_length or arch.head_dim
    v = arch.value_length or arch.head_dim
    per_token_layer = arch.kv_heads * (k + v) * per_elem
    if arch.sliding_window is not None and arch.global_layers is not None:
        local = arch.layers - arch.global_layers
        tokens = arch.global_layers * context + local * min(context, arch.sliding_window)
    else:
        tokens = arch.layers * context
    return int(per_token_layer * tokens * num_parallel)


def graph_bytes(arch: Arch, context: int, num_parallel: int = 1, flash_attention: bool = False) -> int:
    """Compute-graph buffer: output logits, or attention scores when flash attention is off."""
    logits = 4 * BATCH * (arch.vocab + arch.embedding)
    scores = 0 if flash_attention else 4 * BATCH * context * num_parallel * arch.heads
    return max(logits, scores)


@dataclass(frozen=True)
class MemoryPlan:
    """Where the model goes on one host, and what each part costs (bytes)."""

    placement: Placement
    weights: int
    kv: int
    graph: int
    layers: int
    overhead: int  # graph buffers and runtime minimums, all devices together
    gpu_layers: dict[int, int] = field(default_factory=dict)  # GPU index -> layers on it
    gpu_bytes: dict[int, int] = field(default_factory=dict)  # GPU index -> bytes used on it
    cpu_layers: int = 0
    cpu_bytes: int = 0
    shortfall: int = 0  # bytes missing when placement is "none"
    why: str = ""  # for "none": which limit was hit

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.overhead

    @property
    def cpu_share(self) -> float:
        """Fraction of the layers on the CPU."""
        return self.cpu_layers / self.layers if self.layers else 0.0


def ram_pool(facts: HostFacts) -> int | None:
    """RAM the CPU part may use: available RAM, capped by total and the cgroup limit."""
    usable = facts.memory.usable_bytes
    avail = facts.memory.available_bytes
    values = [v for v in (usable, avail) if v]
    return min(values) if values else None


def usable_gpus(facts: HostFacts) -> list[GPU]:
    """GPUs whose memory size is known."""
    return [g for g in facts.gpus if g.memory_total_bytes]


def plan_memory(tag: ModelTag, weights: int, facts: HostFacts, opts: SizingOptions) -> MemoryPlan:
    """Place a model of `weights` bytes on a host under the placement policy of `opts`."""
    arch = tag.arch
    kv = kv_cache_bytes(arch, opts.context, opts.kv_cache_type, opts.num_parallel)
    graph = graph_bytes(arch, opts.context, opts.num_parallel, opts.uses_flash_attention)
    layers = arch.layers
    per_layer = (weights + kv) / layers
    gpu_overhead = OLLAMA_GPU_RUNTIME_BYTES + graph
    base = dict(weights=weights, kv=kv, graph=graph, layers=layers)
    ram = ram_pool(facts)
    ram_free = ram - opts.headroom.reserve(ram) if ram else None
    gpus = usable_gpus(facts) if opts.placement != "cpu" else []

    def cpu_only() -> MemoryPlan:
        need = weights + kv + graph
        if ram_free is None:
            return MemoryPlan("none", **base, overhead=graph, shortfall=need, why="RAM size unknown")
        if need <= ram_free:
            return MemoryPlan("cpu", **base, overhead=graph, cpu_layers=layers, cpu_bytes=need)
        return MemoryPlan("none", **base, overhead=graph, shortfall=need - ram_free, why=f"{ram_free / GIB:.1f} GiB RAM free")

    if not gpus:
        if opts.placement == "gpu":
            why = "no GPU with known memory" if facts.gpus else "no GPU"
            return MemoryPlan("none", **base, overhead=gpu_overhead, shortfall=weights + kv + gpu_overhead, why=why)
        return cpu_only()

    # Layers each GPU can hold after its headroom, the runtime minimum and a graph buffer.
    room = {
        g.index: g.memory_total_bytes - opts.headroom.reserve(g.memory_total_bytes) - OLLAMA_GPU_RUNTIME_BYTES - graph
        for g in gpus
    }
    fits = {i: max(0, int(r // per_layer)) for i, r in room.items()}
    single = [i for i in fits if fits[i] >= layers]
    if single:
        best = max(single, key=lambda i: room[i])
        alloc = {best: layers}
    elif sum(fits.values()) >= layers:
        alloc = _spread(layers, fits)
    else:
        alloc = {i: n for i, n in fits.items() if n > 0}
    on_gpu = sum(alloc.values())
    gpu_bytes = {i: int(n * per_layer) + gpu_overhead for i, n in alloc.items()}
    if on_gpu >= layers:
        return MemoryPlan("gpu", **base, overhead=gpu_overhead * len(alloc), gpu_layers=alloc, gpu_bytes=gpu_bytes)
    if opts.placement == "gpu":
        offered = sum(max(r, 0) for r in room.values())
        return MemoryPlan(
            "none", **base, overhead=gpu_overhead, shortfall=int(weights + kv - offered),
            why=f"{_gpu_words(gpus)} {offered / GIB:.1f} GiB after overheads",
        )
    cpu_layers = layers - on_gpu
    cpu_need = int(cpu_layers * per_layer) + graph
    split_overhead = gpu_overhead * len(alloc) + graph
    if ram_free is None:
        return MemoryPlan("none", **base, overhead=split_overhead, shortfall=cpu_need,
                          why="RAM size unknown, cannot spill to CPU")
    if cpu_need > ram_free:
        return MemoryPlan("none", **base, overhead=split_overhead, shortfall=cpu_need - ram_free,
                          why=f"GPUs full and {ram_free / GIB:.1f} GiB RAM free for the rest")
    if not alloc:
        return cpu_only()
    return MemoryPlan("split", **base, overhead=split_overhead, gpu_layers=alloc, gpu_bytes=gpu_bytes,
                      cpu_layers=cpu_layers, cpu_bytes=cpu_need)


def _spread(layers: int, fits: dict[int, int]) -> dict[int, int]:
    """Layers over several GPUs in proportion to what each can hold."""
    total = sum(fits.values())
    alloc = {i: layers * n // total for i, n in fits.items()}
    while sum(alloc.values()) < layers:  # hand out the remainder one layer at a time, emptiest GPU first
        i = max((i for i in fits if alloc[i] < fits[i]), key=lambda i: (fits[i] - alloc[i]) / fits[i])
        alloc[i] += 1
    return {i: n for i, n in alloc.items() if n > 0}


def _gpu_words(gpus: list[GPU]) -> str:
    return f"{len(gpus)} GPUs offer" if len(gpus) > 1 else f"{gpus[0].name} offers"
