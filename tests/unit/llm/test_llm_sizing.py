"""KV cache, weights policies and placement against shared/reference/sizing.md."""

from __future__ import annotations

import pytest

from deployer.facts.model import GPU, CPUInfo, HostFacts, MemoryInfo
from deployer.llm.catalog import load_catalog
from deployer.llm.sizing import (
    GIB,
    Headroom,
    SizingOptions,
    graph_bytes,
    kv_cache_bytes,
    plan_memory,
    weights_for,
)
from deployer.llm.spec import parse_hardware_spec

KIB = 1024


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize(
    "tag, per_token_kib, gib_8k",
    [
        ("deepseek-r1:1.5b", 28, 0.22),  # R1-Distill-Qwen-1.5B 28/2/128
        ("deepseek-r1:7b", 56, 0.44),  # R1-Distill-Qwen-7B 28/4/128
        ("llama3.1:8b", 128, 1.0),  # Llama-3.1-8B 32/8/128
        ("qwen2.5:14b", 192, 1.5),  # Qwen2.5-14B 48/8/128
        ("qwen2.5:32b", 256, 2.0),  # Qwen2.5-32B 64/8/128
        ("llama3.3:70b", 320, 2.5),  # Llama-3.x-70B 80/8/128
    ],
)
def test_kv_cache_matches_the_table_of_sizing_md(catalog, tag, per_token_kib, gib_8k):
    arch = catalog.resolve(tag).arch
    assert kv_cache_bytes(arch, 1) == per_token_kib * KIB
    assert kv_cache_bytes(arch, 8192) / GIB == pytest.approx(gib_8k, abs=0.005)


def test_kv_cache_scales_with_type_parallel_and_context(catalog):
    arch = catalog.resolve("deepseek-r1:14b").arch
    f16 = kv_cache_bytes(arch, 8192)
    assert kv_cache_bytes(arch, 8192, "q8_0") == pytest.approx(f16 / 2, rel=0.07)
    assert kv_cache_bytes(arch, 8192, "q4_0") == pytest.approx(f16 / 4, rel=0.13)
    assert kv_cache_bytes(arch, 8192, num_parallel=4) == 4 * f16
    assert kv_cache_bytes(arch, 32768) == 4 * f16


def test_sliding_window_layers_keep_only_their_window(catalog):
    arch = catalog.resolve("gemma3:27b").arch  # 62 layers, 10 global, window 1024
    per_layer_token = 2 * arch.kv_heads * arch.head_dim * 2
    assert kv_cache_bytes(arch, 32768) == per_layer_token * (10 * 32768 + 52 * 1024)
    assert kv_cache_bytes(arch, 512) == per_layer_token * 62 * 512


def test_mla_keys_and_values_of_different_size(catalog):
    arch = catalog.resolve("deepseek-r1:671b").arch  # 61 layers x 128 heads x (192 + 128)
    assert kv_cache_bytes(arch, 1) == 61 * 128 * (192 + 128) * 2


def test_graph_buffer_is_the_attention_scores_without_flash_attention(catalog):
    arch = catalog.resolve("deepseek-r1:14b").arch
    assert graph_bytes(arch, 8192) == 4 * 512 * 8192 * 40
    assert graph_bytes(arch, 8192, flash_attention=True) == 4 * 512 * (arch.vocab + arch.embedding)


def test_precision_policies(catalog):
    tag = catalog.resolve("deepseek-r1:7b")
    assert weights_for(tag).bytes == 4_683_075_271
    assert weights_for(tag).pull_name == "deepseek-r1:7b"
    q8 = weights_for(tag, "Q8_0")
    assert q8.quantization == "Q8_0" and q8.pull_name == "deepseek-r1:7b-qwen-distill-q8_0"
    rule = weights_for(tag, "rule_2bpp")  # the seed's rule: "7B needs 14 GB"
    assert rule.bytes == int(7.62e9 * 2)
    assert rule.bytes / weights_for(tag).bytes == pytest.approx(3.25, abs=0.05)  # ~3x too pessimistic


def _opts(**kw) -> SizingOptions:
    return SizingOptions(**kw)


def _plan(catalog, name, facts, **kw):
    tag = catalog.resolve(name)
    opts = _opts(**kw)
    return plan_memory(tag, weights_for(tag, opts.precision).bytes, facts, opts)


def test_rtx_4090_runs_deepseek_r1_14b_all_on_gpu(catalog):
    plan = _plan(catalog, "deepseek-r1:14b", parse_hardware_spec("gpu=RTX 4090,ram=64"), placement="gpu")
    assert plan.placement == "gpu"
    assert plan.gpu_layers == {0: 48} and plan.cpu_layers == 0
    assert plan.weights / GIB == pytest.approx(8.37, abs=0.01)
    assert plan.kv / GIB == pytest.approx(1.5)
    assert 10.5 < plan.total / GIB < 11.5


def test_24_gib_gpu_and_70b_splits_about_half_on_the_cpu(catalog):
    facts = parse_hardware_spec("gpu=RTX 3090,cpu=Ryzen 9 5950X,ram=128")
    plan = _plan(catalog, "deepseek-r1:70b", facts, placement="gpu_or_spill", context=8192)
    assert plan.placement == "split"
    # 39.6 GiB weights + 2.5 GiB KV over 80 layers; ~21 GiB of GPU room holds ~40 of them.
    assert 0.45 <= plan.cpu_share <= 0.55
    assert plan.cpu_layers + sum(plan.gpu_layers.values()) == 80
    assert plan.gpu_bytes[0] <= 24 * GIB - 1 * GIB  # headroom kept
    per_layer = (plan.weights + plan.kv) / 80
    assert plan.cpu_bytes == pytest.approx(plan.cpu_layers * per_layer + plan.graph, abs=1)


