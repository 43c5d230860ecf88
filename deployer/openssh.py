"""The system OpenSSH client, for bulk data: the same host and the same host-key
decisions as the paramiko connection, at about twice its throughput."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from deployer.connection import Connection, _PopenStream, _Stream
from deployer.sshtarget import Hop, SSHTarget

if TYPE_CHECKING:
    from deployer.ssh import SSHConnection


#: AES-GCM first (paramiko and OpenSSH are fastest with it); the others stay allowed
_OPENSSH_CIPHERS = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"


def openssh_argv(target: SSHTarget, hops: list[Hop]) -> list[str] | None:
    """The OpenSSH client command line (the remote command goes last) that reaches
    `hops[-1]` through the hops before it, checking every host key exactly as the
    paramiko connection did; None when it cannot: no `ssh` here, a password to
    type, or a path with blanks or '%' (ssh would expand it)."""
    ssh = shutil.which("ssh")
    if ssh is None or target.password is not None or not hops:
        return None
    proxy = "none"
    argv: list[str] = []
    for i, hop in enumerate(hops):
        files = [str(f) for f in hop.check.files]
        paths = [*files, target.key_file or "", target.ssh_config_file or ""]
        if not files or any(c.isspace() or c == "%" for f in paths for c in f):
            return None
        argv = [ssh, "-T", "-x", "-a"]
        if target.ssh_config_file:
            argv += ["-F", str(Path(target.ssh_config_file).expanduser())]
        if target.key_file:
            argv += ["-i", str(Path(target.key_file).expanduser())]
        if hop.user:
            argv += ["-l", hop.user]
        if hop.port:
            argv += ["-p", str(hop.port)]
        argv += [
            "-o", "BatchMode=yes",
            "-o", f"StrictHostKeyChecking={'accept-new' if hop.check.accept_new else 'yes'}",
            "-o", f"UserKnownHostsFile={' '.join(files)}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            # a shared master connection could have been opened with weaker settings
            "-o", "ControlMaster=no",
            "-o", "ControlPath=none",
            "-o", f"ConnectTimeout={max(1, int(target.connect_timeout))}",
            "-o", f"Ciphers={_OPENSSH_CIPHERS}",
            "-o", f"ProxyCommand={proxy}",
            "-o", "ProxyJump=none",
        ]
        if i < len(hops) - 1:
            # the next ssh expands %-tokens in its ProxyCommand once: those of
            # the hops further in must survive that for their own ssh
            proxy = shlex.join([*(w.replace("%", "%%") for w in argv), "-W", "%h:%p", hop.host])
    return [*argv, hops[-1].host, "--"]


class OpenSSHConnection(Connection):
    """Commands through the OpenSSH client, for bulk data (see SSHConnection.bulk)."""

    def __init__(self, parent: "SSHConnection", argv: list[str]) -> None:
        super().__init__(parent.name, parent.login_user)
        self.parent = parent
        self.argv = argv

    def _start(self, command: str) -> _Stream:
        return _PopenStream([*self.argv, command])

    def open_tunnel(self, host: str, port: int) -> tuple[str, int]:
        return self.parent.open_tunnel(host, port)
