"""Gather a host's facts in one round trip.

The probe is ``probe.sh``, a POSIX sh script sent as the command itself (no
file is copied, no Python or psutil is needed on the host). It runs every
section guarded and bounded by timeouts; :mod:`deployer.facts.parse` turns its
output into :class:`HostFacts`. On this machine (``conn.is_local``) psutil
supplies memory, CPU counts and disk usage, and the same parsers the rest.
"""

from __future__ import annotations

import os
import shlex
from functools import lru_cache
from importlib import resources
from typing import Sequence

from deployer.connection import CommandTimeout, Connection
from deployer.facts.model import DiskInfo, HostFacts
from deployer.facts.parse import build_facts, split_sections

#: Every tool inside is bounded (10 s each); this bounds the whole probe.
PROBE_TIMEOUT = 180.0


@lru_cache(maxsize=1)
def probe_script() -> str:
    """The text of ``probe.sh``."""
    return resources.files("deployer.facts").joinpath("probe.sh").read_text(encoding="utf-8")


def probe_command(paths: Sequence[str] = (), skip: Sequence[str] = ()) -> str:
    """The shell command that runs the probe: disk space is checked at `paths`
    (plus $HOME and /tmp); sections named in `skip` are left out."""
    args = [a for name in skip for a in ("--skip", name)] + ["--", *paths]
    return "/bin/sh -c " + shlex.quote(probe_script()) + " deployer-probe " + " ".join(shlex.quote(a) for a in args)


def gather(conn: Connection, paths: Sequence[str] = ()) -> HostFacts:
    """Facts about the host behind `conn`, from one ``conn.run()``.

    `paths` are the directories whose free space matters (models dir, install
    prefix); one that does not exist yet is checked at its nearest existing
    parent. Never raises for what the host lacks or a section that fails:
    those become ``facts.notes``. Connection errors (Unreachable) propagate.
    """
    local = conn.is_local
    command = probe_command(paths, skip=("disks",) if local else ())
    try:
        result = conn.run(command, timeout=PROBE_TIMEOUT)
    except CommandTimeout as exc:
        # keep the sections that arrived before the deadline
        facts = build_facts(split_sections(exc.partial.stdout)) if exc.partial else HostFacts()
        facts.hostname = conn.name if facts.hostname == "unknown" else facts.hostname
        facts.notes.append(f"the facts probe did not finish within {PROBE_TIMEOUT:g}s: facts are partial")
        return _enrich(facts)
    facts = build_facts(split_sections(result.stdout))
    if result.rc != 0:
        facts.notes.append(f"the facts probe exited with status {result.rc}: {result.tail(3) or 'no message'}")
    if facts.hostname == "unknown":
        facts.hostname = conn.name
    if local:
        _from_psutil(facts, paths)
        facts.source = "local"
    return _enrich(facts)


def _from_psutil(facts: HostFacts, paths: Sequence[str]) -> None:
    """Memory, CPU counts and disk usage of this machine, read by psutil."""
    import psutil

    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    facts.memory.total_bytes = vm.total
    facts.memory.available_bytes = vm.available
    facts.memory.swap_total_bytes = swap.total
    facts.memory.swap_free_bytes = swap.free
    facts.cpu.threads = psutil.cpu_count(logical=True) or facts.cpu.threads
    facts.cpu.cores = psutil.cpu_count(logical=False) or facts.cpu.cores
    if hasattr(os, "sched_getaffinity"):
        facts.cpu.usable_threads = len(os.sched_getaffinity(0))
    home = facts.home or os.path.expanduser("~")
    partitions = sorted(psutil.disk_partitions(all=True), key=lambda p: len(p.mountpoint), reverse=True)
    seen: set[str] = set()
    for asked in (*paths, home, "/tmp"):
        if asked in seen:
            continue
        seen.add(asked)
        existing = _nearest_existing(os.path.expanduser(asked))
        usage = psutil.disk_usage(existing)
        real = os.path.realpath(existing)
        part = next((p for p in partitions if real == p.mountpoint or real.startswith(p.mountpoint.rstrip("/") + "/")), None)
        facts.disks.append(
            DiskInfo(
                path=asked,
                mount=part.mountpoint if part else None,
                filesystem=part.device if part else None,
                total_bytes=usage.total,
                free_bytes=usage.free,
            )
        )


def _nearest_existing(path: str) -> str:
    """`path`, or its nearest parent that exists (where a new directory would live)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


def _enrich(facts: HostFacts) -> HostFacts:
    """Fill the bandwidth estimates when deployer.llm.hardware is available."""
    try:
        from deployer.llm.hardware import enrich  # type: ignore[import-not-found]
    except ModuleNotFoundError as exc:
        if exc.name != "deployer.llm.hardware":
            raise
        return facts
    return enrich(facts)
