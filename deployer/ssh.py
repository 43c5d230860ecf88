"""SSH connections: fabric for configuration and jump hosts, paramiko channels for speed.

Security: fabric installs paramiko's AutoAddPolicy (trust any host key) on every
connection it makes, jump hosts included. :meth:`SSHConnector._harden` replaces
it on each hop: known hosts are loaded and an unknown key is refused, unless
accept-new was asked for; a changed key is always refused.

Bulk data (see :meth:`SSHConnection.bulk`) goes through the system's OpenSSH
client when there is one: it encrypts at twice paramiko's speed. Its command
line is built from the same decisions as the paramiko connection (same known
hosts files, same strictness, jump hosts checked the same way through an
explicit ProxyCommand), so it is never weaker.

Speed: one connection per host for the whole run, TCP_NODELAY on the socket
(paramiko never sets it; it saves two delayed-ACK stalls per connection),
AES-GCM preferred (paramiko would pick the slower aes128-ctr), jump-host
connections shared by every host behind them, and commands on raw channels
without invoke's runner threads.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from pathlib import Path
from typing import Any

import fabric
import paramiko

from deployer.connection import CHUNK, Connection, _Stream
from deployer.errors import Unreachable
from deployer.openssh import OpenSSHConnection, openssh_argv
from deployer.sshtarget import HostKeyCheck, Hop, SSHTarget
from deployer.tunnel import Tunnel

# paramiko logs failures we already turn into messages ("Secsh channel open FAILED"
# while a tunnelled port is not listening yet); without a handler Python would print them
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

_FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
#: a connection whose peer stops acknowledging for this long is dead (the host is unreachable)
DEAD_PEER_SECONDS = 30.0
KEEPALIVE_SECONDS = 10


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Accept and record a host key never seen before (ssh's accept-new)."""

    def __init__(self, record_to: Path | None, lock: threading.Lock) -> None:
        self.record_to = record_to
        self.lock = lock

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.record_to is None:
            return
        with self.lock:
            self.record_to.parent.mkdir(parents=True, exist_ok=True)
            with open(self.record_to, "a", encoding="utf-8") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def _transport_factory(sock: Any, **kwargs: Any) -> paramiko.Transport:
    t = paramiko.Transport(sock, **kwargs)
    opts = t.get_security_options()
    ciphers = list(opts.ciphers)
    opts.ciphers = tuple([c for c in _FAST_CIPHERS if c in ciphers] + [c for c in ciphers if c not in _FAST_CIPHERS])
    return t


