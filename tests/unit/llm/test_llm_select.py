"""Choosing a tag per host: auto sizing, speed floors, reasons, impossible and bad requests."""

from __future__ import annotations

import json
import re

import pytest

from deployer.errors import InputError
from deployer.facts.model import CPUInfo, HostFacts, MemoryInfo
from deployer.llm.catalog import load_catalog
from deployer.llm.hardware import GIB
from deployer.llm.select import Request, parse_request, recommend, select
from deployer.llm.spec import parse_hardware_spec
from deployer.yamlload import loads


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


RTX4090 = "gpu=RTX 4090,cpu=Ryzen 9 7900X,ram=128"
XEONS = "cpu=Xeon Silver 4214,sockets=2,memory=DDR4-2400x6,ram=192"


def _select(catalog, spec, **request):
    return select(parse_hardware_spec(spec, hostname="node1"), Request(**request), catalog)


def test_the_reason_is_one_line_with_the_numbers(catalog):
    d = _select(catalog, RTX4090, model="deepseek-r1:14b")
    assert d.ok and d.placement == "gpu" and d.model == "deepseek-r1:14b"
    assert re.fullmatch(
        r"RTX 4090 24 GiB: deepseek-r1:14b needs 8\.4 \+ 1\.5 KV \+ \d\.\d = \d+\.\d GiB -> all on GPU, ~\d+ tok/s",
        d.reason,
    ), d.reason
    w, kv, oh, total = map(float, re.findall(r"(\d+\.\d)", d.reason.split("needs")[1])[:4])
    assert w + kv + oh == pytest.approx(total, abs=0.11)
    assert 60 < d.tokens_per_second < 120  # measured: 92.5 tok/s (sizing.md)
    assert d.load_seconds == pytest.approx(8.99, abs=0.01)  # 8.99 GB at the default 1 GB/s


def test_auto_picks_the_largest_that_fits_the_gpu(catalog):
    d = _select(catalog, RTX4090, model="deepseek-r1", placement="gpu")
    assert d.ok and d.model == "deepseek-r1:32b" and d.placement == "gpu"
    assert [c.model for c in d.candidates] == ["deepseek-r1:671b", "deepseek-r1:70b", "deepseek-r1:32b"]
    assert not d.candidates[0].ok and "does not fit" in d.candidates[1].reason


def test_auto_respects_max_and_min_size(catalog):
    assert _select(catalog, RTX4090, model="deepseek-r1", max_size="14b").model == "deepseek-r1:14b"
    assert _select(catalog, RTX4090, model="deepseek-r1", max_size="10b").model == "deepseek-r1:8b"
    d = _select(catalog, "gpu=RTX 3060 8GB,ram=16", model="deepseek-r1", min_size="14b", placement="gpu")
    assert not d.ok and "nothing fits" in d.reason
    assert {c.model for c in d.candidates} == {"deepseek-r1:671b", "deepseek-r1:70b", "deepseek-r1:32b",
                                               "deepseek-r1:14b"}


def test_min_tokens_per_second_rejects_slow_larger_tags(catalog):
    spill = _select(catalog, RTX4090, model="deepseek-r1", max_size="70b", placement="gpu_or_spill")
    assert spill.model == "deepseek-r1:70b" and spill.placement == "split"
    assert spill.cpu_share == pytest.approx(0.5, abs=0.06)
    fast = _select(catalog, RTX4090, model="deepseek-r1", max_size="70b", placement="gpu_or_spill",
                   min_tokens_per_second=5)
    assert fast.model == "deepseek-r1:32b" and fast.placement == "gpu"
    rejected = fast.candidates[0]
    assert rejected.model == "deepseek-r1:70b" and rejected.placement == "split"
    assert "too slow" in rejected.reason and "< min_tokens_per_second 5" in rejected.reason
    faster = _select(catalog, RTX4090, model="deepseek-r1", max_size="70b", min_tokens_per_second=60)
    assert faster.model == "deepseek-r1:14b"


def test_cpu_only_dual_xeon(catalog):
    d = _select(catalog, XEONS, model="deepseek-r1", max_size="32b", min_tokens_per_second=2)
    assert d.ok and d.placement == "cpu"
    assert "2x Xeon Silver 4214" in d.reason and "NUMA: 2 sockets" in d.reason
    assert d.tokens_per_second >= 2
    # NUMA: two sockets predict no faster than one socket's bandwidth at full efficiency
    one = _select(catalog, "cpu=Xeon Silver 4214,memory=DDR4-2400x6,ram=192", model=d.model)
    assert d.tokens_per_second == pytest.approx(one.tokens_per_second, rel=0.01)


def test_placement_defaults_to_gpu_on_gpu_hosts_and_cpu_elsewhere(catalog):
    assert _select(catalog, RTX4090, model="deepseek-r1", max_size="70b").placement == "gpu"
    assert _select(catalog, XEONS, model="deepseek-r1", max_size="70b").placement == "cpu"


def test_placement_gpu_on_a_host_without_gpu_is_a_failed_decision(catalog):
    d = _select(catalog, XEONS, model="deepseek-r1:7b", placement="gpu")
    assert not d.ok and d.placement == "none"
    assert "no GPU" in d.reason and "placement gpu" in d.reason


