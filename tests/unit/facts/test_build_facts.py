"""split_sections + build_facts on whole probe outputs: complete, cut off, failing."""

from __future__ import annotations

from deployer.facts.parse import SectionText, build_facts, split_sections

from tests.unit.facts.facts_fixture_files import read_fixture

MIB = 1024 * 1024


def full_blob() -> str:
    return read_fixture("probe/this-machine-full.txt")


def test_split_sections_of_a_complete_run():
    sections = split_sections(full_blob())
    assert list(sections) == [
        "host", "os-release", "lscpu", "cpuinfo", "numa", "meminfo", "cgroup", "dmidecode", "nvidia",
        "nvidia-header", "rocm", "rocm-version", "drm", "disks", "glibc", "systemd", "docker", "ollama",
        "sudo", "env", "done",
    ]  # fmt: skip
    assert all(isinstance(t, SectionText) and t.rc == 0 for t in sections.values())
    assert sections["os-release"].startswith('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"')
    assert sections["nvidia"] == ""


def test_build_facts_on_the_full_capture():
    facts = build_facts(split_sections(full_blob()))
    assert (facts.hostname, facts.arch, facts.user, facts.is_root, facts.home) == ("vm", "amd64", "root", True, "/root")
    assert (facts.cpu.model, facts.cpu.machine, facts.cpu.sockets, facts.cpu.cores, facts.cpu.threads) == (
        "Intel(R) Xeon(R) Processor", "x86_64", 1, 2, 2,
    )  # fmt: skip
    assert facts.cpu.usable_threads == 2
    assert [(n.id, n.cpus, n.memory_bytes) for n in facts.cpu.numa_nodes] == [(0, "0-1", 4942028 * 1024)]
    assert "amx_int8" in facts.cpu.flags
    assert facts.memory.total_bytes == 24684084 * 1024
    assert facts.memory.cgroup_limit_bytes == 768 * MIB
    assert facts.memory.usable_bytes == 768 * MIB
    assert facts.memory.cgroup_cpus is None
    assert (facts.os.id, facts.os.version_id, facts.os.glibc, facts.os.systemd) == ("debian", "12", "2.36", False)
    assert facts.os.kernel == "6.18.44-fc-v669"
    assert [d.path for d in facts.disks] == ["/srv/ollama/models", "/work", "/root", "/tmp"]
    assert facts.disk_for("/srv/ollama/models/blobs").mount == "/"
    assert facts.gpus == []
    assert (facts.software.docker_version, facts.software.docker_usable, facts.software.sudo) == ("28.2.2", False, True)
    assert facts.software.ollama_path is None
    assert facts.env == {
        "HTTPS_PROXY": "http://alice:***@proxy.lab.example:3128",
        "no_proxy": "localhost,127.0.0.1",
        "ROCR_VISIBLE_DEVICES": "0",
        "SLURM_CPUS_ON_NODE": "2",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "SLURM_JOB_ID": "4242",
    }
    assert "s3cret" not in facts.model_dump_json()
    assert not any("ended early" in n or "cut off" in n for n in facts.notes)
    assert any(n.startswith("docker is installed but `docker info` fails") for n in facts.notes)
    assert any(n.startswith("memory DIMM type and speed unknown") for n in facts.notes)


def test_probe_cut_off_in_the_middle_of_a_section():
    blob = full_blob()
    cut = blob.index("SwapCached:")  # inside meminfo
    sections = split_sections(blob[:cut])
    assert sections["meminfo"].rc is None and "done" not in sections
    facts = build_facts(sections)
    assert facts.hostname == "vm" and facts.os.id == "debian" and facts.cpu.threads == 2
    assert facts.memory.total_bytes == 24684084 * 1024  # MemTotal arrived before the cut
    assert facts.memory.swap_total_bytes is None and facts.memory.cgroup_limit_bytes is None
    assert facts.disks == [] and facts.os.glibc is None
    assert "section meminfo was cut off: its facts may be incomplete" in facts.notes
    assert "the probe's output ended early (after section meminfo): later facts are missing" in facts.notes


def test_probe_cut_off_between_sections_and_before_anything():
    blob = full_blob()
    facts = build_facts(split_sections(blob[: blob.index("@@deployer-facts:begin:disks@@")]))
    assert facts.disks == [] and facts.cpu.model == "Intel(R) Xeon(R) Processor"
    assert facts.notes[-1] == "the probe's output ended early (after section drm): later facts are missing"
    empty = build_facts(split_sections(""))
    assert empty.hostname == "unknown"
    assert empty.notes == ["the probe's output ended early (before any section): later facts are missing"]


def _with(blob: str, name: str, text: str, rc: int = 0) -> str:
    """`blob` with section `name` replaced by `text` ending with status `rc`."""
    start = blob.index(f"@@deployer-facts:begin:{name}@@")
    end = blob.index(f"@@deployer-facts:end:{name}:0@@")
    return f"{blob[:start]}@@deployer-facts:begin:{name}@@\n{text}\n@@deployer-facts:end:{name}:{rc}@@{blob[end + len(f'@@deployer-facts:end:{name}:0@@'):]}"


