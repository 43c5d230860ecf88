"""GPU parsers on captured nvidia-smi and rocm-smi outputs."""

from __future__ import annotations

from deployer.facts.parse import parse_nvidia_header, parse_nvidia_smi, parse_rocm_smi
from deployer.facts.parse_gpu import amd_gpus_from_drm, parse_drm

from tests.unit.facts.facts_fixture_files import read_fixture

MIB = 1024 * 1024


def test_eight_a100_with_units():
    gpus = parse_nvidia_smi(read_fixture("nvidia/query-8x-a100-sxm4-80gb-units.csv"))
    assert [g.index for g in gpus] == list(range(8))
    assert {g.name for g in gpus} == {"NVIDIA A100-SXM4-80GB"}
    assert all(g.vendor == "nvidia" and g.memory_total_bytes == 81920 * MIB for g in gpus)
    assert [g.memory_used_bytes // MIB for g in gpus] == [66147, 77105, 50803, 57421, 76651, 0, 6313, 6247]
    assert [g.utilization_pct for g in gpus] == [99, 0, 87, 99, 0, 0, 39, 40]
    # not in this query: unknown, not zero
    assert all(g.memory_free_bytes is None and g.uuid is None and g.driver is None for g in gpus)


def test_two_different_gpus_with_uuid_driver_and_an_extra_column():
    a5000, ada = parse_nvidia_smi(read_fixture("nvidia/query-2gpu-rtx-a5000-rtx-4500-ada.csv"))
    assert (a5000.index, a5000.name, a5000.memory_total_bytes) == (0, "NVIDIA RTX A5000", 24564 * MIB)
    assert a5000.uuid == "GPU-30667114-4567-bc4a-029b-3375d117048e"
    assert (ada.index, ada.name, ada.memory_total_bytes) == (1, "NVIDIA RTX 4500 Ada Generation", 24570 * MIB)
    assert {a5000.driver, ada.driver} == {"610.57.04"}


def test_one_gpu_without_index_column():
    (gpu,) = parse_nvidia_smi(read_fixture("nvidia/query-1gpu-rtx-4000-ada-laptop.csv"))
    assert gpu.index == 0
    assert gpu.name == "NVIDIA RTX 4000 Ada Generation Laptop GPU"
    assert (gpu.memory_total_bytes, gpu.driver, gpu.compute_capability) == (12282 * MIB, "595.84", "8.9")


def test_na_in_an_unused_column_does_not_matter():
    (gpu,) = parse_nvidia_smi(read_fixture("nvidia/query-1gpu-gtx-1660-super-mig-na.csv"))
    assert (gpu.name, gpu.memory_total_bytes, gpu.driver) == ("NVIDIA GeForce GTX 1660 SUPER", 6144 * MIB, "591.86")


def test_gpu_reporting_na_memory_gets_none():
    (gb10,) = parse_nvidia_smi(read_fixture("nvidia/query-gb10-memory-na.csv"))
    assert gb10.name == "NVIDIA GB10"
    assert gb10.memory_total_bytes is None and gb10.memory_free_bytes is None


def test_not_supported_values_in_the_probe_query_get_none():
    # the probe's own header with the GB10's answers: every memory field unsupported
    text = (
        "index, name, uuid, memory.total [MiB], memory.free [MiB], memory.used [MiB], driver_version, compute_cap, utilization.gpu [%]\n"
        "0, NVIDIA GB10, GPU-2dee1e25-b3b5-007e-2b55-79f2d0f2ebe5, [N/A], [N/A], [Not Supported], 580.126.09, 12.1, 0\n"
    )
    (gpu,) = parse_nvidia_smi(text)
    assert (gpu.memory_total_bytes, gpu.memory_free_bytes, gpu.memory_used_bytes) == (None, None, None)
    assert (gpu.compute_capability, gpu.utilization_pct, gpu.driver) == ("12.1", 0.0, "580.126.09")


def test_no_gpu_and_failing_driver_give_no_gpus():
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi(read_fixture("nvidia/driver-failed.txt")) == []


def test_headerless_rows_of_another_query_are_refused_not_misread():
    rows = read_fixture("nvidia/query-2gpu-rtx-a5000-rtx-4500-ada.csv").splitlines()[1:]
    assert parse_nvidia_smi("\n".join(rows)) == []


def test_cuda_version_from_banners():
    assert parse_nvidia_header(read_fixture("nvidia/header-a800-535.txt")) == ("535.86.10", "12.2")
    assert parse_nvidia_header(read_fixture("nvidia/header-gb10-580-not-supported.txt")) == ("580.126.09", "13.0")
    assert parse_nvidia_header(read_fixture("nvidia/header-470-a100.txt")) == ("470.141.03", "11.4")
    assert parse_nvidia_header(read_fixture("nvidia/header-jetson-orin-540.txt")) == ("540.4.0", "12.6")
    assert parse_nvidia_header(read_fixture("nvidia/query-q-cuda-not-found.txt")) == (None, None)
    assert parse_nvidia_header(read_fixture("nvidia/driver-failed.txt")) == (None, None)


def test_rocm_smi_json():
    (gpu,) = parse_rocm_smi(read_fixture("rocm/rx-7900xt-showproductname-showuse-meminfo.json"))
    assert (gpu.index, gpu.vendor, gpu.name) == (0, "amd", "Radeon RX 7900 XT")
    assert gpu.memory_total_bytes == 21458059264
    assert gpu.memory_used_bytes == 27856896
    assert gpu.memory_free_bytes == 21458059264 - 27856896


def test_rocm_smi_warning_before_json_and_old_key_spelling():
    text = "WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status\n\n" + read_fixture(
        "rocm/rx-7900xt-showproductname-showuse-meminfo.json"
    ).replace('"Card Series"', '"Card series"')
    assert [g.name for g in parse_rocm_smi(text)] == ["Radeon RX 7900 XT"]
    assert parse_rocm_smi("") == []


def test_drm_sysfs_amd_card():
    # the probe's drm line for the same card rocm-smi describes above
    cards = parse_drm(
        "card=0 vendor=0x1002 device=0x744c vram_total=21458059264 vram_used=27856896\n"
        "card=1 vendor=0x10de device=0x2684\n"
    )
    (amd,) = amd_gpus_from_drm(cards)
    assert (amd.name, amd.memory_total_bytes, amd.memory_free_bytes) == ("AMD GPU [1002:744c]", 21458059264, 21430202368)
    assert cards[1].vendor == "0x10de" and cards[1].vram_total_bytes is None
