"""Real sshd hosts on this machine for integration tests: the Python face of fleet.sh.

    with Fleet(3, jump_host=True, systemd_hosts=["h2"]) as fleet:
        fleet.ssh("h3", "hostname")           # OpenSSH via ProxyJump h1
        fleet.exec("h2", "systemctl is-system-running")   # inside, no ssh
        inventory = fleet.write_inventory(tmp_path / "hosts.ini")

Each host has its own sshd, host key, hostname, network namespace, PID
namespace, /tmp, /run and a copy-on-write view of this machine's root (see
fleet.sh). Several fleets run at once (each takes its own instance id, subnet
and names); a fleet left behind by a dead process is swept by the next `up`.
Needs root, openssh-server, iproute2 and overlayfs; :class:`FleetUnavailable`
says which is missing so callers can skip.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

from tests.fleet.inventory import render_inventory

SCRIPT = Path(__file__).with_name("fleet.sh")
#: PATH for commands run inside a host (the controller's own PATH has pyenv etc.)
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


@dataclass(frozen=True)
class FleetUser:
    """A user on every host; `sudo` is "password", "nopasswd" or "none"."""

    name: str
    password: str | None
    sudo: str


#: The users of a fleet started with users=True: sudo asking for a password,
#: passwordless sudo, and no sudo at all (an HPC account). The client key logs
#: in as each of them.
USERS: tuple[FleetUser, ...] = (
    FleetUser("deploy", "deploy-pass", "password"),
    FleetUser("ops", None, "nopasswd"),
    FleetUser("researcher", "researcher-pass", "none"),
)


@dataclass(frozen=True)
class FleetHost:
    """One host: where to reach it and where its files are on the controller."""

    name: str
    address: str
    port: int
    root: Path
    via: str | None
    systemd: bool


class FleetUnavailable(Exception):
    """This machine cannot run a fleet (not root, no sshd, no `ip netns`, ...)."""


class FleetError(Exception):
    """fleet.sh or a command inside a host failed."""


def _run_failed(what: str, proc: subprocess.CompletedProcess) -> FleetError:
    return FleetError(f"{what} failed (exit {proc.returncode})\nstdout: {proc.stdout}\nstderr: {proc.stderr}")


def missing_prerequisites() -> str | None:
    """Why this machine cannot run a fleet, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts)"
    if not Path("/usr/sbin/sshd").is_file():
        return "no /usr/sbin/sshd (apt-get install openssh-server)"
    for tool in ("ip", "tc", "nsenter", "unshare", "ssh", "ssh-keygen", "openssl", "useradd"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (apt-get install iproute2 openssh-client util-linux passwd openssl)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


class Fleet:
    """N real sshd hosts h1..hN; a context manager (`up()` / `down()`)."""

    def __init__(
        self,
        n: int = 5,
        *,
        jump_host: bool = False,
        systemd_hosts: Sequence[str] = (),
        users: bool = True,
        workdir: Path | None = None,
        quickack: bool = False,
    ) -> None:
        """`jump_host`: the last host is reachable only through h1 (ProxyJump).
        `systemd_hosts`: hosts that behave as if systemd ran (daemonless systemctl).
        `users`: create :data:`USERS` on every host. `workdir`: FLEET_DIR
        (default /tmp/deployer-fleet/<id>)."""
        if n < (2 if jump_host else 1):
            raise ValueError(f"n={n}: a fleet needs at least {2 if jump_host else 1} host(s)")
        unknown = [h for h in systemd_hosts if h not in {f"h{i}" for i in range(1, n + 1)}]
        if unknown:
            raise ValueError(f"systemd_hosts {unknown}: not in h1..h{n}")
        self.n = n
        self.jump_host = jump_host
        self.systemd_hosts = tuple(systemd_hosts)
        self.users: tuple[FleetUser, ...] = USERS if users else ()
        self.workdir = workdir
        self.quickack = quickack
        self.dir: Path | None = None
        self.id: int | None = None
        self.hosts: list[FleetHost] = []
        self.up_seconds: float | None = None
        self._known_hosts_text = ""
        self._disturbed: dict[str, set[str]] = {}

    # --- life cycle -----------------------------------------------------------

    def up(self) -> "Fleet":
        """Start the hosts (sweeping fleets whose owner died first); raises
        FleetUnavailable when this machine cannot, FleetError when starting failed."""
        if self.dir is not None:
            raise FleetError(f"fleet {self.id} is already up")
        reason = missing_prerequisites()
        if reason:
            raise FleetUnavailable(reason)
        if self.systemd_hosts:
            _ensure_systemctl_cache()
        for u in self.users:
            if not _NAME.match(u.name) or any(c in (u.password or "") for c in ": \t\n"):
                raise ValueError(f"user {u.name!r}: names are [a-z0-9_-], passwords without ':' or spaces")
        env = {
            **os.environ,
            "FLEET_OWNER": str(os.getpid()),
            "FLEET_HIDDEN": "1" if self.jump_host else "0",
            "FLEET_SYSTEMD": " ".join(self.systemd_hosts),
            "FLEET_USERS": " ".join(f"{u.name}:{u.sudo}:{u.password or ''}" for u in self.users),
            "FLEET_QUICKACK": "1" if self.quickack else "0",
        }
        env.pop("FLEET_ID", None)
        env.pop("FLEET_DIR", None)
        if self.workdir is not None:
            env["FLEET_DIR"] = str(self.workdir)
        started = time.monotonic()
        proc = subprocess.run(["bash", str(SCRIPT), "up", str(self.n)], env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise _run_failed(f"fleet.sh up {self.n}", proc)
        self.up_seconds = time.monotonic() - started
        self.dir = Path(proc.stdout.strip().splitlines()[-1].partition("=")[2])
        self.id = int((self.dir / "id").read_text())
        atexit.register(self.down)
        self.hosts = []
        for line in (self.dir / "hosts.tsv").read_text().splitlines():
            name, address, port, via, systemd = line.split("\t")
            root = self.dir / "roots" / name
            self.hosts.append(FleetHost(name, address, int(port), root, None if via == "-" else via, systemd == "1"))
        self._known_hosts_text = self.known_hosts.read_text()
        return self

    def down(self) -> None:
        """Stop every host and remove all the fleet made; safe to call twice."""
        if self.dir is None:
            return
        atexit.unregister(self.down)
        try:
            self._script("down")
        finally:
            self.dir, self.hosts, self._disturbed = None, [], {}

    @staticmethod
    def sweep() -> None:
        """Clean up fleets whose owning process died (also done by every `up`)."""
        proc = subprocess.run(["bash", str(SCRIPT), "sweep"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise _run_failed("fleet.sh sweep", proc)

    def __enter__(self) -> "Fleet":
        return self if self.dir is not None else self.up()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.down()

    def __repr__(self) -> str:
        return f"<Fleet {self.id} {self.n} hosts at {self.dir}>"

    # --- where things are -----------------------------------------------------

    def _d(self) -> Path:
        if self.dir is None:
            raise FleetError("the fleet is not up")
        return self.dir

    @property
    def ssh_config(self) -> Path:
        """OpenSSH client config: Host h1..hN (and their addresses), user root, the client key."""
        return self._d() / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self._d() / "known_hosts"

    @property
    def client_key(self) -> Path:
        """Private key that logs in as root and as every fleet user on every host."""
        return self._d() / "client_key"

    @property
    def controller_address(self) -> str:
        """This machine's address on the fleet's bridge: where direct hosts reach
        a server a test runs here (hosts behind the jump host cannot)."""
        return (self._d() / "controller").read_text().strip()

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def host(self, name: str) -> FleetHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in this fleet (have {', '.join(self.names)})")

    def init_pid(self, host: str) -> int:
        """PID (on the controller) of the host's PID 1."""
        self.host(host)
        return int((self._d() / "ctl" / host / "init.pid").read_text())

    def path(self, host: str, p: str) -> Path:
        """Path `p` of `host` as seen from the controller (its /tmp and /run too)."""
        return Path(f"/proc/{self.init_pid(host)}/root") / p.lstrip("/")

    # --- running things -------------------------------------------------------

    def exec(
        self,
        host: str,
        cmd: str | Sequence[str],
        check: bool = True,
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        """Run `cmd` as root inside `host` without ssh (a str goes through /bin/sh)."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        ns = ["nsenter", "-t", str(self.init_pid(host)), "-m", "-u", "-p", "-n", "-r", "-w", "--"]
        clean = {"PATH": HOST_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        pid = self.init_pid(host)
        proc = subprocess.run(ns + argv, input=input, env=clean, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            err = _run_failed(f"{host}: {cmd!r}", proc)
            if not Path(f"/proc/{pid}").exists():  # the host itself is gone: say what it left
                ctl = self._d() / "ctl" / host
                logs = "".join(f"\n{f.name}: {f.read_text(errors='replace')[-2000:]}"
                               for f in (ctl / "launcher.out", ctl / "sshd.log") if f.is_file())
                err = FleetError(f"{err}\n{host}'s PID 1 ({pid}) is gone{logs}")
            raise err
        return proc

    def ssh_argv(self, host: str, user: str | None = None, options: Sequence[str] = ()) -> list[str]:
        """An OpenSSH command line for `host` through the fleet's ssh_config."""
        dest = f"{user}@{host}" if user else host
        return ["ssh", "-F", str(self.ssh_config), *options, dest]

    def ssh(
        self,
        host: str,
        cmd: str,
        *,
        user: str | None = None,
        check: bool = True,
        input: str | None = None,
        options: Sequence[str] = (),
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        """Run `cmd` on `host` with the OpenSSH client (as root unless `user`)."""
        argv = self.ssh_argv(host, user, options) + [cmd]
        proc = subprocess.run(argv, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise _run_failed(" ".join(argv), proc)
        return proc

    # --- disturbances (undone by restore()) -----------------------------------

    def _script(self, *args: str) -> None:
        env = {**os.environ, "FLEET_DIR": str(self._d())}
        env.pop("FLEET_ID", None)
        proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise _run_failed(f"fleet.sh {' '.join(args)}", proc)

    def _disturb(self, host: str, what: str, disturbed: bool, *args: str) -> None:
        self.host(host)
        self._script(*args)
        marks = self._disturbed.setdefault(host, set())
        if disturbed:
            marks.add(what)
        else:
            marks.discard(what)

    def stop_sshd(self, host: str) -> None:
        """Kill every sshd of `host`: new connections refused, open ones dropped.
        The host itself (its services, its files) stays up."""
        self._disturb(host, "sshd", True, "sshd-stop", host)

    def start_sshd(self, host: str) -> None:
        """Start the host's sshd again (returns once it listens)."""
        self._disturb(host, "sshd", False, "sshd-start", host)

    def cut_network(self, host: str) -> None:
        """Take the host's link down: packets vanish, connections time out."""
        self._disturb(host, "network", True, "net-cut", host)

    def restore_network(self, host: str) -> None:
        self._disturb(host, "network", False, "net-restore", host)

    def rate_limit(self, host: str, mbit: int) -> None:
        """Limit the host's link to `mbit` Mbit/s in both directions (tc tbf)."""
        self._disturb(host, "rate", True, "rate-limit", host, str(int(mbit)))

    def clear_rate_limit(self, host: str) -> None:
        self._disturb(host, "rate", False, "rate-clear", host)

    def _set_host_key_line(self, host: str, line: str) -> None:
        # only this host's line: whatever else a test added (accept-new) stays
        lines = self.known_hosts.read_text().splitlines()
        self.known_hosts.write_text("".join((line if ln.startswith(f"{host},") else ln) + "\n" for ln in lines))

    def wrong_host_key(self, host: str) -> None:
        """Make the known_hosts entry of `host` name a key the host does not have."""
        self.host(host)
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp) / "k"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
            other = " ".join(key.with_suffix(".pub").read_text().split()[:2])
        names = next(ln for ln in self._known_hosts_text.splitlines() if ln.startswith(f"{host},")).split()[0]
        self._set_host_key_line(host, f"{names} {other}")
        self._disturbed.setdefault(host, set()).add("hostkey")

    def right_host_key(self, host: str) -> None:
        """Put back the true known_hosts entry of `host`."""
        self.host(host)
        self._set_host_key_line(host, next(ln for ln in self._known_hosts_text.splitlines() if ln.startswith(f"{host},")))
        self._disturbed.get(host, set()).discard("hostkey")

    def restore(self, host: str | None = None) -> None:
        """Undo every disturbance on `host` (default: all hosts)."""
        undo = {"sshd": self.start_sshd, "network": self.restore_network,
                "rate": self.clear_rate_limit, "hostkey": self.right_host_key}
        for name in [host] if host else list(self._disturbed):
            for what in sorted(self._disturbed.get(name, set())):
                undo[what](name)

    # --- inventories ----------------------------------------------------------

    def write_inventory(
        self,
        path: Path,
        fmt: str = "ini",
        hosts: Sequence[str] | None = None,
        host_vars: Mapping[str, Mapping[str, Any]] | None = None,
        group_vars: Mapping[str, Any] | None = None,
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> Path:
        """Write an Ansible inventory (fmt "ini" or "yaml") of `hosts` (default
        all) in group `fleet`: ansible_host/port per host; ansible_user root,
        the client key and ansible_ssh_common_args='-F <ssh_config>' as group
        vars, overridden by `group_vars`; `host_vars` per host; extra `groups`."""
        chosen = [self.host(h) for h in (hosts if hosts is not None else self.names)]
        defaults: dict[str, Any] = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": f"-F {self.ssh_config}",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        per_host = {h.name: {"ansible_host": h.address, "ansible_port": h.port, **(host_vars or {}).get(h.name, {})} for h in chosen}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_inventory(fmt, per_host, {**defaults, **(group_vars or {})}, dict(groups or {})))
        return path


def _ensure_systemctl_cache() -> None:
    """Debian's daemonless systemctl in the cache (downloaded once; not installed)."""
    proc = subprocess.run(["bash", str(SCRIPT), "systemctl-cache"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise FleetUnavailable(f"cannot get Debian's `systemctl` package for systemd hosts: {proc.stderr.strip()}")