def test_nothing_fits_is_a_failed_decision_not_an_exception(catalog):
    d = _select(catalog, "gpu=RTX 4090,ram=16", model="deepseek-r1:70b", placement="gpu")
    assert not d.ok and d.memory["shortfall_gib"] > 15
    assert re.search(r"does not fit \(RTX 4090 offers \d+\.\d GiB after overheads; short by \d+\.\d GiB", d.reason)
    assert d.tokens_per_second is None and d.load_seconds is None


def test_unknown_speed_cannot_satisfy_a_speed_floor():
    host = HostFacts(hostname="vm", cpu=CPUInfo(model="Intel(R) Xeon(R) Processor"),
                     memory=MemoryInfo(total_bytes=64 * GIB, available_bytes=60 * GIB))
    d = select(host, Request(model="qwen2.5:7b", min_tokens_per_second=3), load_catalog())
    assert not d.ok and "cannot check min_tokens_per_second 3" in d.reason
    ok = select(host, Request(model="qwen2.5:7b"), load_catalog())
    assert ok.ok and ok.tokens_per_second is None and "tok/s unknown" in ok.reason


def test_precision_policies_change_the_weights(catalog):
    tag = _select(catalog, RTX4090, model="deepseek-r1:7b")
    q8 = _select(catalog, RTX4090, model="deepseek-r1:7b", precision="q8_0")
    rule = _select(catalog, RTX4090, model="deepseek-r1:7b", precision="rule_2bpp")
    assert tag.memory["weights_gib"] < q8.memory["weights_gib"] < rule.memory["weights_gib"]
    assert q8.pull == "deepseek-r1:7b-qwen-distill-q8_0" and q8.quantization == "Q8_0"
    assert rule.memory["weights_gib"] == pytest.approx(7.62 * 2e9 / GIB, abs=0.01)
    assert tag.tokens_per_second > q8.tokens_per_second > rule.tokens_per_second


def test_moe_reads_only_the_active_experts(catalog):
    moe = _select(catalog, "gpu=A100 80GB", model="qwen3:30b")
    dense = _select(catalog, "gpu=A100 80GB", model="qwen3:32b")
    assert moe.memory["weights_gib"] == pytest.approx(dense.memory["weights_gib"], rel=0.1)
    assert moe.tokens_per_second > 3 * dense.tokens_per_second


def test_context_above_the_models_maximum_is_a_bad_request(catalog):
    with pytest.raises(InputError, match=r"context 65536 is more than qwen3:8b supports \(40960\)"):
        _select(catalog, RTX4090, model="qwen3:8b", context=65536)
    with pytest.raises(InputError, match="more than any gemma2 tag supports"):
        _select(catalog, RTX4090, model="gemma2", context=16384)


def test_unknown_models_and_tags_are_bad_requests(catalog):
    with pytest.raises(InputError, match="unknown model 'deepsek-r1'.*did you mean 'deepseek-r1'"):
        _select(catalog, RTX4090, model="deepsek-r1")
    with pytest.raises(InputError, match="unknown tag 'deepseek-r1:13b'"):
        _select(catalog, RTX4090, model="deepseek-r1", size="13b")
    with pytest.raises(InputError, match="names a tag and size is '7b'"):
        _select(catalog, RTX4090, model="deepseek-r1:14b", size="7b")


def test_request_validation_points_at_the_yaml():
    data = loads("model: deepseek-r1\nmax_sise: 32b\n", "play.yml")
    with pytest.raises(InputError, match=r"play\.yml:2:1: model request max_sise: .*did you mean 'max_size'"):
        parse_request(data)
    data = loads("model: deepseek-r1\nmax_size: huge\n", "play.yml")
    with pytest.raises(InputError, match=r"play\.yml:2:1: .*'huge' is not a size like '32b'"):
        parse_request(data)
    with pytest.raises(InputError, match="min_size 70b is larger than max_size 7b"):
        parse_request({"model": "x", "min_size": "70b", "max_size": "7b"})
    with pytest.raises(InputError, match="unknown quantization"):
        parse_request({"model": "x", "precision": "q9"})


def test_recommend_answers_every_host_and_to_json_is_plain_data(catalog):
    hosts = [parse_hardware_spec(RTX4090, "gpu1"), parse_hardware_spec(XEONS, "cpu1"),
             parse_hardware_spec("gpu=RTX 3060 8GB,ram=8", "small")]
    decisions = recommend(hosts, [{"model": "deepseek-r1", "max_size": "32b", "placement": "gpu"}], catalog)
    assert [(d.host, d.ok) for d in decisions] == [("gpu1", True), ("cpu1", False), ("small", True)]
    out = json.loads(json.dumps([d.to_json() for d in decisions]))
    for key in ("host", "model", "placement", "memory_gib", "tokens_per_second", "reason"):
        assert key in out[0]
    assert out[0]["model"] == "deepseek-r1:32b" and out[0]["memory_gib"] == pytest.approx(21.6, abs=0.3)
    assert out[1]["placement"] == "none" and out[1]["tokens_per_second"] is None
    assert out[2]["model"] in ("deepseek-r1:7b", "deepseek-r1:1.5b", "deepseek-r1:8b")


def test_recommend_rejects_a_bad_request_before_any_host(catalog):
    with pytest.raises(InputError, match="unknown model"):
        recommend([parse_hardware_spec(RTX4090)], [{"model": "deepseek-r1"}, {"model": "nope"}], catalog)
