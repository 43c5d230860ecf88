"""Which tag a host gets: sizing per host's facts, reasons, failures, and what later tasks learn."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import InputError, ModuleFailure
from deployer.facts.model import HostFacts
from deployer.llm.catalog import load_catalog
from deployer.llm.spec import parse_hardware_spec
from deployer.modules.base import FactsProvider, TaskContext, execute
from deployer.modules.ollama_model import OllamaModel
from deployer.ollama.models import OllamaModelArgs, api_address, resolve

BIG = "gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=128"
SMALL = "cpu=Xeon Silver 4214,ram=8"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _facts(spec: str, host: str = "node1") -> HostFacts:
    return parse_hardware_spec(spec, hostname=host)


def _resolve(catalog, spec: str, **args):
    return resolve(OllamaModelArgs(**args), lambda: _facts(spec), catalog)


def test_auto_picks_per_host_and_says_why(catalog) -> None:
    big = _resolve(catalog, BIG, name="deepseek-r1", max_size="32b")
    small = _resolve(catalog, SMALL, name="deepseek-r1", max_size="32b")
    assert big.name.short == "deepseek-r1:32b" and big.decision.placement == "gpu"
    assert big.reason.startswith("RTX 4090 24 GiB: deepseek-r1:32b needs ")
    assert small.name.short == "deepseek-r1:8b" and small.decision.placement == "cpu"
    assert big.size_bytes == 19851337809 and big.size_text == " (20 GB)"
    assert big.report()["model"] == "deepseek-r1:32b" and big.report()["predicted_tokens_per_second"] > 10


def test_a_host_where_nothing_fits_fails_with_the_reason(catalog) -> None:
    with pytest.raises(ModuleFailure) as exc:
        _resolve(catalog, "cpu=Xeon Silver 4214,ram=2", name="deepseek-r1", min_size="7b")
    assert str(exc.value).startswith("no deepseek-r1 fits: nothing fits (placement cpu)")
    with pytest.raises(ModuleFailure, match="no deepseek-r1:70b fits"):
        _resolve(catalog, SMALL, name="deepseek-r1:70b")


def test_precision_pulls_the_quantized_tag(catalog) -> None:
    t = _resolve(catalog, BIG, name="deepseek-r1", size="7b", precision="q8_0")
    assert t.name.short == "deepseek-r1:7b-qwen-distill-q8_0"
    assert t.size_bytes == round(4683075271 * 1.064 / 0.612)


def test_tags_the_catalogue_does_not_know_are_taken_as_named(catalog) -> None:
    t = _resolve(catalog, SMALL, name="deepseek-r1:7b-qwen-distill-q8_0")
    assert t.name.short == "deepseek-r1:7b-qwen-distill-q8_0" and t.decision is None and "not sized" in t.reason
    assert _resolve(catalog, SMALL, name="me/custom", size="v1").name.short == "me/custom:v1"
    with pytest.raises(InputError, match="unknown model 'nosuch'"):
        _resolve(catalog, SMALL, name="nosuch")


def test_imports_and_removals_are_not_sized(catalog) -> None:
    def no_facts() -> HostFacts:
        raise AssertionError("facts were read")

    assert resolve(OllamaModelArgs(name="mine:q4", gguf="m.gguf"), no_facts, catalog).name.short == "mine:q4"
    assert resolve(OllamaModelArgs(name="deepseek-r1", size="7b", state="absent"), no_facts, catalog).name.short == "deepseek-r1:7b"


@pytest.mark.parametrize(("endpoint", "address"), [
    ("127.0.0.1:11434", ("127.0.0.1", 11434)), ("0.0.0.0:11500", ("127.0.0.1", 11500)),
    ("[::1]:11434", ("::1", 11434)), ("http://10.1.2.3:80", ("10.1.2.3", 80)),
])
def test_where_the_api_is_reached_on_the_host(endpoint: str, address: tuple[str, int]) -> None:
    assert api_address(endpoint) == address


def test_planning_from_facts_alone_reports_and_sets_deployer_models(tmp_path: Path) -> None:
    """With preset facts (`deployer run --facts`) check() plans without a connection."""
    ctx = TaskContext(host="big", connection=None, vars={"deployer_models": {"other": {"model": "qwen2.5:7b"}}},
                      check_mode=True, base_dir=tmp_path,
                      facts_provider=FactsProvider(lambda: _facts(SMALL), preset=_facts(BIG, "big")))
    change = execute(OllamaModel(), ctx, OllamaModelArgs(name="deepseek-r1", max_size="32b"))
    assert change is not None
    assert change.summary.startswith("would put deepseek-r1:32b (20 GB): RTX 4090 24 GiB: deepseek-r1:32b needs")
    assert ctx.result["model"] == "deepseek-r1:32b" and ctx.result["placement"] == "gpu"
    models = ctx.new_vars["deployer_models"]
    assert set(models) == {"other", "deepseek-r1"}
    assert models["deepseek-r1"]["model"] == "deepseek-r1:32b" and models["deepseek-r1"]["endpoint"] == "127.0.0.1:11434"
