"""From a host's inventory variables to how to reach it and whom to become.

Honoured: ansible_connection (ssh | local), ansible_host, ansible_port,
ansible_user, ansible_ssh_private_key_file, ansible_password,
ansible_ssh_common_args / ansible_ssh_extra_args (-F, -J, -i, -p, -l and
-o ProxyJump= / UserKnownHostsFile= / StrictHostKeyChecking= / ConnectTimeout=),
ansible_host_key_checking, ansible_become, ansible_become_user,
ansible_become_password, ansible_become_method (sudo only), and
deployer_known_hosts_file. Other -o options (ControlMaster, ServerAliveInterval...)
concern OpenSSH's own client and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from deployer.connection import Become
from deployer.errors import ModuleFailure
from deployer.sshtarget import SSHTarget, parse_ssh_args

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ConnectOptions:
    """Run-wide connection settings from the command line."""

    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    ssh_config_file: str | None = None  # -F on the deployer command line
    become_password: str | None = None  # --ask-become-pass


def _first(hv: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if hv.get(n) not in (None, ""):
            return hv[n]
    return None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "yes", "true", "on", "y")


def is_local(name: str, hv: Mapping[str, Any]) -> bool:
    conn = _first(hv, "ansible_connection")
    if conn is not None:
        return str(conn) == "local"
    return name in LOCAL_NAMES and _first(hv, "ansible_host") in (None, *LOCAL_NAMES)


def ssh_target(name: str, hv: Mapping[str, Any], opts: ConnectOptions) -> SSHTarget:
    """The SSH target for a host; raises ModuleFailure for an unsupported connection type."""
    conn = str(_first(hv, "ansible_connection") or "ssh")
    if conn not in ("ssh", "paramiko", "smart"):
        raise ModuleFailure(
            f"ansible_connection={conn} is not supported for {name}",
            hint="deployer connects with ssh or local",
        )
    args = " ".join(str(hv.get(k) or "") for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args"))
    ssh_opts = parse_ssh_args(args)
    port = _first(hv, "ansible_port", "ansible_ssh_port") or ssh_opts.get("port")
    known = _first(hv, "deployer_known_hosts_file") or ssh_opts.get("userknownhostsfile")
    strict = str(ssh_opts.get("stricthostkeychecking", "yes")).lower()
    accept_new = (
        opts.accept_new_host_keys
        or _bool(hv.get("deployer_ssh_accept_new", False))
        or strict in ("accept-new", "no", "off")
        or ("ansible_host_key_checking" in hv and not _bool(hv["ansible_host_key_checking"]))
    )
    timeout = ssh_opts.get("connecttimeout") or opts.connect_timeout
    return SSHTarget(
        name=name,
        host=str(_first(hv, "ansible_host", "ansible_ssh_host") or name),
        port=int(port) if port else None,
        user=_first(hv, "ansible_user", "ansible_ssh_user") or ssh_opts.get("user"),
        key_file=_first(hv, "ansible_ssh_private_key_file", "ansible_private_key_file") or ssh_opts.get("identityfile"),
        password=_first(hv, "ansible_password", "ansible_ssh_pass"),
        ssh_config_file=ssh_opts.get("configfile") or opts.ssh_config_file,
        proxy_jump=ssh_opts.get("proxyjump"),
        known_hosts_files=tuple(str(known).split()) if known else (),
        accept_new_host_keys=accept_new,
        connect_timeout=float(timeout),
    )


def become_for(
    hv: Mapping[str, Any],
    task_become: bool | None,
    task_user: str | None,
    play_become: bool,
    play_user: str | None,
    opts: ConnectOptions,
) -> Become | None:
    """Whom to become for a task: task > play > inventory; None = stay the login user."""
    if task_become is not None:
        wanted = task_become
    elif play_become:
        wanted = True
    else:
        wanted = _bool(hv.get("ansible_become", False))
    if not wanted:
        return None
    method = str(hv.get("ansible_become_method") or "sudo")
    if method != "sudo":
        raise ModuleFailure(f"ansible_become_method={method} is not supported", hint="deployer becomes with sudo")
    user = task_user or play_user or _first(hv, "ansible_become_user") or "root"
    password = opts.become_password
    if password is None:
        password = _first(hv, "ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")
    flags = str(hv.get("ansible_become_flags") or "-H")
    return Become(user=str(user), password=None if password is None else str(password), flags=flags)
