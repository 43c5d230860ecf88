"""Ollama release archives with the real layout, and sha256sum.txt in the real format.

    path = build_release(outdir, version="0.5.7", arch="amd64")   # ollama-linux-amd64.tgz
    path = build_release(outdir, version="0.14.2")                # ollama-linux-amd64.tar.zst
    write_sha256sums(outdir)                                      # "<hex>  ./ollama-linux-amd64.tgz"

Layout follows upstream's release builds: before 0.5.8 the archive was
``tar -cf - .`` of the dist dir (members "./bin/ollama",
"./lib/ollama/runners/..."); from 0.5.8 it lists "bin/ollama" and
"lib/ollama/..." (libggml-base.so, cuda_v12/ ...); the -rocm archive then
holds only lib/ollama/rocm. ``.tar.zst`` replaced ``.tgz`` in 0.14.0.
``bin/ollama`` is the Ollama stand-in with the version baked in; it runs
anywhere python3 does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from tests.fakes.ollama_standin.config import version_tuple

STANDIN_DIR = Path(__file__).resolve().parent / "ollama_standin"
_MTIME = 1736899200  # fixed, so the same inputs give the same bytes
_ZIP_DATE = (2025, 1, 15, 0, 0, 0)


def standin_binary(version: str) -> bytes:
    """The stand-in as one executable file: a python3 zipapp with VERSION baked in."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        add("__main__.py", b"import sys\nfrom ollama_standin.cli import main\nsys.exit(main(sys.argv[1:]))\n")
        for src in sorted(STANDIN_DIR.glob("*.py")):
            if src.name != "_baked.py":
                add(f"ollama_standin/{src.name}", src.read_bytes())
        add("ollama_standin/_baked.py", f"VERSION = {version!r}\n".encode())
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def write_standin_binary(path: Path | str, version: str) -> Path:
    """Write the packed stand-in (what bin/ollama is in an archive), mode 0755."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(standin_binary(version))
    path.chmod(0o755)
    return path


def default_format(version: str) -> str:
    return "tar.zst" if version_tuple(version) >= (0, 14, 0) else "tgz"


def archive_name(arch: str = "amd64", variant: str = "", fmt: str = "tgz") -> str:
    return f"ollama-linux-{arch}{'-' + variant if variant else ''}.{fmt}"


def _lib(name: str, size: int = 256) -> bytes:
    """A dummy shared library: ELF magic and seeded filler."""
    return b"\x7fELF" + random.Random(name).randbytes(size)


def _members(version: str, arch: str, variant: str) -> list[tuple[str, bytes | None]]:
    """(path, content) pairs; content None is a directory entry."""
    old = version_tuple(version) < (0, 5, 8)
    files: list[tuple[str, bytes | None]] = []
    if old:
        if variant == "rocm":
            files += [("lib/ollama/libamdhip64.so.6", _lib("hip")),
                      ("lib/ollama/runners/rocm_avx/ollama_llama_server", _lib("rocm-runner")),
                      ("lib/ollama/runners/rocm_avx/libggml_rocm.so", _lib("ggml-rocm"))]
        else:
            files += [("bin/ollama", standin_binary(version)),
                      ("lib/ollama/libcudart.so.12", _lib("cudart")),
                      ("lib/ollama/libcublas.so.12", _lib("cublas")),
                      ("lib/ollama/runners/cpu_avx/ollama_llama_server", _lib("cpu-avx")),
                      ("lib/ollama/runners/cpu_avx2/ollama_llama_server", _lib("cpu-avx2")),
                      ("lib/ollama/runners/cuda_v12_avx/ollama_llama_server", _lib("cuda-runner")),
                      ("lib/ollama/runners/cuda_v12_avx/libggml_cuda_v12.so", _lib("ggml-cuda"))]
        dirs = sorted({str(Path(p).parents[i]) for p, _ in files for i in range(len(Path(p).parents) - 1)})
        return [(".", None)] + [(d, None) for d in dirs] + files
    if variant == "rocm":
        return [("lib/ollama/rocm", None), ("lib/ollama/rocm/libggml-hip.so", _lib("ggml-hip")),
                ("lib/ollama/rocm/libamdhip64.so.6", _lib("hip"))]
    if variant.startswith("jetpack"):
        d = f"lib/ollama/cuda_{variant}"
        return [(d, None), (f"{d}/libggml-cuda.so", _lib(variant))]
    files = [("bin/ollama", standin_binary(version)),
             ("lib/ollama/libggml-base.so", _lib("ggml-base")),
             ("lib/ollama/libggml-cpu-haswell.so", _lib("ggml-cpu")),
             ("lib/ollama/cuda_v12", None),
             ("lib/ollama/cuda_v12/libggml-cuda.so", _lib("ggml-cuda-12")),
             ("lib/ollama/cuda_v12/libcudart.so.12", _lib("cudart-12"))]
    if version_tuple(version) >= (0, 12, 0):
        files += [("lib/ollama/cuda_v13", None), ("lib/ollama/cuda_v13/libggml-cuda.so", _lib("ggml-cuda-13"))]
    return files


class _Padding(io.RawIOBase):
    """``size`` seeded, incompressible bytes, produced as read (a big archive without big memory)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.rng = random.Random("ollama-padding")

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
        n = min(len(buf), self.left, 1 << 20)
        buf[:n] = self.rng.randbytes(n)
        self.left -= n
        return n


