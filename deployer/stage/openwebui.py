"""The Open WebUI artefacts: its image as a `docker save` file, or a pip wheelhouse.

docker mode: ``docker image inspect`` (already here?) -> ``docker pull`` when
not (or with refresh) -> ``docker save -o <file>.part`` -> renamed. The
docker CLI of the staging machine is used as it is configured (DOCKER_HOST,
contexts; dockerd's own proxy settings for the pull).

pip mode: ``pip download open-webui[==version]`` for the hosts' platform
(architecture and glibc from their facts, the Python version Open WebUI
supports), binary wheels only, into the wheelhouse; ``--find-links``/
``--index-url`` choose where from.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from deployer import transfer
from deployer.ollama.release import version_tuple
from deployer.openwebui.imagefile import read_archive
from deployer.stage import layout
from deployer.stage.http import StageError
from deployer.stage.manifest import ArtifactsManifest, Entry

#: uname -m -> the wheel platform suffix
WHEEL_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
#: the oldest manylinux baseline still common on PyPI (manylinux2014 = glibc 2.17)
MANYLINUX_MIN = 17
_WHEEL = re.compile(r"^open_webui-(?P<version>[^-]+)-.*\.whl$")


@dataclass(frozen=True)
class PipOptions:
    """Where pip downloads from (default: its own configuration, i.e. PyPI)."""

    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    python_version: str = "3.11"

    def args(self) -> list[str]:
        out: list[str] = []
        if self.index_url:
            out += ["--index-url", self.index_url]
        elif self.find_links:
            out.append("--no-index")  # only the given directories: nothing leaves the machine
        for link in self.find_links:
            out += ["--find-links", link]
        return out


@dataclass
class Docker:
    """The docker CLI of the staging machine, with the environment given."""

    environ: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 3 * 3600

    def run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["docker", *args], env=dict(self.environ), capture_output=True, text=True,
                                  timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise StageError("there is no docker CLI on this machine, which the Open WebUI image is staged with",
                             "install docker here, stage on a machine that has it, or use frontend.open_webui mode: pip") from None
        except subprocess.TimeoutExpired:
            raise StageError(f"docker {' '.join(args)} did not finish within {timeout or self.timeout:g}s") from None

    def usable(self) -> str | None:
        """Why the docker daemon cannot be used from here, or None when it can."""
        res = self.run("version", "--format", "{{.Server.Version}}", timeout=60)
        if res.returncode == 0:
            return None
        return _tail(res.stderr or res.stdout) or f"docker version exited {res.returncode}"

    def image_id(self, ref: str) -> str | None:
        res = self.run("image", "inspect", "--format", "{{.Id}}", ref, timeout=60)
        return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def stage_image(docker: Docker, root: Path, manifest: ArtifactsManifest, ref: str,
                refresh: bool = False) -> tuple[Entry, int | None]:
    """`docker save` the image `ref` into the artefacts directory; (entry, bytes written or None when kept)."""
    entry = manifest.get("open-webui-image", ref, ref.rpartition(":")[2])
    fresh = entry is not None and manifest.problem(entry) is None
    if fresh and not refresh:
        assert entry is not None
        return entry, None
    why = docker.usable()
    if why is not None:
        raise StageError(f"docker is not usable on this machine: {why}",
                         f"start dockerd or fix DOCKER_HOST; or on a machine with docker: docker pull {ref} && "
                         f"docker save -o {layout.image_file(root, ref)} {ref}; or use mode: pip")
    image_id = None if refresh else docker.image_id(ref)
    if image_id is None:
        res = docker.run("pull", ref)
        if res.returncode != 0:
            raise StageError(f"docker pull {ref} failed: {_tail(res.stderr or res.stdout)}",
                             "is the image name right, and can dockerd reach its registry (its own HTTPS_PROXY, in its systemd unit)?")
        image_id = docker.image_id(ref)
    if fresh and entry is not None and entry.details.get("image_id") == image_id:
        return entry, None
    dest = layout.image_file(root, ref)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    res = docker.run("save", "-o", str(part), ref)
    if res.returncode != 0:
        part.unlink(missing_ok=True)
        raise StageError(f"docker save {ref} failed: {_tail(res.stderr or res.stdout)}", "check free space in the artefacts directory")
    read_archive(part)  # a file docker load would refuse is not kept
    os.replace(part, dest)
    entry = Entry(kind="open-webui-image", name=ref, version=ref.rpartition(":")[2], file=layout.relative(root, dest),
                  sha256=_sha256(dest), size=dest.stat().st_size, source=f"docker save {ref}",
                  details={"image_id": image_id})
    manifest.record(entry)
    return entry, entry.size


def platforms(arch: str, glibc: str | None) -> list[str]:
    """pip --platform values a host of `arch` with `glibc` can install (newest first)."""
    machine = WHEEL_ARCH.get(arch)
    if machine is None:
        raise StageError(f"no Python wheels for architecture {arch!r}", "Open WebUI's dependencies ship x86_64 and aarch64 wheels")
    have = version_tuple(glibc) if glibc else ()
    minor = have[1] if len(have) >= 2 and have[0] == 2 else MANYLINUX_MIN
    minors = range(max(minor, MANYLINUX_MIN), MANYLINUX_MIN - 1, -1)
    return [f"manylinux_2_{m}_{machine}" for m in minors] + [f"manylinux2014_{machine}", f"linux_{machine}"]


def stage_wheelhouse(root: Path, manifest: ArtifactsManifest, version: str | None, arch: str, glibc: str | None,
                     pip: PipOptions, environ: Mapping[str, str], runner: Sequence[str] = (sys.executable, "-m", "pip"),
                     refresh: bool = False) -> tuple[Entry, int | None]:
    """Wheels of open-webui (`version`, or the newest) and its dependencies for one platform."""
    wanted = version or "latest"
    key_arch = WHEEL_ARCH.get(arch, arch)
    entry = manifest.get("open-webui-wheelhouse", "open-webui", wanted, key_arch)
    if entry is not None and manifest.problem(entry) is None and not refresh:
        return entry, None
    house = layout.wheelhouse_dir(root)
    house.mkdir(parents=True, exist_ok=True)
    before = {p.name: p.stat().st_size for p in house.glob("*.whl")}
    cmd = [*runner, "download", "--disable-pip-version-check", "--no-input", "--dest", str(house),
           "--only-binary=:all:", "--python-version", pip.python_version, "--implementation", "cp",
           *[a for p in platforms(arch, glibc) for a in ("--platform", p)], *pip.args(),
           f"open-webui=={version}" if version else "open-webui"]
    try:
        res = subprocess.run(cmd, env=dict(environ), capture_output=True, text=True, timeout=3 * 3600, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StageError("pip download of open-webui did not finish within 3 hours") from None
    if res.returncode != 0:
        raise StageError(f"pip download open-webui{'==' + version if version else ''} for {key_arch}, Python {pip.python_version} "
                         f"failed: {_tail(res.stderr or res.stdout)}",
                         "a dependency without a binary wheel for that platform cannot be staged; check --pip-index-url / --pip-find-links")
    wheels = _wheels_of(res.stdout, house) or sorted(house.glob("*.whl"))
    main = [w for w in wheels if _WHEEL.match(w.name)]
    if not main:
        raise StageError(f"pip download put no open_webui wheel into {house}", "check the package index")
    got = _WHEEL.match(main[0].name).group("version")  # type: ignore[union-attr]
    files = [{"name": w.name, "size": w.stat().st_size, "sha256": _sha256(w)} for w in sorted(set(wheels))]
    listing = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
    entry = Entry(kind="open-webui-wheelhouse", name="open-webui", version=wanted, arch=key_arch,
                  file=layout.relative(root, house), sha256=hashlib.sha256(listing).hexdigest(),
                  size=sum(f["size"] for f in files), source="pip download " + " ".join(pip.args() or ["(pip's index)"]),
                  details={"open_webui_version": got, "python": pip.python_version, "files": files})
    manifest.record(entry)
    return entry, sum(f["size"] for f in files if before.get(f["name"]) != f["size"])


def _wheels_of(pip_output: str, house: Path) -> list[Path]:
    """The wheels pip names in its output ("Saved ..." / "File was already downloaded ...")."""
    names = re.findall(r"(?:Saved|File was already downloaded)\s+(\S+\.whl)", pip_output)
    return [house / Path(n).name for n in names if (house / Path(n).name).is_file()]


def _sha256(path: Path) -> str:
    """The file's digest, kept in the push's digest cache (the rollout does not hash it again)."""
    return transfer.local_artifact(path).sha256


def _tail(text: str, lines: int = 3) -> str:
    return " ".join(ln.strip() for ln in text.strip().splitlines()[-lines:])
