"""The flag rules: too slow, slower than predicted, spilled (with causes), placement unknown."""

from __future__ import annotations

from deployer.bench.flags import Limits, evaluate, spill_causes, status
from deployer.bench.measure import Measurement, RunSample
from deployer.bench.placement import Placement
from deployer.bench.plan import Plan
from deployer.bench.sampler import GPUUse, Utilisation
from deployer.llm.spec import parse_hardware_spec

GIB = 2**30


def run(tps: float, n: int = 128) -> RunSample:
    return RunSample(n, int(n / tps * 1e9), 20, 10_000_000, 0, 0.1, n / tps)


def measurement(tps: list[float], placement: Placement | None, use: Utilisation | None = None) -> Measurement:
    return Measurement("deepseek-r1:14b", False, 2.0, placement, [run(t) for t in tps], use or Utilisation())


ON_GPU = Placement("deepseek-r1:14b", 11 * GIB, 11 * GIB, 8192)
SPILLED = Placement("deepseek-r1:14b", 11 * GIB, 7 * GIB, 8192)
ON_CPU = Placement("deepseek-r1:14b", 11 * GIB, 0, 8192)


def plan(placement: str = "gpu", tps: float | None = 80.0, context: int | None = 8192, cpu_share: float = 0.0) -> Plan:
    return Plan("deepseek-r1", "deepseek-r1:14b", "deployer_models", placement, cpu_share, tps, "why", context)


def kinds(flags: list) -> list[tuple[str, str]]:
    return [(f.kind, f.severity) for f in flags]


def test_as_predicted_on_the_gpu_is_ok() -> None:
    flags = evaluate(measurement([78, 80, 79], ON_GPU), plan(), Limits())
    assert flags == [] and status(flags) == "ok"


def test_far_below_the_prediction_warns_at_max_slowdown() -> None:
    assert kinds(evaluate(measurement([39, 39, 39], ON_GPU), plan(), Limits(max_slowdown=0.5))) == \
        [("slower_than_predicted", "warn")]
    assert evaluate(measurement([41, 41, 41], ON_GPU), plan(), Limits(max_slowdown=0.5)) == []
    assert evaluate(measurement([39, 39, 39], ON_GPU), plan(tps=None), Limits()) == []  # nothing to compare with


def test_the_median_counts_not_one_slow_run() -> None:
    assert evaluate(measurement([2, 79, 80], ON_GPU), plan(), Limits(min_tokens_per_second=5)) == []


def test_below_min_tokens_per_second_fails_unless_only_warn() -> None:
    flags = evaluate(measurement([3, 3, 3], ON_CPU), plan("cpu", tps=3.5), Limits(min_tokens_per_second=5))
    assert kinds(flags) == [("too_slow", "fail")] and status(flags) == "fail"
    assert "3.0 tok/s is below min_tokens_per_second 5" in flags[0].message
    flags = evaluate(measurement([3, 3, 3], ON_CPU), plan("cpu", tps=3.5), Limits(5, only_warn=True))
    assert kinds(flags) == [("too_slow", "warn")] and status(flags) == "warn"
    assert evaluate(measurement([3, 3, 3], ON_CPU), plan("cpu", tps=3.5), Limits(None)) == []


def test_spilled_although_planned_on_gpu_names_the_cause() -> None:
    facts = parse_hardware_spec("gpu=RTX 4090")
    use = Utilisation(server_env={"ROCR_VISIBLE_DEVICES": "0"}, server_pids=[10],
                      gpu_processes=[{"pid": 10, "name": "ollama", "memory_bytes": GIB},
                                     {"pid": 99, "name": "python3", "memory_bytes": 12 * GIB}])
    flags = evaluate(measurement([9, 10, 10], SPILLED, use), plan(), Limits(), facts)
    assert kinds(flags) == [("spilled", "warn"), ("slower_than_predicted", "warn")]
    spill = flags[0]
    assert "36%/64% CPU/GPU" in spill.message
    assert any("ROCR_VISIBLE_DEVICES=0" in c and "Slurm" in c for c in spill.causes)
    assert any("python3 (pid 99, 12.0 GiB)" in c for c in spill.causes)
    assert not any("ollama (pid 10" in c for c in spill.causes), "the server itself is not 'another process'"
    assert any("spilled to the CPU" in c for c in flags[1].causes)
    assert "likely:" in spill.text()


def test_spill_causes_from_the_context_the_server_chose_and_parallel_slots() -> None:
    big_ctx = Placement("deepseek-r1:14b", 20 * GIB, 15 * GIB, 32768)
    causes = spill_causes(measurement([50], big_ctx, Utilisation(server_env={"OLLAMA_NUM_PARALLEL": "4"})), plan(), None)
    assert any("context 32768, more than the planned 8192" in c and "OLLAMA_CONTEXT_LENGTH=8192" in c for c in causes)
    assert any("OLLAMA_NUM_PARALLEL=4" in c for c in causes)
    unplanned = spill_causes(measurement([50], big_ctx), plan(context=None), None)
    assert any("automatic context 32768" in c for c in unplanned)


def test_spill_causes_without_specific_evidence() -> None:
    no_gpu = spill_causes(measurement([5], ON_CPU), plan(), parse_hardware_spec("cpu=Core i9-13900K,ram=64"))
    assert any("no GPU was found" in c for c in no_gpu)
    full = Utilisation(gpus=[GPUUse(0, "nvidia", 90, 99, int(23.8 * GIB), 24 * GIB)])
    assert any("GPU 0 memory was full" in c for c in spill_causes(measurement([5], SPILLED, full), plan(), parse_hardware_spec("gpu=RTX 4090")))
    fallback = spill_causes(measurement([5], SPILLED), plan(), parse_hardware_spec("gpu=RTX 4090"))
    assert fallback == ["it needs more GPU memory than was free: 7.0 of 11.0 GiB went to VRAM"]


def test_a_planned_split_is_flagged_only_when_much_more_lands_on_the_cpu() -> None:
    split_plan = plan("split", tps=20, cpu_share=0.30)
    assert evaluate(measurement([20], SPILLED), split_plan, Limits()) == []  # 36% vs 30% planned
    flags = evaluate(measurement([20], Placement("m", 100, 40, None)), split_plan, Limits())
    assert kinds(flags) == [("spilled", "warn")] and "60% of it is on the CPU, planned 30%" in flags[0].message


def test_planned_on_cpu_is_never_a_spill() -> None:
    assert evaluate(measurement([8], ON_CPU), plan("cpu", tps=8), Limits()) == []


def test_placement_unknown_when_ps_does_not_list_the_model() -> None:
    flags = evaluate(measurement([80], None), plan(), Limits())
    assert kinds(flags) == [("placement_unknown", "warn")]


def test_rocr_visible_devices_is_a_cause_on_nvidia_or_unknown_nodes_not_on_amd_ones() -> None:
    use = Utilisation(server_env={"ROCR_VISIBLE_DEVICES": "0"})
    m = measurement([5], ON_CPU, use)
    assert any("Slurm" in c for c in spill_causes(m, plan(), None))
    assert any("Slurm" in c for c in spill_causes(m, plan(), parse_hardware_spec("gpu=RTX 4090")))
    amd = parse_hardware_spec("gpu=Radeon RX 7900 XTX")
    assert amd.gpus and amd.gpus[0].vendor == "amd"
    assert not any("ROCR" in c for c in spill_causes(m, plan(), amd))
    hidden = measurement([5], ON_CPU, Utilisation(server_env={"ROCR_VISIBLE_DEVICES": "-1"}))
    assert any("hides every AMD GPU" in c for c in spill_causes(hidden, plan(), amd))
