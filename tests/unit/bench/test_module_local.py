"""llm_benchmark against a real Ollama stand-in process on this machine (local connection)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from deployer.connection import LocalConnection
from deployer.errors import ModuleFailure
from deployer.facts.probe import gather
from deployer.modules.base import FactsProvider, TaskContext, execute
from deployer.modules.llm_benchmark import LlmBenchmark, LlmBenchmarkArgs
from deployer.llm.spec import parse_hardware_spec
from tests.fakes.harness import StandinServer

PLANNED = {"deepseek-r1": {"model": "deepseek-r1:7b", "placement": "gpu", "tokens_per_second": 100.0,
                           "context": 8192, "reason": "RTX 4090 24 GiB: deepseek-r1:7b ... ~100 tok/s"}}


def context(vars: dict[str, Any] | None = None, check: bool = False, pending: bool = False, facts: Any = None) -> TaskContext:
    conn = LocalConnection()
    provider = FactsProvider(lambda: gather(conn), facts) if facts is not None else FactsProvider(lambda: gather(conn))
    return TaskContext(host="local", connection=conn, vars=vars or {}, check_mode=check,
                       earlier_changes_pending=pending, facts_provider=provider)


def bench(server: StandinServer, ctx: TaskContext, **args: Any) -> dict[str, Any]:
    a = LlmBenchmarkArgs(endpoint=f"127.0.0.1:{server.port}", runs=3, num_predict=32, **args)
    assert execute(LlmBenchmark(), ctx, a) is None, "a benchmark never changes anything"
    return ctx.result


def test_measures_the_speed_the_server_produces(standin: Callable[..., StandinServer]) -> None:
    server = standin(FAKE_OLLAMA_TOKENS_PER_SECOND="100", FAKE_OLLAMA_PROMPT_TOKENS_PER_SECOND="100",
                     FAKE_OLLAMA_VRAM_BYTES=str(10**9), FAKE_OLLAMA_LOAD_SECONDS="0.4")
    ctx = context({"deployer_models": PLANNED}, facts=parse_hardware_spec("gpu=RTX 4090", hostname="local"))
    result = bench(server, ctx, model="deepseek-r1")
    (b,) = result["benchmarks"]
    m = b["measured"]
    assert (b["model"], b["request"], b["status"], b["flags"]) == ("deepseek-r1:7b", "deepseek-r1", "ok", [])
    assert m["tokens_per_second"]["n"] == 3
    assert m["tokens_per_second"]["median"] == pytest.approx(100, rel=0.1)
    # one sleep of ~0.3 s on the server: a loaded machine oversleeps it a little
    assert m["prompt_tokens_per_second"]["median"] == pytest.approx(100, rel=0.2)
    assert all(r["eval_count"] == 32 for r in m["runs"])
    prompt_s = m["runs"][0]["prompt_eval_count"] / 100
    assert prompt_s < m["ttft_s"]["median"] < prompt_s + 0.5
    assert m["was_loaded"] is False and 0.4 <= m["load_s"] < 2.0
    assert m["placement"]["label"] == "100% GPU"
    assert m["utilisation"]["samples"] >= 2 and m["utilisation"]["ram_total_bytes"]
    assert b["plan"]["source"] == "deployer_models" and b["plan"]["tokens_per_second"] == 100.0
    assert result["hardware"]["gpus"][0]["name"].endswith("4090")
    assert result["msg"].startswith("deepseek-r1:7b: ") and " tok/s" in result["msg"] and "100% GPU" in result["msg"]
    assert ctx.warnings == []
    again = bench(server, context({"deployer_models": PLANNED}), model="deepseek-r1")
    assert again["benchmarks"][0]["measured"]["was_loaded"] is True


def test_a_spill_is_flagged_and_too_slow_fails(standin: Callable[..., StandinServer]) -> None:
    server = standin(FAKE_OLLAMA_TOKENS_PER_SECOND="100", FAKE_OLLAMA_CPU_TOKENS_PER_SECOND="40",
                     FAKE_OLLAMA_VRAM_BYTES="400000")
    ctx = context({"deployer_models": PLANNED})
    with pytest.raises(ModuleFailure, match=r"deepseek-r1:7b: \d+\.\d tok/s is below min_tokens_per_second 60"):
        bench(server, ctx, model="deepseek-r1", min_tokens_per_second=60)
    (b,) = ctx.result["benchmarks"]  # the numbers stay in the failed result
    assert b["status"] == "fail"
    assert [f["kind"] for f in b["flags"]] == ["spilled", "slower_than_predicted", "too_slow"]
    assert b["measured"]["placement"]["label"] == "60%/40% CPU/GPU"
    assert b["measured"]["tokens_per_second"]["median"] == pytest.approx(40, rel=0.1)
    assert any("spilled to the CPU although planned all on GPU" in w for w in ctx.warnings)

    ctx = context({"deployer_models": PLANNED})
    result = bench(server, ctx, model="deepseek-r1", min_tokens_per_second=60, only_warn=True)
    assert result["benchmarks"][0]["status"] == "warn"
    assert any("below min_tokens_per_second 60" in w for w in ctx.warnings)


def test_without_a_model_every_installed_one_is_benchmarked_and_predicted_from_facts(
        standin: Callable[..., StandinServer]) -> None:
    server = standin(models=("deepseek-r1:7b", "qwen2.5:1.5b"), FAKE_OLLAMA_TOKENS_PER_SECOND="300",
                     FAKE_OLLAMA_VRAM_BYTES=str(10**9))
    ctx = context(facts=parse_hardware_spec("gpu=RTX 4090", hostname="local"))
    result = bench(server, ctx, min_tokens_per_second=None)
    assert sorted(b["model"] for b in result["benchmarks"]) == ["deepseek-r1:7b", "qwen2.5:1.5b"]
    for b in result["benchmarks"]:
        assert b["plan"]["source"] == "computed" and b["plan"]["tokens_per_second"] > 50


def test_a_missing_model_fails_naming_what_is_installed(standin: Callable[..., StandinServer]) -> None:
    server = standin()
    with pytest.raises(ModuleFailure, match=r"llama3.1:8b not installed on local \(installed: deepseek-r1:7b\)"):
        bench(server, context(), model="llama3.1:8b")


def test_under_check_nothing_is_generated(standin: Callable[..., StandinServer]) -> None:
    server = standin()
    ctx = context({"deployer_models": PLANNED}, check=True)
    result = bench(server, ctx, model="deepseek-r1")
    assert result["msg"].startswith("would benchmark deepseek-r1:7b: 3 runs x 32 tokens")
    assert result["benchmarks"][0]["status"] == "would_run"
    assert server.api("GET", "/api/ps")[1]["models"] == [], "--check loaded the model"
    with pytest.raises(ModuleFailure, match="not installed"):
        bench(server, context(check=True), model="llama3.1:8b")
    pending = bench(server, context(check=True, pending=True), model="llama3.1:8b")
    assert pending["benchmarks"][0]["status"] == "would_run"


def test_no_server_fails_unless_earlier_changes_would_install_it(standin: Callable[..., StandinServer]) -> None:
    server = standin()
    port = server.port
    server.stop()
    args = LlmBenchmarkArgs(endpoint=f"127.0.0.1:{port}", model="deepseek-r1:7b")
    with pytest.raises(ModuleFailure, match=f"Ollama does not answer at 127.0.0.1:{port} on local"):
        execute(LlmBenchmark(), context(), args)
    with pytest.raises(ModuleFailure, match="does not answer"):
        execute(LlmBenchmark(), context(check=True), args)
    ctx = context(check=True, pending=True)
    assert execute(LlmBenchmark(), ctx, args) is None
    assert "Ollama is not answering" in ctx.result["msg"]


def test_the_endpoint_comes_from_the_models_task_when_not_given(standin: Callable[..., StandinServer]) -> None:
    server = standin(FAKE_OLLAMA_TOKENS_PER_SECOND="300")
    planned = {"deepseek-r1": {**PLANNED["deepseek-r1"], "endpoint": f"0.0.0.0:{server.port}"}}
    ctx = context({"deployer_models": planned})
    args = LlmBenchmarkArgs(runs=1, num_predict=8, min_tokens_per_second=None)  # no model, no endpoint
    assert execute(LlmBenchmark(), ctx, args) is None
    assert [b["model"] for b in ctx.result["benchmarks"]] == ["deepseek-r1:7b"]
