"""Placement from /api/ps answers of several Ollama versions."""

from __future__ import annotations

import pytest

from deployer.bench.placement import Placement, canonical_name, find_loaded, parse_ps_entry

GIB = 2**30

# /api/ps as Ollama 0.5.7 answers it (no context_length) and as 0.12 does
PS_OLD = {"models": [{"name": "deepseek-r1:7b", "model": "deepseek-r1:7b", "size": 5_561_468_928,
                      "digest": "0a8c2669", "details": {"parameter_size": "7.6B"},
                      "expires_at": "2025-01-15T10:05:00Z", "size_vram": 5_561_468_928}]}
PS_NEW = {"models": [
    {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 6_654_289_920, "size_vram": 3_460_230_758,
     "context_length": 32768, "digest": "46e0c10c"},
    {"name": "qwen2.5:1.5b", "model": "qwen2.5:1.5b", "size": 1_929_000_000, "size_vram": 0,
     "context_length": 4096, "digest": "65ec0626"},
]}


def test_all_in_vram_is_100_percent_gpu_and_old_servers_have_no_context() -> None:
    p = find_loaded(PS_OLD["models"], "deepseek-r1:7b")
    assert p is not None
    assert (p.label, p.kind, p.cpu_share, p.context_length) == ("100% GPU", "gpu", 0.0, None)


def test_a_split_reads_like_ollama_ps() -> None:
    p = find_loaded(PS_NEW["models"], "llama3.1:8b")
    assert p is not None
    assert p.label == "48%/52% CPU/GPU"
    assert p.kind == "split"
    assert p.cpu_share == pytest.approx(0.48, abs=0.005)
    assert p.context_length == 32768


def test_nothing_in_vram_is_100_percent_cpu() -> None:
    p = find_loaded(PS_NEW["models"], "qwen2.5:1.5b")
    assert p is not None and (p.label, p.kind, p.cpu_share) == ("100% CPU", "cpu", 1.0)


@pytest.mark.parametrize(("size", "vram", "label", "kind"), [
    (0, 0, "100% CPU", "unknown"),          # size unknown: nothing sensible to say but "CPU"
    (100, 120, "Unknown", "unknown"),       # more in VRAM than the model: ollama ps says Unknown
    (1000, 996, "0%/100% CPU/GPU", "split"),  # a sliver on the CPU is still a split, as upstream shows it
    (1000, 4, "100%/0% CPU/GPU", "split"),
])
def test_edge_shapes(size: int, vram: int, label: str, kind: str) -> None:
    p = parse_ps_entry({"name": "m:1b", "size": size, "size_vram": vram})
    assert (p.label, p.kind) == (label, kind)


def test_names_match_in_ollamas_short_form() -> None:
    models = [{"name": "llama3:latest", "model": "llama3:latest", "size": 10, "size_vram": 10},
              {"name": "hf.co/bartowski/Qwen2.5-1.5B-GGUF:Q4_K_M", "size": 10, "size_vram": 0}]
    assert find_loaded(models, "llama3") is not None
    assert find_loaded(models, "registry.ollama.ai/library/llama3:latest") is not None
    assert find_loaded(models, "hf.co/bartowski/Qwen2.5-1.5B-GGUF:Q4_K_M") is not None
    assert find_loaded(models, "llama3:8b") is None
    assert find_loaded([], "llama3") is None
    assert canonical_name("hf.co/org/repo") == "hf.co/org/repo:latest"


def test_missing_fields_do_not_break_parsing() -> None:
    p = parse_ps_entry({"model": "x:1b"})
    assert p == Placement("x:1b", 0, 0, None)
    assert p.to_data()["label"] == "100% CPU"
