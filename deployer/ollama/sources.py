"""Which release archives a host gets, checked on the control machine before anything is sent.

- offline: ``source.tarball`` (and ``source.rocm_tarball`` where the facts show
  AMD GPUs), verified against ``source.sha256sums`` when given;
- online: the host downloads upstream's files itself (:mod:`deployer.ollama.download`).

The pre-flight (:func:`preflight`) compares each archive's architecture with the
host's and the host's glibc with what the version needs, from facts alone, so
it also works when planning from a facts file.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from deployer import transfer
from deployer.errors import ModuleFailure
from deployer.facts.model import HostFacts
from deployer.modules.base import TaskContext
from deployer.ollama.config import OllamaSource
from deployer.ollama.release import (
    MACHINE_TO_ARCH,
    expected_digest,
    glibc_problem,
    parse_archive_name,
    read_sha256sums,
    release_file,
)

_decompress_lock = threading.Lock()


@dataclass(frozen=True)
class Bundle:
    """One archive that goes into the install dir."""

    name: str  # the release's file name (recorded in the install marker)
    variant: str  # "" (main bundle), "rocm", ...
    fmt: str
    arch: str | None
    path: Path | None = None  # on the control machine; None when the host downloads it


def source_problem(source: OllamaSource) -> tuple[str, str | None] | None:
    """(message, hint) when `source` does not say where Ollama comes from, exactly once."""
    if source.online and source.tarball:
        return "source: give either tarball (offline) or online: true, not both", None
    if not source.online and not source.tarball:
        return "source: say where Ollama comes from", (
            "tarball: <release archive on this machine> (offline), or online: true (the host downloads it)"
        )
    return None


def has_amd_gpu(facts: HostFacts) -> bool:
    return any(g.vendor == "amd" for g in facts.gpus)


def choose(ctx: TaskContext, source: OllamaSource, version: str, facts: HostFacts) -> list[Bundle]:
    """The archives for this host: the main bundle, plus rocm where AMD GPUs were seen."""
    amd = has_amd_gpu(facts)
    if source.online:
        arch = MACHINE_TO_ARCH.get(facts.arch) or MACHINE_TO_ARCH.get(facts.cpu.machine)
        if arch is None:
            raise ModuleFailure(
                f"cannot tell which Ollama build {ctx.host} needs: its architecture is {facts.cpu.machine!r}",
                hint="Ollama ships amd64 and arm64 builds only",
            )
        variants = ["", "rocm"] if amd else [""]
        return [Bundle(release_file(arch, version, v), v, parse_archive_name(release_file(arch, version, v)).fmt, arch) for v in variants]
    assert source.tarball is not None  # the Args validator requires tarball or online
    paths = [source.tarball] + ([source.rocm_tarball] if amd and source.rocm_tarball else [])
    out = []
    for i, text in enumerate(paths):
        path = ctx.local_path(text)
        name = parse_archive_name(path.name)
        variant = name.variant or ("rocm" if i else "")
        out.append(Bundle(path.name, variant, name.fmt, name.arch, path))
    return out


def preflight(ctx: TaskContext, bundles: list[Bundle], version: str, facts: HostFacts) -> None:
    """Fail when the host cannot run these archives (architecture, glibc); warn when it cannot tell."""
    host_arch = MACHINE_TO_ARCH.get(facts.arch) or MACHINE_TO_ARCH.get(facts.cpu.machine)
    if host_arch is None and facts.cpu.machine != "unknown":
        raise ModuleFailure(
            f"{ctx.host} is {facts.cpu.machine}: Ollama ships amd64 and arm64 builds only",
        )
    for b in bundles:
        if host_arch is None:
            ctx.warn(f"cannot check that {b.name} fits {ctx.host}: its architecture is unknown (facts: {'; '.join(facts.notes) or 'none'})")
        elif b.arch is None:
            ctx.warn(f"cannot tell the architecture of {b.name} from its name; {ctx.host} needs an {host_arch} build")
        elif b.arch != host_arch:
            raise ModuleFailure(
                f"{b.name} is an {b.arch} build, but {ctx.host} is {host_arch} ({facts.cpu.machine}): nothing was sent",
                hint="name the archive with {{ deployer_facts.arch }}, e.g. ollama-linux-{{ deployer_facts.arch }}.tgz, "
                "and stage one per architecture",
            )
    problem = glibc_problem(version, facts.os.glibc)
    if problem:
        raise ModuleFailure(
            f"{problem}: nothing was sent",
            hint="use an Ollama older than 0.5.13 on this host, or a newer OS (a container does not help without a newer glibc)",
        )
    if facts.os.glibc is None:
        musl = any("musl" in n for n in facts.notes)
        if musl:
            raise ModuleFailure(f"{ctx.host} uses musl, not glibc: official Ollama builds do not run there")
        ctx.warn(f"glibc version of {ctx.host} unknown: cannot check that Ollama {version} runs there")


def local_artifacts(ctx: TaskContext, source: OllamaSource, bundles: list[Bundle]) -> list[transfer.LocalArtifact]:
    """Size and sha256 of each local archive, verified against sha256sums when given."""
    sums = None
    sums_path = None
    if source.sha256sums:
        sums_path = ctx.local_path(source.sha256sums)
        sums = read_sha256sums(sums_path)
    arts = []
    for b in bundles:
        assert b.path is not None
        expected = expected_digest(sums, b.name, str(sums_path)) if sums is not None else None
        arts.append(transfer.local_artifact(b.path, expected))
    return arts


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "deployer" / "ollama"


def decompressed_tar(art: transfer.LocalArtifact) -> transfer.LocalArtifact:
    """The .tar inside a .tar.zst, cached on the control machine by the archive's digest.

    For hosts without zstd: they get the plain .tar (bigger, but any tar reads it).
    """
    import zstandard  # a runtime dependency only for hosts without zstd

    target = _cache_dir() / f"{art.sha256}.tar"
    with _decompress_lock:
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            with open(art.path, "rb") as src, open(tmp, "wb") as dst:
                zstandard.ZstdDecompressor().copy_stream(src, dst)
            os.replace(tmp, target)
    return transfer.local_artifact(target)
