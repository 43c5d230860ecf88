"""The prediction: from the deployer_models variable, or computed from the facts."""

from __future__ import annotations

from deployer.bench.plan import computed, from_vars
from deployer.llm.spec import parse_hardware_spec

DECISION = {  # the shape of deployer.llm.select.Decision.to_json()
    "host": "gpu-01", "ok": True, "request": "deepseek-r1", "model": "deepseek-r1:14b", "quantization": "Q4_K_M",
    "pull": "deepseek-r1:14b", "placement": "gpu", "gpus": [0], "cpu_share": 0.0, "memory_gib": 11.0,
    "memory": {"total_gib": 11.0}, "tokens_per_second": 81.3, "load_seconds": 9.0, "context": 8192,
    "num_parallel": 1, "kv_cache_type": "f16", "reason": "RTX 4090 24 GiB: ... ~81 tok/s", "candidates": [],
}


def test_from_the_models_modules_variable_by_entry_name_or_by_tag() -> None:
    models = {"deepseek-r1": DECISION}
    p = from_vars("deepseek-r1", models)
    assert p is not None
    assert (p.model, p.source, p.placement, p.tokens_per_second, p.context, p.memory_gib) == \
        ("deepseek-r1:14b", "deployer_models", "gpu", 81.3, 8192, 11.0)
    assert from_vars("deepseek-r1:14b", models) is not None
    assert from_vars("llama3.1", models) is None
    assert from_vars("deepseek-r1", None) is None


def test_alternative_key_names_are_read() -> None:
    entry = {"tag": "deepseek-r1:7b", "predicted_tokens_per_second": 40, "memory_gib": 5.5, "endpoint": "127.0.0.1:11500"}
    p = from_vars("r1", {"r1": entry})
    assert p is not None
    assert (p.model, p.tokens_per_second, p.memory_gib, p.note, p.endpoint) == ("deepseek-r1:7b", 40.0, 5.5, None, "127.0.0.1:11500")
    bare = from_vars("r1", {"r1": {"model": "deepseek-r1:7b"}})
    assert bare is not None and bare.tokens_per_second is None and bare.note


def test_computed_from_facts_for_the_loaded_tag() -> None:
    facts = parse_hardware_spec("gpu=RTX 4090")
    p = computed("deepseek-r1:14b", "deepseek-r1:14b", facts, 8192)
    assert p.source == "computed" and p.placement == "gpu"
    assert p.tokens_per_second is not None and 40 < p.tokens_per_second < 150
    assert p.reason and "deepseek-r1:14b" in p.reason


def test_computed_spills_like_ollama_rather_than_refusing() -> None:
    p = computed("deepseek-r1:70b", "deepseek-r1:70b", parse_hardware_spec("gpu=RTX 4090,ram=128"), 8192)
    assert p.placement == "split" and p.cpu_share and p.cpu_share > 0.3


def test_no_prediction_for_a_model_outside_the_catalogue() -> None:
    p = computed("my-finetune", "my-finetune:latest", parse_hardware_spec("gpu=RTX 4090"), None)
    assert p.source == "none" and p.tokens_per_second is None and "my-finetune" in (p.note or "")
