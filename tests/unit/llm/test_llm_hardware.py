"""GPU/CPU name matching against what drivers and lscpu print, and bandwidth enrichment."""

from __future__ import annotations

import pytest

from deployer.facts.model import GPU, Bandwidth, CPUInfo, HostFacts, MemoryInfo
from deployer.llm.hardware import GIB, enrich, match_cpu, match_gpu

MIB = 1024**2


@pytest.mark.parametrize(
    "name, memory_mib, expected, bandwidth",
    [
        ("NVIDIA A100-SXM4-80GB", 81920, "A100 SXM 80GB", 2039),
        ("NVIDIA A100-PCIE-40GB", 40960, "A100 PCIe 40GB", 1555),
        ("NVIDIA A100 80GB PCIe", 81920, "A100 PCIe 80GB", 1935),
        ("NVIDIA A100-SXM4-40GB", 40960, "A100 SXM 40GB", 1555),
        ("Tesla V100-SXM2-32GB", 32768, "Tesla V100 32GB", 900),
        ("Tesla V100-PCIE-16GB", 16160, "Tesla V100 16GB", 900),
        ("Tesla V100S-PCIE-32GB", 32768, "Tesla V100S 32GB", 1134),
        ("Tesla T4", 15360, "Tesla T4", 320),
        ("NVIDIA GeForce RTX 4090", 24564, "RTX 4090", 1008),
        ("NVIDIA GeForce RTX 3090", 24576, "RTX 3090", 936),
        ("NVIDIA GeForce RTX 3080 Ti", 12288, "RTX 3080 Ti", 912),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", 16376, "RTX 4090 Laptop", 576),
        ("NVIDIA H100 80GB HBM3", 81559, "H100 SXM", 3350),
        ("NVIDIA H100 PCIe", 81559, "H100 PCIe", 2000),
        ("NVIDIA H200", 143771, "H200", 4800),
        ("NVIDIA L40S", 46068, "L40S", 864),
        ("NVIDIA L4", 23034, "L4", 300),
        ("NVIDIA A10", 23028, "A10", 600),
        ("NVIDIA RTX A6000", 49140, "RTX A6000", 768),
        ("NVIDIA RTX A5000", 24564, "RTX A5000", 768),
        ("NVIDIA RTX 4500 Ada Generation", 24570, "RTX 4500 Ada", 432),
        ("NVIDIA RTX 6000 Ada Generation", 49140, "RTX 6000 Ada", 960),
        ("NVIDIA RTX 4000 Ada Generation Laptop GPU", 12282, "RTX 4000 Ada Laptop", 384),
        ("NVIDIA GeForce GTX 1660 SUPER", 6144, "GTX 1660 SUPER", 336),
        ("Quadro RTX 8000", 48600, "Quadro RTX 8000", 672),
        ("AMD Instinct MI300X", 196592, "Instinct MI300X", 5300),
        ("AMD Instinct MI250X/MI250", 65520, "Instinct MI250X", 1638),
        ("AMD GPU [1002:740f]", 65520, "Instinct MI210", 1638),
        ("Radeon RX 7900 XTX", 24560, "Radeon RX 7900 XTX", 960),
    ],
)
def test_driver_names_match_the_right_card(name, memory_mib, expected, bandwidth):
    found = match_gpu(name, memory_mib * MIB).entry
    assert found is not None and found.name == expected
    assert found.bandwidth_gbs == bandwidth


def test_probed_memory_tells_variants_apart():
    assert match_gpu("NVIDIA GeForce RTX 3060", 8 * GIB).entry.name == "RTX 3060 8GB"
    assert match_gpu("NVIDIA GeForce RTX 3060", 12 * GIB).entry.name == "RTX 3060 12GB"
    assert match_gpu("NVIDIA GeForce RTX 3060").entry.name == "RTX 3060 12GB"  # the default variant
    assert match_gpu("Tesla V100", 32 * GIB).entry.name == "Tesla V100 32GB"


def test_a_bare_name_of_cards_with_different_memory_is_ambiguous():
    found = match_gpu("A100")
    assert found.ambiguous
    assert {e.name for e in found.tied} >= {"A100 SXM 40GB", "A100 SXM 80GB"}
    assert not match_gpu("A100 80GB").ambiguous


def test_unknown_cards_do_not_match():
    assert match_gpu("NVIDIA GB10").entry is None
    assert match_gpu("Orin (nvgpu)").entry is None