def test_eight_gpu_box_with_cuda_version():
    blob = _with(full_blob(), "nvidia", read_fixture("nvidia/query-8x-a100-sxm4-80gb-units.csv"))
    blob = _with(blob, "nvidia-header", read_fixture("nvidia/header-a800-535.txt").splitlines()[2])
    facts = build_facts(split_sections(blob))
    assert len(facts.gpus) == 8 and facts.vram_total_bytes == 8 * 81920 * MIB
    assert (facts.software.cuda_version, facts.software.nvidia_driver) == ("12.2", "535.86.10")


def test_mixed_vendors_are_all_listed():
    blob = _with(full_blob(), "nvidia", read_fixture("nvidia/query-2gpu-rtx-a5000-rtx-4500-ada.csv"))
    blob = _with(blob, "rocm", read_fixture("rocm/rx-7900xt-showproductname-showuse-meminfo.json"))
    blob = _with(blob, "rocm-version", "6.2.4-120")
    facts = build_facts(split_sections(blob))
    assert [(g.vendor, g.index) for g in facts.gpus] == [("amd", 0), ("nvidia", 0), ("nvidia", 1)]
    assert (facts.software.nvidia_driver, facts.software.rocm_version) == ("610.57.04", "6.2.4-120")


def test_failing_gpu_tool_is_a_note_not_an_error():
    blob = _with(full_blob(), "nvidia", read_fixture("nvidia/driver-failed.txt"), rc=9)
    blob = _with(blob, "drm", "card=0 vendor=0x10de device=0x20b2")
    facts = build_facts(split_sections(blob))
    assert facts.gpus == []
    assert "nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. " \
        "Make sure that the latest NVIDIA driver is installed and running." in facts.notes
    assert "an NVIDIA GPU is present but nvidia-smi is missing or failed: is the NVIDIA driver installed?" in facts.notes


def test_amd_gpu_from_sysfs_when_rocm_smi_is_missing():
    blob = _with(full_blob(), "drm", "card=1 vendor=0x1002 device=0x744c vram_total=21458059264 vram_used=27856896")
    facts = build_facts(split_sections(blob))
    assert [(g.vendor, g.name, g.memory_total_bytes) for g in facts.gpus] == [("amd", "AMD GPU [1002:744c]", 21458059264)]
    assert "AMD GPUs read from /sys/class/drm (rocm-smi not found)" in facts.notes


def test_unparseable_section_costs_only_its_own_facts():
    blob = _with(full_blob(), "rocm", '{"card0": {"VRAM Total Memory (B)": ')
    facts = build_facts(split_sections(blob))
    assert facts.gpus == [] and facts.os.glibc == "2.36" and facts.memory.cgroup_limit_bytes == 768 * MIB
    assert any(n.startswith("section rocm could not be parsed (JSONDecodeError") for n in facts.notes)


def test_dimms_and_ollama_and_systemd_sections():
    blob = _with(full_blob(), "dmidecode", read_fixture("dmidecode/dell-laptop-4slots-2x16g-ddr4.txt"))
    ollama = "path=/usr/local/bin/ollama\nversion=ollama version is 0.31.2\n@list\n" + read_fixture("ollama/list-6-models.txt")
    blob = _with(blob, "ollama", ollama)
    blob = _with(blob, "systemd", "run_systemd=yes\nstate=degraded")
    facts = build_facts(split_sections(blob))
    assert (facts.memory.dimm_type, facts.memory.dimm_speed_mts, facts.memory.dimm_count) == ("DDR4", 2933, 2)
    assert (facts.software.ollama_path, facts.software.ollama_version) == ("/usr/local/bin/ollama", "0.31.2")
    assert facts.software.ollama_models[:2] == ["mistral:latest", "phi3:3.8b"] and len(facts.software.ollama_models) == 6
    assert facts.os.systemd is True
    assert not any("dmidecode" in n for n in facts.notes)


def test_ollama_without_a_running_server():
    ollama = "path=/opt/ollama/bin/ollama\n" + "".join(
        f"version={ln}\n" for ln in read_fixture("ollama/version-no-server.txt").splitlines()
    ) + "@list\nError: could not connect to ollama app, is it running?"
    facts = build_facts(split_sections(_with(full_blob(), "ollama", ollama)))
    assert (facts.software.ollama_version, facts.software.ollama_models) == ("0.5.7", [])
    assert "ollama list: Error: could not connect to ollama app, is it running?" in facts.notes


def test_plain_dict_of_sections_works_too():
    facts = build_facts({"lscpu": read_fixture("lscpu/aarch64-kunpeng920-2socket-4numa.txt"), "done": ""})
    assert (facts.cpu.machine, facts.cpu.cores, facts.arch) == ("aarch64", 128, "arm64")
    assert facts.notes == []


def test_a_section_without_its_end_marker_does_not_swallow_the_next():
    blob = full_blob().replace("\n@@deployer-facts:end:numa:0@@", "", 1)
    sections = split_sections(blob)
    assert sections["numa"].rc is None and sections["numa"] == "0 0-1 4942028"
    assert sections["meminfo"].rc == 0 and sections["meminfo"].startswith("MemTotal:")
    facts = build_facts(sections)
    assert facts.memory.total_bytes == 24684084 * 1024
    assert "section numa was cut off: its facts may be incomplete" in facts.notes
