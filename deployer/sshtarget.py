"""What deployer needs to reach a host over SSH: the target, its host-key check, its hops,
and the OpenSSH options it honours from an inventory's ansible_ssh_common_args."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SSHTarget:
    """Everything needed to open one SSH connection."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_config_file: str | None = None
    proxy_jump: str | None = None
    known_hosts_files: tuple[str, ...] = ()
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class HostKeyCheck:
    """How one hop's host key is checked: the known hosts files and whether a new key is accepted."""

    files: tuple[Path, ...]
    record_to: Path | None
    accept_new: bool


@dataclass(frozen=True)
class Hop:
    """One SSH hop as the OpenSSH client must reach it: name, port, user, key, host-key check."""

    host: str
    port: int | None
    user: str | None
    check: HostKeyCheck


def parse_ssh_args(args: str) -> dict[str, str]:
    """The options deployer honours from ``ansible_ssh_common_args`` / ``ansible_ssh_extra_args``.

    Returns lower-case ssh_config names: proxyjump, userknownhostsfile,
    stricthostkeychecking, connecttimeout, identityfile, port, user, and
    ``configfile`` for ``-F``. Unknown options are returned too; callers warn.
    """
    opts: dict[str, str] = {}
    words = shlex.split(args or "")
    i = 0
    flag_map = {"-J": "proxyjump", "-F": "configfile", "-i": "identityfile", "-p": "port", "-l": "user"}
    while i < len(words):
        w = words[i]
        if w == "-o" and i + 1 < len(words):
            key, _, value = words[i + 1].partition("=")
            if not value and " " in key:
                key, _, value = key.partition(" ")
            opts[key.strip().lower()] = value.strip()
            i += 2
            continue
        if w.startswith("-o") and len(w) > 2:
            key, _, value = w[2:].partition("=")
            opts[key.strip().lower()] = value.strip()
        elif w in flag_map and i + 1 < len(words):
            opts[flag_map[w]] = words[i + 1]
            i += 2
            continue
        i += 1
    return opts
