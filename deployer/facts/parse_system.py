"""Pure parsers for system facts: os-release, glibc, df, systemd, docker,
ollama and the environment. No I/O here."""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from deployer.facts.model import DiskInfo

#: Ollama and Go name architectures differently from uname -m.
GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_arch(machine: str) -> str:
    """uname -m as Go/Ollama name it: x86_64 -> amd64, aarch64 -> arm64."""
    return GO_ARCH.get(machine, machine or "unknown")


def parse_kv(text: str) -> dict[str, str]:
    """``key=value`` lines; the first occurrence of a key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and key not in out:
            out[key] = value
    return out


def parse_os_release(text: str) -> dict[str, str]:
    """/etc/os-release as a dict (shell quoting removed), e.g. {"ID": "rhel", "VERSION_ID": "7.7"}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        out[key.strip()] = " ".join(words)
    return out


def parse_ldd_version(text: str) -> str | None:
    """The glibc version from ``ldd --version`` or ``getconf GNU_LIBC_VERSION``.

    ``ldd (GNU libc) 2.17`` -> "2.17", ``ldd (Debian GLIBC 2.36-9+deb12u14) 2.36``
    -> "2.36", ``glibc 2.36`` -> "2.36"; musl's ldd gives None.
    """
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^ldd \((?:[^)]*(?:GLIBC|GNU libc|EGLIBC)[^)]*)\)\s+(\d+\.\d+)", line, re.I)
        if m:
            return m.group(1)
        m = re.match(r"^(?:getconf\s+)?glibc\s+(\d+\.\d+)", line)
        if m:
            return m.group(1)
    return None


class DfRow(NamedTuple):
    """One filesystem line of ``df -P``; sizes in bytes."""

    filesystem: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    mount: str


_BLOCKS = re.compile(r"^(\d+)([KMG]?)-blocks$", re.I)


def parse_df(text: str) -> list[DfRow]:
    """Rows of ``df -P`` output; the header gives the block size (1-, 512-, 1024-/1K-blocks).

    A long device name that df wrapped onto its own line is joined back.
    """
    unit = 1024
    rows: list[DfRow] = []
    pending = ""
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "Filesystem" and len(parts) > 1:
            m = _BLOCKS.match(parts[1])
            if m:
                unit = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2).upper()]
            continue
        if len(parts) == 1:
            pending = parts[0]
            continue
        if pending:
            parts = [pending, *parts]
            pending = ""
        if len(parts) >= 6 and all(p.isdigit() for p in parts[1:4]):
            total, used, free = (int(p) * unit for p in parts[1:4])
            rows.append(DfRow(parts[0], total, used, free, " ".join(parts[5:])))
    return rows


def parse_disks(text: str) -> list[DiskInfo]:
    """The probe's disks section: ``@path<TAB>asked<TAB>checked`` then df (or statfs) output.

    A path that does not exist yet was checked at its nearest existing parent;
    the entry keeps the path as asked. A path asked twice is reported once.
    """
    disks: dict[str, DiskInfo] = {}
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("@path\t"):
            blocks.append((line.split("\t")[1], []))
        elif blocks:
            blocks[-1][1].append(line)
    for asked, lines in blocks:
        if asked in disks:
            continue
        rows = parse_df("\n".join(lines))
        if rows:
            row = rows[0]
            disks[asked] = DiskInfo(
                path=asked, mount=row.mount, filesystem=row.filesystem, total_bytes=row.total_bytes, free_bytes=row.free_bytes
            )
            continue
        statfs = [ln.split() for ln in lines if ln.startswith("statfs ")]
        if statfs and len(statfs[0]) == 4 and all(p.isdigit() for p in statfs[0][1:]):
            size, blocks_total, blocks_free = (int(p) for p in statfs[0][1:])
            disks[asked] = DiskInfo(path=asked, total_bytes=size * blocks_total, free_bytes=size * blocks_free)
    return list(disks.values())


def systemd_running(kv: dict[str, str]) -> bool:
    """systemd is PID 1 and in a state where units can be started (Ollama's install.sh test)."""
    return kv.get("run_systemd") == "yes" and kv.get("state", "").strip() in ("running", "degraded")


def version_in(text: str) -> str | None:
    """The first dotted version number in `text` ("Docker version 28.2.2, build e6534b4" -> "28.2.2")."""
    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)\b", text)
    return m.group(1) if m else None


def parse_ollama_version(text: str) -> str | None:
    """The version of the ollama binary from ``ollama -v``.

    With no server running it says ``Warning: client version is 0.5.7``; with a
    server of another version it prints both, and the client line is the binary's.
    """
    client = re.search(r"client version is\s+(\S+)", text)
    if client:
        return client.group(1)
    server = re.search(r"ollama version is\s+(\S+)", text)
    return server.group(1) if server else None


def parse_ollama_list(text: str) -> list[str] | None:
    """Model names from ``ollama list``; None when it did not print its table
    (no server running: ``Error: could not connect to ollama app, is it running?``)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].split() or lines[0].split()[0] != "NAME":
        return None
    return [ln.split()[0] for ln in lines[1:]]


_PROXY_KEYS = {"http_proxy", "https_proxy", "all_proxy"}


def redact_proxy(value: str) -> str:
    """A proxy URL with its password replaced by ``***``: facts are written to
    files and shown, and must never carry a secret."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if parts.password is None:
        return value
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def parse_env(text: str) -> dict[str, str]:
    """Proxy, Slurm and GPU-visibility variables from the probe's ``env`` lines."""
    env = parse_kv(text)
    return {k: redact_proxy(v) if k.lower() in _PROXY_KEYS else v for k, v in env.items()}