def _write_tar(out: BinaryIO, members: list[tuple[str, bytes | None]], prefix: str, pad_bytes: int,
               pad_path: str) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        def info(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
            ti = tarfile.TarInfo(prefix + name if name != "." else "./")
            ti.type, ti.size, ti.mtime, ti.mode = kind, size, _MTIME, 0o755
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        for name, data in members:
            if data is None:
                tar.addfile(info(name, tarfile.DIRTYPE))
            else:
                tar.addfile(info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))
        if pad_bytes:
            tar.addfile(info(pad_path, tarfile.REGTYPE, pad_bytes), io.BufferedReader(_Padding(pad_bytes)))


def build_release(outdir: Path | str, version: str = "0.5.7", arch: str = "amd64", fmt: str | None = None,
                  variant: str = "", pad_bytes: int = 0) -> Path:
    """Write ollama-linux-<arch>[-<variant>].<fmt> into ``outdir``; returns its path.

    ``fmt``: "tgz" or "tar.zst" (default: what that version shipped). ``variant``:
    "" (main bundle), "rocm", "jetpack5", "jetpack6". ``pad_bytes`` adds an
    incompressible library of that size (archives of realistic size for
    transfer tests).
    """
    fmt = fmt or default_format(version)
    if fmt not in ("tgz", "tar.zst"):
        raise ValueError(f"fmt={fmt!r}: use 'tgz' or 'tar.zst'")
    if arch not in ("amd64", "arm64"):
        raise ValueError(f"arch={arch!r}: use 'amd64' or 'arm64'")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / archive_name(arch, variant, fmt)
    members = _members(version, arch, variant)
    old = version_tuple(version) < (0, 5, 8)
    prefix = "./" if old else ""
    if old:
        pad_dir = "lib/ollama"
    elif variant:
        pad_dir = "lib/ollama/rocm" if variant == "rocm" else f"lib/ollama/cuda_{variant}"
    else:
        pad_dir = "lib/ollama/cuda_v12"
    pad_path = f"{pad_dir}/libcublasLt.so.12"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        if fmt == "tgz":
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=_MTIME) as gz:
                _write_tar(gz, members, prefix, pad_bytes, pad_path)  # type: ignore[arg-type]
        else:
            with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as zw:
                _write_tar(zw, members, prefix, pad_bytes, pad_path)  # type: ignore[arg-type]
    tmp.replace(path)
    return path


def sha256_file(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def write_sha256sums(outdir: Path | str) -> Path:
    """sha256sum.txt as upstream's release job writes it: ``<hex>  ./<file>`` per asset."""
    outdir = Path(outdir)
    lines = [f"{sha256_file(p)}  ./{p.name}\n" for p in sorted(outdir.iterdir())
             if p.is_file() and p.name != "sha256sum.txt"]
    target = outdir / "sha256sum.txt"
    target.write_text("".join(lines))
    return target


def build_release_set(releases: Path | str, version: str, archs: tuple[str, ...] = ("amd64",),
                      variants: tuple[str, ...] = ("",), fmt: str | None = None, pad_bytes: int = 0) -> Path:
    """Build releases/v<version>/ with the archives and sha256sum.txt (RegistryServer's layout)."""
    outdir = Path(releases) / f"v{version}"
    for arch in archs:
        for variant in variants:
            build_release(outdir, version, arch, fmt, variant, pad_bytes)
    write_sha256sums(outdir)
    return outdir


def iter_members(path: Path | str) -> Iterator[tarfile.TarInfo]:
    """The members of a .tgz or .tar.zst (for assertions)."""
    path = Path(path)
    if path.name.endswith(".tar.zst"):
        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as zr:
            with tarfile.open(fileobj=zr, mode="r|") as tar:
                yield from tar
    else:
        with tarfile.open(path, "r:gz") as tar:
            yield from tar