@pytest.mark.parametrize(
    "model, expected",
    [
        ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", "Xeon Silver 4214"),
        ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Xeon Gold 6248"),
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Xeon Gold 6248R"),
        ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "Xeon Gold 6338"),
        ("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", "Xeon Platinum 8380"),
        ("Intel(R) Xeon(R) Platinum 8358 CPU @ 2.60GHz", "Xeon Platinum 8358"),
        ("Intel(R) Xeon(R) Platinum 8480+", "Xeon Platinum 8480+"),
        ("Intel(R) Xeon(R) Gold 6230N CPU @ 2.30GHz", "Xeon Gold 6230N"),
        ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Xeon E5-2680 v4"),
        ("Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz", "Xeon E5-2680 v2"),
        ("AMD EPYC 7742 64-Core Processor", "EPYC 7742"),
        ("AMD EPYC 7763 64-Core Processor", "EPYC 7763"),
        ("AMD EPYC 9654 96-Core Processor", "EPYC 9654"),
        ("AMD Ryzen Threadripper PRO 5995WX 64-Cores", "Ryzen Threadripper PRO 5995WX"),
        ("AMD Ryzen Threadripper 3990X 64-Core Processor", "Ryzen Threadripper 3990X"),
        ("13th Gen Intel(R) Core(TM) i9-13900K", "Core i9-13900K"),
        ("AMD Ryzen 9 7900X 12-Core Processor", "Ryzen 9 7900X"),
        ("AMD Ryzen 9 7900 12-Core Processor", "Ryzen 9 7900"),
        ("AMD Ryzen 7 3700X 8-Core Processor", "Ryzen 7 3700X"),
    ],
)
def test_lscpu_strings_match_the_right_cpu(model, expected):
    found = match_cpu(model)
    assert found is not None and found.name == expected


def test_cpu_table_numbers():
    silver = match_cpu("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz")
    assert (silver.channels, silver.ddr, silver.mts) == (6, "DDR4", 2400)
    assert silver.peak_gbs() == pytest.approx(115.2)
    gold = match_cpu("Xeon Gold 6248")
    assert gold.peak_gbs(2) == pytest.approx(6 * 8 * 2933 * 2 / 1000)  # 6ch DDR4-2933 ~ 141 GB/s per socket


def test_unknown_cpus_do_not_match():
    assert match_cpu("Intel(R) Xeon(R) Processor") is None  # a VM hiding the model
    assert match_cpu("Cortex-A78AE") is None
    assert match_cpu("Intel(R) Xeon(R) Gold 9999 CPU") is None


def _host(model: str, sockets: int = 1, **memory) -> HostFacts:
    return HostFacts(hostname="h", cpu=CPUInfo(model=model, sockets=sockets), memory=MemoryInfo(**memory))


def test_enrich_uses_dmidecode_dimms_capped_by_the_cpu_channels():
    facts = _host("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 2, dimm_type="DDR4", dimm_speed_mts=2400,
                  dimm_count=24)  # 2 DIMMs per channel: still 6 channels per socket
    out = enrich(facts)
    assert out.bandwidth.cpu_source == "dmidecode"
    assert out.bandwidth.cpu_gbs == pytest.approx(230.4)
    assert "6ch DDR4-2400 x 2 sockets" in out.bandwidth.cpu_detail
    assert facts.bandwidth.cpu_gbs is None  # input unchanged


def test_enrich_with_fewer_dimms_than_channels():
    facts = _host("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 2, dimm_type="DDR4", dimm_speed_mts=2133,
                  dimm_count=4)
    out = enrich(facts)
    assert out.bandwidth.cpu_gbs == pytest.approx(2 * 8 * 2133 * 2 / 1000, abs=0.05)


def test_enrich_falls_back_to_the_cpu_table():
    out = enrich(_host("AMD EPYC 7742 64-Core Processor", 2))
    assert out.bandwidth.cpu_source == "table"
    assert out.bandwidth.cpu_gbs == pytest.approx(409.6)


def test_enrich_without_cpu_or_dimms_says_why():
    out = enrich(_host("Intel(R) Xeon(R) Processor"))
    assert out.bandwidth.cpu_source == "unknown" and out.bandwidth.cpu_gbs is None
    assert any("not in the hardware table" in n for n in out.notes)


def test_enrich_keeps_a_given_bandwidth_and_fills_gpus():
    facts = HostFacts(
        cpu=CPUInfo(model="AMD EPYC 7742 64-Core Processor"),
        bandwidth=Bandwidth(cpu_gbs=150.0, cpu_source="probe", cpu_detail="measured"),
        gpus=[GPU(index=0, vendor="nvidia", name="NVIDIA A100-SXM4-80GB", memory_total_bytes=81920 * MIB),
              GPU(index=1, vendor="nvidia", name="NVIDIA GB10")],
    )
    out = enrich(facts)
    assert out.bandwidth.cpu_gbs == 150.0 and out.bandwidth.cpu_source == "probe"
    assert out.gpus[0].bandwidth_gbs == 2039
    assert out.gpus[1].bandwidth_gbs is None
    assert any("GB10" in n for n in out.notes)
    assert facts.gpus[0].bandwidth_gbs is None
