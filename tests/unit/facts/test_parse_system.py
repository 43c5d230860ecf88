"""System parsers on captured outputs: os-release, glibc, df, ollama, env."""

from __future__ import annotations

from deployer.facts.parse import parse_df, parse_disks, parse_ldd_version, parse_os_release
from deployer.facts.parse_system import (
    go_arch,
    parse_env,
    parse_ollama_list,
    parse_ollama_version,
    redact_proxy,
    systemd_running,
    version_in,
)

from tests.unit.facts.facts_fixture_files import read_fixture


def test_os_release_rhel7_ubuntu_debian():
    rhel = parse_os_release(read_fixture("os-release/rhel-7.7.txt"))
    assert (rhel["ID"], rhel["ID_LIKE"], rhel["VERSION_ID"]) == ("rhel", "fedora", "7.7")
    assert rhel["PRETTY_NAME"] == "Red Hat Enterprise Linux Server 7.7 (Maipo)"
    assert rhel["REDHAT_BUGZILLA_PRODUCT_VERSION"] == "7.7"  # unquoted value after a blank line
    ubuntu = parse_os_release(read_fixture("os-release/ubuntu-18.04.txt"))
    assert (ubuntu["ID"], ubuntu["VERSION_ID"], ubuntu["ID_LIKE"]) == ("ubuntu", "18.04", "debian")
    debian = parse_os_release(read_fixture("os-release/debian-10.txt"))
    assert (debian["ID"], debian["VERSION_ID"], debian["PRETTY_NAME"]) == ("debian", "10", "Debian GNU/Linux 10 (buster)")
    assert parse_os_release(read_fixture("os-release/debian-12.txt"))["VERSION_CODENAME"] == "bookworm"


def test_glibc_versions():
    assert parse_ldd_version(read_fixture("ldd/glibc-2.17-centos7.txt")) == "2.17"
    assert parse_ldd_version(read_fixture("ldd/glibc-2.36-debian12.txt")) == "2.36"
    assert parse_ldd_version("getconf glibc 2.28\n") == "2.28"
    # Alpine: musl's ldd names no glibc version
    assert parse_ldd_version("musl libc (x86_64)\nVersion 1.2.4\ngetconf getconf: GNU_LIBC_VERSION: unknown variable\n") is None


def test_df_byte_blocks_and_kilobyte_blocks_agree():
    (b1,) = parse_df(read_fixture("df/root-B1.txt"))
    (kb,) = parse_df(read_fixture("df/root-1024-blocks.txt"))
    assert (b1.filesystem, b1.mount) == ("/dev/vda", "/")
    assert b1.total_bytes == 270553174016
    assert kb.total_bytes == b1.total_bytes
    assert abs(kb.free_bytes - b1.free_bytes) < 512 * 1024**2  # captured a moment apart


def test_df_wrapped_device_name_and_mount_with_space():
    text = (
        "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
        "/dev/mapper/vg_scratch-lv_scratch\n"
        "               1073217536 104857600 968359936      10% /scratch/lab data\n"
    )
    (row,) = parse_df(text)
    assert row.filesystem == "/dev/mapper/vg_scratch-lv_scratch"
    assert row.mount == "/scratch/lab data"
    assert row.free_bytes == 968359936 * 1024


def test_disks_section_keeps_the_asked_path_and_falls_back_to_statfs():
    df = read_fixture("df/root-B1.txt")
    text = f"@path\t/srv/ollama/models\t/srv\n{df}@path\t/tmp\t/tmp\n{df}@path\t/tmp\t/tmp\n{df}@path\t/nfs\t/nfs\nstatfs 4096 1000 250\n"
    disks = parse_disks(text)
    assert [d.path for d in disks] == ["/srv/ollama/models", "/tmp", "/nfs"]
    assert (disks[0].mount, disks[0].total_bytes) == ("/", 270553174016)
    assert (disks[2].total_bytes, disks[2].free_bytes, disks[2].mount) == (4096000, 1024000, None)


def test_ollama_version_lines():
    assert parse_ollama_version(read_fixture("ollama/version-server-running.txt")) == "0.31.2"
    assert parse_ollama_version(read_fixture("ollama/version-no-server.txt")) == "0.5.7"
    # the binary found is the client: its version, not the server's
    assert parse_ollama_version(read_fixture("ollama/version-server-and-client-differ.txt")) == "0.4.7"


def test_ollama_list():
    assert parse_ollama_list(read_fixture("ollama/list-6-models.txt")) == [
        "mistral:latest",
        "phi3:3.8b",
        "DeepSeek-R1:7B",
        "nomic-embed-text:latest",
        "mixtral:8x7b",
        "llama3:latest",
    ]
    assert parse_ollama_list("Error: could not connect to ollama app, is it running?\n") is None


def test_arch_names_follow_go():
    assert [go_arch(m) for m in ("x86_64", "aarch64", "armv7l", "ppc64le", "")] == ["amd64", "arm64", "arm", "ppc64le", "unknown"]


def test_systemd_needs_pid1_and_a_usable_state():
    assert systemd_running({"run_systemd": "yes", "state": "running"})
    assert systemd_running({"run_systemd": "yes", "state": "degraded"})
    assert not systemd_running({"run_systemd": "yes", "state": "starting"})
    assert not systemd_running({"state": "offline"})


def test_versions_in_tool_banners():
    assert version_in("Docker version 28.2.2, build e6534b4") == "28.2.2"
    assert version_in("Docker version 20.10.24+dfsg1, build 297e128") == "20.10.24+dfsg1"


def test_proxy_passwords_never_reach_the_facts():
    assert redact_proxy("http://alice:s3cret@proxy.lab.example:3128") == "http://alice:***@proxy.lab.example:3128"
    assert redact_proxy("http://proxy.lab.example:3128") == "http://proxy.lab.example:3128"
    env = parse_env("HTTPS_PROXY=http://alice:s3cret@proxy:3128\nno_proxy=localhost,127.0.0.1\nSLURM_JOB_ID=4242\n")
    assert env == {"HTTPS_PROXY": "http://alice:***@proxy:3128", "no_proxy": "localhost,127.0.0.1", "SLURM_JOB_ID": "4242"}
