"""Turn the probe's output into HostFacts. Pure functions, no I/O.

The probe (``probe.sh``) prints each section between
``@@deployer-facts:begin:NAME@@`` and ``@@deployer-facts:end:NAME:RC@@`` and
ends with ``@@deployer-facts:done@@``. :func:`split_sections` cuts the text
apart; :func:`build_facts` parses every section it got. A section that fails,
is cut off or cannot be parsed leaves its facts unknown and adds a note; it
never raises.

The single-command parsers live in ``parse_cpu``, ``parse_gpu`` and
``parse_system`` and are re-exported here.
"""

from __future__ import annotations

import re
from typing import Callable

from deployer.facts.model import CPUInfo, HostFacts
from deployer.facts.parse_cpu import (
    parse_cgroup,
    parse_cpuinfo,
    parse_dmidecode_memory,
    parse_lscpu,
    parse_meminfo,
    parse_numa,
)
from deployer.facts.parse_gpu import (
    VENDOR_NVIDIA,
    amd_gpus_from_drm,
    parse_drm,
    parse_nvidia_header,
    parse_nvidia_smi,
    parse_rocm_smi,
)
from deployer.facts.parse_system import (
    go_arch,
    parse_df,
    parse_disks,
    parse_env,
    parse_kv,
    parse_ldd_version,
    parse_ollama_list,
    parse_ollama_version,
    parse_os_release,
    systemd_running,
    version_in,
)

__all__ = [
    "SectionText",
    "build_facts",
    "parse_cgroup",
    "parse_cpuinfo",
    "parse_df",
    "parse_disks",
    "parse_dmidecode_memory",
    "parse_ldd_version",
    "parse_lscpu",
    "parse_meminfo",
    "parse_nvidia_header",
    "parse_nvidia_smi",
    "parse_os_release",
    "parse_rocm_smi",
    "split_sections",
]

_MARKER = re.compile(r"^@@deployer-facts:(?:begin:([\w-]+)|end:([\w-]+):(\d+)|(done))@@$")
DONE = "done"


class SectionText(str):
    """A section's text, with the exit status its shell function ended with
    (None when the output stopped before the section's end marker)."""

    rc: int | None

    def __new__(cls, text: str, rc: int | None = 0) -> "SectionText":
        obj = super().__new__(cls, text)
        obj.rc = rc
        return obj


def split_sections(output: str) -> dict[str, str]:
    """The probe's output cut into {section name: text}.

    Values are :class:`SectionText` (a str with ``.rc``). A section whose end
    marker never came is kept with ``rc=None``; a complete run also has the
    key ``"done"``.
    """
    sections: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        m = _MARKER.match(line.strip())
        if not m:
            if name is not None:
                lines.append(line)
            continue
        begin, end, rc, done = m.groups()
        if name is not None and end != name:
            sections[name] = SectionText("\n".join(lines).strip("\n"), None)
            name, lines = None, []
        if begin:
            name, lines = begin, []
        elif end:
            sections[end] = SectionText("\n".join(lines).strip("\n"), int(rc))
            name = None
        elif done:
            sections[DONE] = SectionText("", 0)
    if name is not None:
        sections[name] = SectionText("\n".join(lines).strip("\n"), None)
    return sections


def _rc(text: str) -> int | None:
    return getattr(text, "rc", 0)


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")


def _tool_failed(tool: str, text: str) -> str:
    rc = _rc(text)
    if rc in (124, 137):  # timeout(1): TERM, then KILL for a tool that ignored it
        return f"{tool} did not answer within the probe's time limit"
    return f"{tool} failed (exit {rc}): {_first_line(text)}"


def _host(facts: HostFacts, text: str, notes: list[str]) -> None:
    kv = parse_kv(text)
    facts.hostname = kv.get("hostname") or facts.hostname
    facts.cpu.machine = kv.get("machine") or facts.cpu.machine
    facts.arch = go_arch(kv.get("machine", ""))
    facts.os.kernel = kv.get("kernel") or None
    facts.user = kv.get("user") or None
    facts.is_root = kv.get("uid") == "0"
    facts.home = kv.get("home") or None
    if kv.get("nproc", "").isdigit():
        facts.cpu.usable_threads = int(kv["nproc"])


def _os_release(facts: HostFacts, text: str, notes: list[str]) -> None:
    osr = parse_os_release(text)
    facts.os.id = osr.get("ID")
    facts.os.id_like = osr.get("ID_LIKE")
    facts.os.version_id = osr.get("VERSION_ID")
    facts.os.pretty_name = osr.get("PRETTY_NAME")


def _cpu(parsed: CPUInfo, facts: HostFacts) -> None:
    """Install the parsed CPU facts, keeping what the host section already knew."""
    machine, usable = facts.cpu.machine, facts.cpu.usable_threads
    facts.cpu = parsed
    if parsed.machine == "unknown":
        facts.cpu.machine = machine
    facts.cpu.usable_threads = usable


def _lscpu(facts: HostFacts, text: str, notes: list[str]) -> None:
    if _rc(text):
        notes.append(_tool_failed("lscpu", text))
    if text.strip():
        _cpu(parse_lscpu(text), facts)


def _cpuinfo(facts: HostFacts, text: str, notes: list[str]) -> None:
    if text.strip():
        notes.append("lscpu is not installed: CPU facts come from /proc/cpuinfo")
        _cpu(parse_cpuinfo(text), facts)


def _numa(facts: HostFacts, text: str, notes: list[str]) -> None:
    nodes = parse_numa(text)
    if nodes:
        facts.cpu.numa_nodes = nodes


def _meminfo(facts: HostFacts, text: str, notes: list[str]) -> None:
    parsed = parse_meminfo(text)
    for field in ("total_bytes", "available_bytes", "swap_total_bytes", "swap_free_bytes", "hugepages_total", "hugepage_size_bytes"):
        setattr(facts.memory, field, getattr(parsed, field))


