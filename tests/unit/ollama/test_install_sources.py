"""Choosing and checking release archives on the control machine, before anything is sent (sources)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from deployer.errors import InputError, ModuleFailure
from deployer.facts.model import GPU, CPUInfo, HostFacts, OSInfo
from deployer.modules.base import TaskContext
from deployer.ollama import sources
from deployer.ollama.config import OllamaSource
from tests.fakes.release import build_release, build_release_set, sha256_file


def facts(arch: str = "amd64", machine: str = "x86_64", glibc: str | None = "2.36", gpus: list[GPU] | None = None,
          notes: list[str] | None = None) -> HostFacts:
    return HostFacts(arch=arch, cpu=CPUInfo(machine=machine), os=OSInfo(glibc=glibc), gpus=gpus or [], notes=notes or [])


def ctx(base: Path) -> TaskContext:
    # no connection: the pre-flight must not need the host
    return TaskContext("node1", None, {}, base_dir=base)


def test_main_bundle_and_rocm_only_where_amd_gpus_are(tmp_path: Path) -> None:
    source = OllamaSource(tarball="r/ollama-linux-amd64.tgz", rocm_tarball="r/ollama-linux-amd64-rocm.tgz")
    plain = sources.choose(ctx(tmp_path), source, "0.5.7", facts())
    assert [(b.name, b.variant, b.arch, b.path) for b in plain] == [
        ("ollama-linux-amd64.tgz", "", "amd64", tmp_path / "r" / "ollama-linux-amd64.tgz")
    ]
    amd = facts(gpus=[GPU(index=0, vendor="amd", name="Radeon RX 7900 XTX")])
    assert [b.variant for b in sources.choose(ctx(tmp_path), source, "0.5.7", amd)] == ["", "rocm"]


def test_online_names_follow_the_version_and_arch(tmp_path: Path) -> None:
    source = OllamaSource(online=True)
    got = sources.choose(ctx(tmp_path), source, "0.14.2", facts(arch="arm64", machine="aarch64"))
    assert [(b.name, b.fmt, b.path) for b in got] == [("ollama-linux-arm64.tar.zst", "tar.zst", None)]


def test_arch_mismatch_fails_before_anything_is_sent(tmp_path: Path) -> None:
    bundles = sources.choose(ctx(tmp_path), OllamaSource(tarball="ollama-linux-arm64.tgz"), "0.5.7", facts())
    with pytest.raises(ModuleFailure) as info:
        sources.preflight(ctx(tmp_path), bundles, "0.5.7", facts())
    assert "ollama-linux-arm64.tgz is an arm64 build, but node1 is amd64 (x86_64): nothing was sent" in str(info.value)
    assert "deployer_facts.arch" in str(info.value)


def test_old_glibc_fails_and_names_both_versions(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    bundles = sources.choose(c, OllamaSource(tarball="ollama-linux-amd64.tgz"), "0.6.0", facts(glibc="2.17"))
    with pytest.raises(ModuleFailure, match=r"needs glibc >= 2\.27 .* has glibc 2\.17: nothing was sent"):
        sources.preflight(c, bundles, "0.6.0", facts(glibc="2.17"))
    sources.preflight(c, bundles, "0.5.12", facts(glibc="2.17"))  # before 0.5.13 it ran there
    assert c.warnings == []


def test_unknown_facts_warn_instead_of_failing(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    unknown = facts(arch="unknown", machine="unknown", glibc=None, notes=["the facts probe did not finish"])
    bundles = sources.choose(c, OllamaSource(tarball="ollama-linux-amd64.tgz"), "0.6.0", unknown)
    sources.preflight(c, bundles, "0.6.0", unknown)
    assert any("architecture is unknown" in w for w in c.warnings)
    assert any("glibc version of node1 unknown" in w for w in c.warnings)


def test_other_architectures_and_musl_are_refused(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    with pytest.raises(ModuleFailure, match="node1 is ppc64le: Ollama ships amd64 and arm64 builds only"):
        sources.preflight(c, [], "0.6.0", facts(arch="unknown", machine="ppc64le"))
    musl = facts(glibc=None, notes=["the C library is musl, not glibc: official Ollama builds will not run"])
    with pytest.raises(ModuleFailure, match="uses musl"):
        sources.preflight(c, [], "0.6.0", musl)


def test_archive_checked_against_sha256sums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outdir = build_release_set(tmp_path / "rel", "0.5.7", archs=("amd64", "arm64"))
    c = TaskContext("node1", None, {}, base_dir=outdir)
    good = OllamaSource(tarball="ollama-linux-amd64.tgz", sha256sums="sha256sum.txt")
    bundles = sources.choose(c, good, "0.5.7", facts())
    [art] = sources.local_artifacts(c, good, bundles)
    assert art.sha256 == sha256_file(outdir / "ollama-linux-amd64.tgz")
    # the same name, but another build: both digests are named
    wrong = outdir / "sha256sum.txt"
    arm = sha256_file(outdir / "ollama-linux-arm64.tgz")
    wrong.write_text(f"{arm}  ./ollama-linux-amd64.tgz\n")
    with pytest.raises(InputError) as info:
        sources.local_artifacts(c, good, bundles)
    assert art.sha256 in str(info.value) and arm in str(info.value)


def test_zst_is_decompressed_once_for_hosts_without_zstd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = build_release(tmp_path / "rel", "0.14.2")
    from deployer import transfer

    art = transfer.local_artifact(path)
    tar = sources.decompressed_tar(art)
    assert tar.path == tmp_path / "cache" / "deployer" / "ollama" / f"{art.sha256}.tar"
    with tarfile.open(tar.path) as tf:
        assert "bin/ollama" in tf.getnames()
    mtime = tar.path.stat().st_mtime_ns
    assert sources.decompressed_tar(art).path.stat().st_mtime_ns == mtime  # cached, not redone