class SSHConnector:
    """Opens SSH connections for one run; shares jump-host connections between hosts."""

    def __init__(self) -> None:
        self._configs: dict[str | None, paramiko.SSHConfig] = {}
        self._gateways: dict[tuple, fabric.Connection] = {}
        self._gw_locks: dict[tuple, threading.Lock] = {}
        self._hop_checks: dict[tuple, HostKeyCheck] = {}
        self._lock = threading.Lock()
        self._config_lock = threading.Lock()
        self._known_hosts_lock = threading.Lock()

    def ssh_config(self, path: str | None) -> paramiko.SSHConfig:
        with self._config_lock:
            if path not in self._configs:
                if path:
                    p = Path(path).expanduser()
                    if not p.is_file():
                        raise Unreachable(f"ssh config file {path} not found", hint="fix -F / ansible_ssh_common_args")
                    self._configs[path] = paramiko.SSHConfig.from_path(str(p))
                else:
                    cfg = paramiko.SSHConfig()
                    for candidate in (Path("~/.ssh/config").expanduser(), Path("/etc/ssh/ssh_config")):
                        if candidate.is_file():
                            with open(candidate, encoding="utf-8") as fh:
                                cfg.parse(fh)
                    self._configs[path] = cfg
            return self._configs[path]

    def _fabric_config(self, target: SSHTarget) -> fabric.Config:
        kwargs: dict[str, Any] = {"transport_factory": _transport_factory}
        if target.key_file:
            kwargs["key_filename"] = [str(Path(target.key_file).expanduser())]
        if target.password is not None:
            kwargs["password"] = target.password
        kwargs["banner_timeout"] = target.connect_timeout
        kwargs["auth_timeout"] = target.connect_timeout
        return fabric.Config(
            ssh_config=self.ssh_config(target.ssh_config_file),
            overrides={"connect_kwargs": kwargs, "load_ssh_configs": False},
        )

    def _known_hosts(self, target: SSHTarget, lookup: dict) -> tuple[list[Path], Path | None]:
        files = [Path(f).expanduser() for f in target.known_hosts_files]
        if not files and lookup.get("userknownhostsfile"):
            files = [Path(f).expanduser() for f in lookup["userknownhostsfile"].split()]
        record_to = files[0] if files else Path("~/.ssh/known_hosts").expanduser()
        if not files:
            files = [Path("~/.ssh/known_hosts").expanduser(), Path("/etc/ssh/ssh_known_hosts")]
        return files, record_to

    def _harden(self, conn: fabric.Connection, target: SSHTarget) -> HostKeyCheck:
        lookup = conn.ssh_config
        files, record_to = self._known_hosts(target, lookup)
        client = conn.client
        for f in files:
            if f.is_file():
                try:
                    client.load_host_keys(str(f)) if f == record_to else client.load_system_host_keys(str(f))
                except (OSError, paramiko.SSHException) as exc:
                    raise Unreachable(f"cannot read known hosts file {f}: {exc}")
        strict = str(lookup.get("stricthostkeychecking", "yes")).lower()
        accept_new = target.accept_new_host_keys or strict in ("accept-new", "no", "off")
        if accept_new:
            client.set_missing_host_key_policy(_AcceptNew(record_to, self._known_hosts_lock))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return HostKeyCheck(tuple(files), record_to, accept_new)

    def _gateway(self, hops: str, target: SSHTarget) -> tuple[fabric.Connection | None, list[Hop]]:
        """A shared, hardened fabric connection for a ProxyJump chain ("a,b"), and its hops."""
        prev: fabric.Connection | None = None
        chain: list[str] = []
        path: list[Hop] = []
        for hop in [h.strip() for h in hops.split(",") if h.strip()]:
            if hop.lower() == "none":
                return None, []
            chain.append(hop)
            key = (target.ssh_config_file, target.key_file, tuple(chain))
            config = self._fabric_config(target)
            with self._lock:
                gw = self._gateways.get(key)
                if gw is None:
                    gw = fabric.Connection(hop, config=config, gateway=prev or False)
                    gw.client.set_missing_host_key_policy(paramiko.RejectPolicy())
                    self._hop_checks[key] = self._harden(gw, target)
                    self._gateways[key] = gw
                    self._gw_locks[key] = threading.Lock()
                lock = self._gw_locks[key]
                path.append(Hop(hop, gw.port, gw.user, self._hop_checks[key]))
            with lock:
                if not gw.is_connected:
                    self._open(gw, f"jump host {hop}", hop)
                    gw.transport.set_keepalive(KEEPALIVE_SECONDS)
            prev = gw
        return prev, path

    def connect(self, target: SSHTarget) -> "SSHConnection":
        """Open a hardened connection to `target`; raises Unreachable."""
        config = self._fabric_config(target)
        lookup = config.base_ssh_config.lookup(target.host)
        jump = target.proxy_jump or lookup.get("proxyjump")
        gateway, hops = self._gateway(jump, target) if jump else (None, [])
        conn = fabric.Connection(
            target.host,
            user=target.user,
            port=target.port,
            config=config,
            gateway=gateway or False,
            connect_timeout=int(target.connect_timeout),
        )
        # fabric just installed AutoAddPolicy: replace it before anything connects
        check = self._harden(conn, target)
        if gateway is None:
            conn.connect_kwargs["sock"] = self._socket(conn.host, conn.port, target.connect_timeout, target.name)
        self._open(conn, target.name, target.host)
        # keepalives give TCP_USER_TIMEOUT something to time out on while a command is silent
        conn.transport.set_keepalive(KEEPALIVE_SECONDS)
        connection = SSHConnection(target.name, conn)
        connection.openssh = openssh_argv(target, [*hops, Hop(target.host, conn.port, conn.user, check)])
        return connection

    @staticmethod
    def _socket(host: str, port: int, timeout: float, name: str) -> socket.socket:
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout)
        except socket.timeout:
            raise Unreachable(f"{name}: connecting to {host}:{port} timed out after {timeout:g}s", hint="is the host up and the address right?")
        except OSError as exc:
            raise Unreachable(f"{name}: cannot connect to {host}:{port}: {exc.strerror or exc}", hint="is sshd running there and the port right?")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            # a host that vanishes (power off, cut link) drops the connection after this
            # long with data unacknowledged, instead of TCP's ~15 minutes of retries
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(DEAD_PEER_SECONDS * 1000))
        sock.settimeout(None)
        return sock

    @staticmethod
    def _open(conn: fabric.Connection, name: str, host: str) -> None:
        where = f"{conn.user}@{conn.host}:{conn.port}"
        try:
            conn.open()
        except paramiko.BadHostKeyException as exc:
            raise Unreachable(
                f"{name}: host key for {host} has CHANGED (got {exc.key.get_name()} {exc.key.get_fingerprint().hex()}); refusing to connect",
                hint=f"if the host was reinstalled, remove the old key with: ssh-keygen -R {host}",
            )
        except paramiko.AuthenticationException as exc:
            raise Unreachable(f"{name}: authentication failed for {where}: {exc}", hint="check ansible_user and ansible_ssh_private_key_file")
        except paramiko.SSHException as exc:
            text = str(exc)
            if "not found in known_hosts" in text:
                raise Unreachable(
                    f"{name}: host key for {host} is not known; refusing to connect",
                    hint="add it to known_hosts (ssh-keyscan), or run once with --ssh-accept-new",
                )
            raise Unreachable(f"{name}: SSH error with {where}: {text}")
        except socket.timeout:
            raise Unreachable(f"{name}: connection to {where} timed out")
        except (OSError, EOFError) as exc:
            raise Unreachable(f"{name}: cannot connect to {where}: {exc}")

    def close(self) -> None:
        with self._lock:
            gateways = list(self._gateways.values())
            self._gateways.clear()
        for gw in reversed(gateways):
            try:
                gw.close()
            except Exception:  # noqa: BLE001 - closing a dead gateway must not mask the run's outcome
                pass


