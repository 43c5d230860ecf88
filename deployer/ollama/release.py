"""Ollama release archives: names, formats, sha256sum.txt, and what a host needs to run them.

Pure functions (no host, no I/O besides reading a local sha256sum.txt), so the
rules can be unit-tested and checked before anything is sent anywhere:

- upstream names its Linux bundles ``ollama-linux-<arch>[-<variant>].<fmt>``
  with arch amd64/arm64, variant rocm/jetpack5/jetpack6, and fmt ``tgz``
  before 0.14.0, ``tar.zst`` since;
- ``sha256sum.txt`` lines read ``<hex>  ./<file>`` (sha256sum's own format);
- builds since 0.5.13 need glibc >= 2.27 (CentOS/RHEL 7 nodes cannot run them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import InputError, Location, NotStaged

#: uname -m -> the name in Ollama's archives (install.sh's mapping)
MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
ZST_SINCE = (0, 14, 0)
GLIBC_SINCE = (0, 5, 13)
GLIBC_MIN = (2, 27)
FORMATS = ("tar.zst", "tgz", "tar")
_NAME = re.compile(r"^ollama-linux-(?P<arch>amd64|arm64)(?:-(?P<variant>rocm|jetpack\d+))?\.(?P<fmt>tgz|tar\.zst|tar)$")
_SUM_LINE = re.compile(r"^(?P<hex>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")


@dataclass(frozen=True)
class ArchiveName:
    """What an archive's file name says: its format, and (for upstream's names) arch and variant."""

    name: str
    fmt: str  # "tgz" | "tar.zst" | "tar"
    arch: str | None = None  # None: the name does not say
    variant: str = ""


def parse_archive_name(name: str) -> ArchiveName:
    """Read an archive's file name; an unsupported format is an InputError."""
    m = _NAME.match(name)
    if m:
        return ArchiveName(name, m.group("fmt"), m.group("arch"), m.group("variant") or "")
    for fmt in FORMATS:
        if name.endswith("." + fmt):
            return ArchiveName(name, fmt)
    raise InputError(
        f"{name}: not an Ollama release archive (.tgz or .tar.zst)",
        hint="use the ollama-linux-<arch>.tgz / .tar.zst file of a release",
    )


def version_tuple(version: str) -> tuple[int, ...]:
    """'v0.5.7' -> (0, 5, 7); a suffix ('-rc1') is ignored."""
    nums = re.findall(r"\d+", version.lstrip("v").split("-")[0])
    return tuple(int(n) for n in nums[:3])


def normalize_version(version: str) -> str:
    """The version as install directories are named: no leading 'v'."""
    return version.strip().lstrip("v")


def release_format(version: str) -> str:
    """The archive format upstream published for `version`."""
    return "tar.zst" if version_tuple(version) >= ZST_SINCE else "tgz"


def release_file(arch: str, version: str, variant: str = "") -> str:
    """Upstream's file name of a Linux bundle, e.g. ollama-linux-amd64-rocm.tgz."""
    return f"ollama-linux-{arch}{'-' + variant if variant else ''}.{release_format(version)}"


def glibc_problem(version: str, glibc: str | None) -> str | None:
    """Why this host's glibc cannot run Ollama `version`, or None when it can (or nobody knows)."""
    if glibc is None or version_tuple(version) < GLIBC_SINCE:
        return None
    have = version_tuple(glibc)
    if have and have < GLIBC_MIN:
        need = ".".join(map(str, GLIBC_MIN))
        return (
            f"Ollama {version} needs glibc >= {need} (official builds since 0.5.13), this host has glibc {glibc}"
        )
    return None


def parse_sha256sums(text: str, source: str = "sha256sum.txt") -> dict[str, str]:
    """sha256sum.txt -> {file name: lowercase hex}; './name' and '*name' (binary mode) read as 'name'."""
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SUM_LINE.match(line)
        if not m:
            raise InputError(
                f"not a sha256sum line: {line[:80]!r}",
                Location(source, lineno),
                "each line is '<64 hex digits>  ./<file name>', as the release's sha256sum.txt",
            )
        name = m.group("name").strip()
        name = name[2:] if name.startswith("./") else name
        sums[name.rsplit("/", 1)[-1]] = m.group("hex").lower()
    return sums


def read_sha256sums(path: Path) -> dict[str, str]:
    """Parse a local sha256sum.txt; a missing file is an InputError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotStaged(f"{path} (sha256sums) is not there", str(path), "stage the release with deployer stage, or fix source.sha256sums")
    except OSError as exc:
        raise InputError(f"cannot read sha256sums: {exc.strerror}", Location(str(path)), "fix source.sha256sums")
    return parse_sha256sums(text, str(path))


def expected_digest(sums: dict[str, str], name: str, source: str) -> str:
    """The digest `sums` lists for `name`; its absence is an InputError listing what is there."""
    try:
        return sums[name]
    except KeyError:
        listed = ", ".join(sorted(sums)) or "nothing"
        raise InputError(
            f"sha256sums has no entry for {name} (it lists: {listed})",
            Location(source),
            "use the sha256sum.txt of the same release as the archive",
        ) from None


def human_bytes(n: float) -> str:
    """1717986918 -> '1.6 GiB' (binary units, one decimal)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
