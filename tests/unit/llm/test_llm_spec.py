"""--hardware SPEC: parsing, the facts it builds, and its errors."""

from __future__ import annotations

import pytest

from deployer.errors import InputError
from deployer.llm.hardware import GIB
from deployer.llm.spec import parse_hardware_spec


def test_a_single_gpu():
    facts = parse_hardware_spec("gpu=RTX 4090")
    assert facts.source == "spec"
    assert [(g.index, g.name, g.vendor) for g in facts.gpus] == [(0, "RTX 4090", "nvidia")]
    assert facts.gpus[0].memory_total_bytes == 24 * GIB
    assert facts.gpus[0].bandwidth_gbs == 1008
    assert facts.memory.total_bytes is None


def test_counted_gpus_and_ram():
    facts = parse_hardware_spec("gpu=2xA100 80GB,ram=512", hostname="dgx")
    assert facts.hostname == "dgx"
    assert [g.name for g in facts.gpus] == ["A100 SXM 80GB", "A100 SXM 80GB"]
    assert [g.index for g in facts.gpus] == [0, 1]
    assert facts.memory.total_bytes == facts.memory.available_bytes == 512 * GIB


def test_a_name_that_starts_like_a_count_is_a_name():
    facts = parse_hardware_spec("gpu=7900 XTX")
    assert [g.name for g in facts.gpus] == ["Radeon RX 7900 XTX"]
    assert len(parse_hardware_spec("gpu=2x 7900 XTX").gpus) == 2


def test_repeated_gpu_keys_and_a_vram_override():
    facts = parse_hardware_spec("gpu=RTX 3090, gpu=1x RTX 4090, vram=20")
    assert [g.name for g in facts.gpus] == ["RTX 3090", "RTX 4090"]
    assert all(g.memory_total_bytes == 20 * GIB for g in facts.gpus)
    assert parse_hardware_spec("gpu=A100,vram=40").gpus[0].name in ("A100 SXM 40GB", "A100 PCIe 40GB")


def test_cpu_sockets_and_memory():
    facts = parse_hardware_spec("cpu=Xeon Silver 4214,sockets=2,memory=DDR4-2400x6,ram=32")
    assert facts.cpu.model == "Xeon Silver 4214" and facts.cpu.sockets == 2
    assert (facts.memory.dimm_type, facts.memory.dimm_speed_mts, facts.memory.dimm_count) == ("DDR4", 2400, 12)
    assert facts.bandwidth.cpu_source == "dmidecode"
    assert facts.bandwidth.cpu_gbs == pytest.approx(230.4)


def test_cpu_alone_uses_the_table_and_bandwidth_overrides():
    assert parse_hardware_spec("cpu=EPYC 7742").bandwidth.cpu_gbs == pytest.approx(204.8)
    facts = parse_hardware_spec("cpu=EPYC 7742,bandwidth=150")
    assert facts.bandwidth.cpu_gbs == 150 and facts.bandwidth.cpu_source == "spec"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty hardware spec"),
        ("gpu", "'gpu' is not KEY=VALUE"),
        ("gpus=RTX 4090", "unknown key 'gpus' (did you mean 'gpu'?)"),
        ("gpu=RTX 4909", "unknown GPU 'RTX 4909' (did you mean 'RTX 4090'"),
        ("gpu=A100", "GPU 'A100' is ambiguous: 'A100 SXM 40GB'"),
        ("gpu=0xRTX 4090", "the count must be at least 1"),
        ("cpu=Xeon Silver 4215X", "unknown CPU 'Xeon Silver 4215X' (did you mean 'Xeon Silver 4210'"),
        ("cpu=Xeon Gold 6248,cpu=EPYC 7742", "'cpu' given twice"),
        ("ram=lots", "ram='lots' is not a number"),
        ("ram=-4", "ram='-4' must be more than 0"),
        ("sockets=1.5", "sockets='1.5' is not a whole number"),
        ("memory=DDR4", "memory='DDR4': expected TYPE-SPEEDxCHANNELS (e.g. memory=DDR4-2400x6)"),
        ("vram=24", "vram= given without gpu="),
    ],
)
def test_errors_name_the_key_the_value_and_the_fix(spec, message):
    with pytest.raises(InputError) as err:
        parse_hardware_spec(spec)
    assert str(err.value).startswith("--hardware: ")
    assert message in str(err.value)