def _cgroup(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.memory.cgroup_limit_bytes, facts.memory.cgroup_cpus = parse_cgroup(text)


def _dmidecode(facts: HostFacts, text: str, notes: list[str]) -> None:
    dimm_type, speed, count = parse_dmidecode_memory(text)
    if count is None:
        notes.append("memory DIMM type and speed unknown: dmidecode is missing or needs root (or passwordless sudo)")
        return
    facts.memory.dimm_type, facts.memory.dimm_speed_mts, facts.memory.dimm_count = dimm_type, speed, count


def _nvidia(facts: HostFacts, text: str, notes: list[str]) -> None:
    gpus = parse_nvidia_smi(text)
    if _rc(text) and not gpus:
        notes.append(_tool_failed("nvidia-smi", text))
    facts.gpus.extend(gpus)
    drivers = {g.driver for g in gpus if g.driver}
    if drivers:
        facts.software.nvidia_driver = sorted(drivers)[0]


def _nvidia_header(facts: HostFacts, text: str, notes: list[str]) -> None:
    driver, cuda = parse_nvidia_header(text)
    facts.software.cuda_version = cuda
    facts.software.nvidia_driver = facts.software.nvidia_driver or driver


def _rocm(facts: HostFacts, text: str, notes: list[str]) -> None:
    if _rc(text):
        notes.append(_tool_failed("rocm-smi", text))
    if text.strip():
        facts.gpus.extend(parse_rocm_smi(text))


def _rocm_version(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.software.rocm_version = text.strip() or None


def _drm(facts: HostFacts, text: str, notes: list[str]) -> None:
    cards = parse_drm(text)
    if not any(g.vendor == "amd" for g in facts.gpus):
        amd = amd_gpus_from_drm(cards)
        if amd:
            notes.append("AMD GPUs read from /sys/class/drm (rocm-smi not found)")
            facts.gpus.extend(amd)
    if any(c.vendor == VENDOR_NVIDIA for c in cards) and not any(g.vendor == "nvidia" for g in facts.gpus):
        notes.append("an NVIDIA GPU is present but nvidia-smi is missing or failed: is the NVIDIA driver installed?")


def _disks(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.disks = parse_disks(text)


def _glibc(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.os.glibc = parse_ldd_version(text)
    if facts.os.glibc is None and "musl" in text.lower():
        notes.append("the C library is musl, not glibc: official Ollama builds will not run")


def _systemd(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.os.systemd = systemd_running(parse_kv(text))


def _docker(facts: HostFacts, text: str, notes: list[str]) -> None:
    kv = parse_kv(text)
    if "path" not in kv:
        return
    facts.software.docker_version = version_in(kv.get("client", ""))
    facts.software.docker_usable = kv.get("info_rc") == "0"
    if not facts.software.docker_usable:
        why = [ln.partition("=")[2].strip() for ln in text.splitlines() if ln.startswith("info=")]
        notes.append("docker is installed but `docker info` fails for this user: " + (" ".join(w for w in why if w) or "docker info failed"))


def _ollama(facts: HostFacts, text: str, notes: list[str]) -> None:
    head, _, listing = text.partition("@list")
    kv = parse_kv(head)
    if "path" not in kv:
        return
    facts.software.ollama_path = kv["path"]
    facts.software.ollama_version = parse_ollama_version(head)
    models = parse_ollama_list(listing)
    if models is None:
        notes.append(f"ollama list: {_first_line(listing)}")
    facts.software.ollama_models = models or []


def _sudo(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.software.sudo = parse_kv(text).get("sudo") in ("root", "yes")


def _env(facts: HostFacts, text: str, notes: list[str]) -> None:
    facts.env = parse_env(text)


_BUILDERS: list[tuple[str, Callable[[HostFacts, str, list[str]], None]]] = [
    ("host", _host),
    ("os-release", _os_release),
    ("lscpu", _lscpu),
    ("cpuinfo", _cpuinfo),
    ("numa", _numa),
    ("meminfo", _meminfo),
    ("cgroup", _cgroup),
    ("dmidecode", _dmidecode),
    ("nvidia", _nvidia),
    ("nvidia-header", _nvidia_header),
    ("rocm", _rocm),
    ("rocm-version", _rocm_version),
    ("drm", _drm),
    ("disks", _disks),
    ("glibc", _glibc),
    ("systemd", _systemd),
    ("docker", _docker),
    ("ollama", _ollama),
    ("sudo", _sudo),
    ("env", _env),
]


def build_facts(sections: dict[str, str]) -> HostFacts:
    """HostFacts from :func:`split_sections` output; never raises.

    Missing sections leave their facts unknown. A cut-off output (the probe
    died or was killed) adds a note naming the last section that arrived.
    """
    facts = HostFacts()
    notes: list[str] = []
    for name, builder in _BUILDERS:
        text = sections.get(name)
        if text is None:
            continue
        if _rc(text) is None:
            notes.append(f"section {name} was cut off: its facts may be incomplete")
        try:
            builder(facts, text, notes)
        except Exception as exc:  # noqa: BLE001 - one unreadable section must not cost the others
            notes.append(f"section {name} could not be parsed ({type(exc).__name__}: {exc})")
    if DONE not in sections:
        arrived = [name for name in sections if name != DONE]
        where = f"after section {arrived[-1]}" if arrived else "before any section"
        notes.append(f"the probe's output ended early ({where}): later facts are missing")
    if facts.arch == "unknown":
        facts.arch = go_arch(facts.cpu.machine)
    facts.gpus.sort(key=lambda g: (g.vendor, g.index))
    facts.notes = notes
    return facts