def test_cpu_only_on_a_dual_xeon(catalog):
    facts = parse_hardware_spec("cpu=Xeon Silver 4214,sockets=2,memory=DDR4-2400x6,ram=192")
    plan = _plan(catalog, "deepseek-r1:32b", facts, placement="cpu")
    assert plan.placement == "cpu"
    assert plan.cpu_layers == 64 and not plan.gpu_layers
    # a GPU on the host is ignored under placement cpu
    with_gpu = parse_hardware_spec("gpu=RTX 4090,cpu=Xeon Silver 4214,sockets=2,memory=DDR4-2400x6,ram=192")
    assert _plan(catalog, "deepseek-r1:32b", with_gpu, placement="cpu").placement == "cpu"


def test_does_not_fit_says_by_how_much(catalog):
    facts = parse_hardware_spec("gpu=RTX 4090,ram=16")
    plan = _plan(catalog, "deepseek-r1:70b", facts, placement="gpu")
    assert plan.placement == "none"
    room = 24 * GIB - 1 * GIB - 457 * 1024**2 - plan.graph
    assert plan.shortfall == pytest.approx(plan.weights + plan.kv - room, abs=1024)
    assert "RTX 4090 offers" in plan.why
    spill = _plan(catalog, "deepseek-r1:70b", facts, placement="gpu_or_spill")
    assert spill.placement == "none" and "RAM free" in spill.why
    cpu = _plan(catalog, "deepseek-r1:671b", parse_hardware_spec("cpu=EPYC 7742,ram=256"), placement="cpu")
    assert cpu.placement == "none" and cpu.shortfall > 100 * GIB


def test_a_model_too_big_for_one_gpu_is_spread_over_several(catalog):
    facts = parse_hardware_spec("gpu=2xRTX 3090,ram=64")
    plan = _plan(catalog, "llama3.3:70b", facts, placement="gpu")
    assert plan.placement == "gpu"
    assert set(plan.gpu_layers) == {0, 1} and sum(plan.gpu_layers.values()) == 80
    assert max(plan.gpu_bytes.values()) <= 23 * GIB
    # a model that fits one GPU stays on one
    assert len(_plan(catalog, "deepseek-r1:14b", facts, placement="gpu").gpu_layers) == 1


def test_no_gpu_and_placement_gpu(catalog):
    facts = parse_hardware_spec("cpu=EPYC 7742,ram=256")
    plan = _plan(catalog, "deepseek-r1:7b", facts, placement="gpu")
    assert plan.placement == "none" and plan.why == "no GPU"
    assert _plan(catalog, "deepseek-r1:7b", facts, placement="gpu_or_spill").placement == "cpu"


def test_usable_ram_is_capped_by_the_cgroup_limit_and_available_memory(catalog):
    base = dict(hostname="h", cpu=CPUInfo(model="EPYC 7742"))
    free = HostFacts(**base, memory=MemoryInfo(total_bytes=256 * GIB, available_bytes=250 * GIB))
    assert _plan(catalog, "deepseek-r1:70b", free, placement="cpu").placement == "cpu"
    capped = HostFacts(**base, memory=MemoryInfo(total_bytes=256 * GIB, available_bytes=250 * GIB,
                                                 cgroup_limit_bytes=32 * GIB))
    assert _plan(catalog, "deepseek-r1:70b", capped, placement="cpu").placement == "none"
    busy = HostFacts(**base, memory=MemoryInfo(total_bytes=256 * GIB, available_bytes=20 * GIB))
    assert _plan(catalog, "deepseek-r1:70b", busy, placement="cpu").placement == "none"


def test_headroom_is_configurable(catalog):
    # deepseek-r1:32b at 8k needs ~21.6 GiB: it fits a 24 GiB card with 1 GiB kept free, not with 3.
    facts = parse_hardware_spec("gpu=RTX 4090")
    assert _plan(catalog, "deepseek-r1:32b", facts, placement="gpu").placement == "gpu"
    tight = _plan(catalog, "deepseek-r1:32b", facts, placement="gpu", headroom=Headroom(0.2, 3.0))
    assert tight.placement == "none"


def test_gpu_memory_unknown_is_not_used(catalog):
    facts = HostFacts(gpus=[GPU(index=0, vendor="nvidia", name="NVIDIA GB10")],
                      memory=MemoryInfo(total_bytes=64 * GIB, available_bytes=60 * GIB))
    plan = _plan(catalog, "deepseek-r1:7b", facts, placement="gpu")
    assert plan.placement == "none" and "no GPU with known memory" in plan.why


def test_layers_spread_evenly_over_equal_gpus(catalog):
    facts = parse_hardware_spec("gpu=8xH100 SXM,ram=2048")
    plan = _plan(catalog, "deepseek-r1:671b", facts, placement="gpu")
    assert plan.placement == "gpu" and sum(plan.gpu_layers.values()) == 61
    assert max(plan.gpu_layers.values()) - min(plan.gpu_layers.values()) <= 1