class _ChannelStream(_Stream):
    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan

    def send(self, data: bytes) -> int:
        sent = 0
        try:
            while sent < len(data) and self.chan.send_ready():
                n = self.chan.send(data[sent : sent + CHUNK])
                if n <= 0:
                    break
                sent += n
        except (OSError, EOFError, paramiko.SSHException):
            return len(data)  # the far end went away; exit status tells the rest
        return sent

    def close_stdin(self) -> None:
        try:
            self.chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def poll(self, timeout: float, want_write: bool) -> tuple[bytes, bytes, bool, bool]:
        chan = self.chan
        can_write = want_write and chan.send_ready()
        if not (chan.recv_ready() or chan.recv_stderr_ready() or can_write):
            # paramiko offers no write readiness to wait on: poll briefly then
            wait = min(timeout, 0.005) if want_write else timeout
            if not chan.eof_received:
                # output or EOF wakes this up (the exit status may come first)
                select.select([chan], [], [], wait)
            elif not chan.exit_status_ready():
                # after EOF the channel selects readable for good: select
                # would spin until the exit status comes, so wait for that
                chan.status_event.wait(wait)
            can_write = want_write and chan.send_ready()
        out = bytearray()
        err = bytearray()
        while chan.recv_ready():
            out += chan.recv(CHUNK)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(CHUNK)
        finished = chan.exit_status_ready() and chan.eof_received and not chan.recv_ready() and not chan.recv_stderr_ready()
        if not finished:
            # a dead transport leaves the channel "closed" with no EOF and no
            # exit status (exit_status_ready() is then true): ask the transport
            transport = chan.get_transport()
            if transport is None or not transport.is_active():
                raise Unreachable("connection lost while a command was running")
        return bytes(out), bytes(err), finished, can_write

    def exit_code(self) -> int:
        return self.chan.recv_exit_status()

    def kill(self) -> None:
        self.chan.close()


class SSHConnection(Connection):
    """One SSH connection to a host, reused for every task of the run."""

    def __init__(self, name: str, conn: fabric.Connection) -> None:
        super().__init__(name, conn.user)
        self.fabric = conn
        self._tunnels: dict[tuple[str, int], Tunnel] = {}
        self._lock = threading.Lock()
        #: the OpenSSH client command line for this host (see openssh_argv), or None
        self.openssh: list[str] | None = None
        self._bulk: OpenSSHConnection | None = None

    def bulk(self) -> Connection:
        """Where to send bulk data: the OpenSSH client (a process per command,
        about twice paramiko's throughput) when there is one, else this connection."""
        if self.openssh is None:
            return self
        with self._lock:
            if self._bulk is None:
                self._bulk = OpenSSHConnection(self, self.openssh)
                if self._interrupted:
                    self._bulk.interrupt()
            return self._bulk

    def interrupt(self) -> None:
        super().interrupt()
        with self._lock:
            bulk = self._bulk
        if bulk is not None:
            bulk.interrupt()

    def _start(self, command: str) -> _Stream:
        transport = self.fabric.transport
        if transport is None or not transport.is_active():
            raise Unreachable(f"{self.name}: connection lost")
        try:
            chan = transport.open_session(timeout=30)
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(f"{self.name}: connection lost: {exc}")
        return _ChannelStream(chan)

    def host_key(self) -> str | None:
        transport = self.fabric.transport
        if transport is None:
            return None
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"

    def open_tunnel(self, host: str, port: int) -> tuple[str, int]:
        with self._lock:
            tunnel = self._tunnels.get((host, port))
            if tunnel is None:
                tunnel = Tunnel(self.fabric.transport, host, port)
                self._tunnels[(host, port)] = tunnel
            return "127.0.0.1", tunnel.port

    def close(self) -> None:
        with self._lock:
            for t in self._tunnels.values():
                t.close()
            self._tunnels.clear()
        try:
            self.fabric.client.close()
        except Exception:  # noqa: BLE001 - a dead transport may fail to close; nothing to do
            pass
