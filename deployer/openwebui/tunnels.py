"""SSH tunnels from a front door to Ollama backends that listen on loopback.

``backend_reach: tunnel`` lets one Open WebUI use several Ollama nodes whose
API stays on 127.0.0.1 (the safe default): the front-door host keeps one SSH
port forward per node, ``127.0.0.1:<tunnel_port + i>`` on the front door to
``127.0.0.1:<backend_port>`` on node i, and Open WebUI's OLLAMA_BASE_URLS
names those local ports. Nothing listens on a public interface anywhere.

What deployer sets up, as the login user on each side (no root needed):

- on the front door, in ``~/.local/state/deployer/open-webui-tunnels/<name>/``:
  a key pair made there (the private key never leaves the host), a
  known_hosts holding each node's host key as the control node verified it
  (strict checking, nothing learnt on first use), and ``keeper.sh``, a
  detached loop per node around ``ssh -N -L`` that reconnects when a link
  drops (pid file and log beside it);
- on each node, one line in ``~/.ssh/authorized_keys`` for that key that
  allows nothing but forwarding to Ollama's port:
  ``restrict,port-forwarding,permitopen="127.0.0.1:<port>",command="/bin/false"``.

A rerun with the same nodes changes nothing; another node list rewrites the
keeper and restarts it, and takes the key off nodes that are no longer
backends (a warning when one cannot be reached). The keeper does not survive a reboot of the front
door (the next run starts it again).
"""

from __future__ import annotations

import hashlib
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from deployer.connection import Connection
from deployer.errors import DeployerError, ModuleFailure
from deployer.modules.base import TaskContext

#: the keeper's directory under the front door user's home
STATE_DIR = ".local/state/deployer/open-webui-tunnels"
KEEPER = "keeper.sh"


@dataclass(frozen=True)
class Backend:
    """One Ollama node behind the front door, and the tunnel to it."""

    host: str  # inventory name
    address: str  # where the front door reaches its sshd (ansible_host)
    ssh_port: int
    user: str | None  # ansible_user (None: the front door user's name)
    local_port: int  # on the front door's 127.0.0.1
    ollama_port: int  # on the node's 127.0.0.1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.ssh_port == 22 else f"[{self.address}]:{self.ssh_port}"


def backends(hosts: list[tuple[str, Mapping[str, Any]]], first_port: int, ollama_port: int) -> list[Backend]:
    """The tunnels for these (inventory name, host vars) in order."""
    out = []
    for i, (name, hv) in enumerate(hosts):
        user = hv.get("ansible_user")
        out.append(Backend(
            host=name,
            address=str(hv.get("ansible_host", name)),
            ssh_port=int(hv.get("ansible_port", 22) or 22),
            user=str(user) if user else None,
            local_port=first_port + i,
            ollama_port=ollama_port,
        ))
    return out


def comment(ctx: TaskContext, name: str) -> str:
    """What marks this front door's key (and its authorized_keys lines)."""
    return f"deployer-tunnel:{ctx.host}:{name}"


def authorized_line(b: Backend, public_key: str, tag: str) -> str:
    kind, blob = public_key.split()[:2]
    return f'restrict,port-forwarding,permitopen="127.0.0.1:{b.ollama_port}",command="/bin/false" {kind} {blob} {tag}'


def keeper_script(tunnels: list[Backend]) -> str:
    """The front door's keeper: one reconnecting `ssh -N -L` per backend."""
    lines = [
        "#!/bin/sh",
        "# SSH tunnels from Open WebUI to its Ollama backends; written by deployer, rewritten on change",
        'd=$(cd "$(dirname "$0")" && pwd)',
        "tunnel() {  # local port, [user@]address, ssh port, ollama port",
        "  while :; do",
        '    ssh -N -F /dev/null -i "$d/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \\',
        '      -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$d/known_hosts" -o GlobalKnownHostsFile=/dev/null \\',
        "      -o ExitOnForwardFailure=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -o ConnectTimeout=10 \\",
        '      -p "$3" -L "127.0.0.1:$1:127.0.0.1:$4" "$2"',
        '    echo "$(date "+%F %T") tunnel 127.0.0.1:$1 -> $2: ssh ended ($?), again in 3 s"',
        "    sleep 3",
        "  done",
        "}",
    ]
    for b in tunnels:
        dest = f"{b.user}@{b.address}" if b.user else b.address
        lines.append(f"tunnel {b.local_port} {shlex.quote(dest)} {b.ssh_port} {b.ollama_port} &  # {b.host}")
    lines.append("wait")
    return "\n".join(lines) + "\n"


@dataclass
class Plan:
    """What check() found; apply() makes it so."""

    name: str
    tunnels: list[Backend]
    keeper: str
    known_hosts: str
    directory: str
    public_key: str | None  # None: the key is made by apply()
    authorize: list[Backend] = field(default_factory=list)  # nodes without this key's line
    revoke: list[str] = field(default_factory=list)  # earlier backends that are no longer
    restart: bool = False
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def _peer(ctx: TaskContext, host: str, why: str) -> Connection:
    try:
        return ctx.peer(host)
    except DeployerError as exc:
        raise ModuleFailure(f"cannot reach backend {host} to {why}: {exc}") from None


def _host_key(ctx: TaskContext, b: Backend) -> str:
    conn = _peer(ctx, b.host, "read its host key")
    key = conn.host_key()
    if key is None:
        raise ModuleFailure(
            f"backend {b.host} is not reached over SSH (ansible_connection=local?): no host key to trust for the tunnel",
            hint="backend_reach: tunnel is for nodes the front door reaches by SSH",
        )
    return f"{b.known_hosts_name} {key}"


@dataclass(frozen=True)
class FrontState:
    """The tunnel files and keeper on the front door."""

    directory: str
    public_key: str | None
    keeper_sha: str | None
    running: bool
    nodes: tuple[str, ...]  # the backends the current keeper.sh serves (its "# host" comments)


def _front_state(ctx: TaskContext, name: str) -> FrontState:
    """What the front door has, in one round trip."""
    script = f"""d="$HOME"/{STATE_DIR}/{shlex.quote(name)}
echo "dir $d"
[ -f "$d/id_ed25519" ] && [ -f "$d/id_ed25519.pub" ] && echo "pub $(cat "$d/id_ed25519.pub")"
[ -f "$d/{KEEPER}" ] && echo "keeper $(cat "$d/{KEEPER}" "$d/known_hosts" 2>/dev/null | sha256sum | cut -c1-64)" &&
  sed -n 's/^tunnel .* \\&  # \\([^ ]*\\)$/node \\1/p' "$d/{KEEPER}"
pid=$(cat "$d/keeper.pid" 2>/dev/null)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q {KEEPER} "/proc/$pid/cmdline" 2>/dev/null && echo running
command -v ssh >/dev/null 2>&1 || echo no-ssh
true"""
    res = ctx.probe(script, become=False)
    if not res.ok:
        raise ModuleFailure(f"cannot read the tunnel state on {ctx.host}: {res.tail(3)}")
    directory, pub, sha, running, nodes = "", None, None, False, []
    for line in res.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "dir":
            directory = rest
        elif word == "pub":
            pub = rest.strip()
        elif word == "keeper":
            sha = rest.strip()
        elif word == "node":
            nodes.append(rest.strip())
        elif word == "running":
            running = True
        elif word == "no-ssh":
            raise ModuleFailure(f"no ssh client on {ctx.host}", hint="install openssh-client there, or use backend_reach: network")
    return FrontState(directory, pub, sha, running, tuple(nodes))


def _authorized(ctx: TaskContext, b: Backend, tag: str) -> list[str]:
    """This front door's lines in the node's authorized_keys (of its login user)."""
    res = _peer(ctx, b.host, "check its authorized_keys").run(
        f'grep -F -- {shlex.quote(" " + tag)} "$HOME/.ssh/authorized_keys" 2>/dev/null; true'
    )
    return [ln for ln in res.stdout.splitlines() if ln.endswith(" " + tag)]


def check(ctx: TaskContext, name: str, tunnels: list[Backend]) -> Plan:
    """Compare the front door and the nodes with what the tunnels need (read-only)."""
    front = _front_state(ctx, name)
    known = "".join(_host_key(ctx, b) + "\n" for b in tunnels)
    keeper = keeper_script(tunnels)
    pub = front.public_key
    plan = Plan(name, tunnels, keeper, known, front.directory, public_key=pub)
    tag = comment(ctx, name)
    if pub is None:
        plan.steps.append("make the tunnel key")
        plan.authorize = list(tunnels)
    else:
        plan.authorize = [b for b in tunnels if _authorized(ctx, b, tag) != [authorized_line(b, pub, tag)]]
    if plan.authorize:
        plan.steps.append(
            f"authorize it on {', '.join(b.host for b in plan.authorize)} (forwarding to Ollama's port only)"
        )
    want = hashlib.sha256((keeper + known).encode()).hexdigest()
    if front.keeper_sha != want or not front.running:
        plan.restart = True
        what = "restart" if front.running else "start"
        plan.steps.append(f"{what} the SSH tunnels to {', '.join(b.host for b in tunnels)}")
    current = {b.host for b in tunnels}
    plan.revoke = [h for h in front.nodes if h not in current]
    if plan.revoke:
        plan.steps.append(f"remove the key from {', '.join(plan.revoke)} (no longer a backend)")
    return plan


def apply(ctx: TaskContext, plan: Plan) -> None:
    d = shlex.quote(plan.directory)
    tag = comment(ctx, plan.name)
    if plan.public_key is None:
        res = ctx.run(
            f"mkdir -p {d} && chmod 700 {d} && rm -f {d}/id_ed25519 {d}/id_ed25519.pub && "
            f"ssh-keygen -q -t ed25519 -N '' -C {shlex.quote(tag)} -f {d}/id_ed25519 && cat {d}/id_ed25519.pub",
            become=False,
        )
        if not res.ok:
            raise ModuleFailure(f"cannot make the tunnel key on {ctx.host}: {res.tail(3)}")
        plan.public_key = res.stdout.strip()
    assert plan.public_key is not None
    for b in plan.authorize:
        ctx.require_writable(f"authorize the tunnel key on {b.host}")
        script = _rewrite_authorized(tag, authorized_line(b, plan.public_key, tag))
        res = _peer(ctx, b.host, "authorize the tunnel key").run(script)
        if not res.ok:
            raise ModuleFailure(f"cannot add the tunnel key to {b.host}'s authorized_keys: {res.tail(3)}")
    if plan.restart:
        _restart(ctx, plan)
    for host in plan.revoke:
        _revoke(ctx, host, tag)
    ctx.report(tunnels=[{"backend": b.host, "local": f"127.0.0.1:{b.local_port}", "remote": f"{b.address}:{b.ollama_port}"}
                        for b in plan.tunnels])


def _rewrite_authorized(tag: str, line: str | None) -> str:
    """Shell: the login user's authorized_keys without this front door's lines, plus `line` (atomic rename)."""
    add = f'printf "%s\\n" {shlex.quote(line)}; ' if line else ""
    return (
        'umask 077; mkdir -p "$HOME/.ssh" && f="$HOME/.ssh/authorized_keys" && touch "$f" && '
        f'{{ grep -v -F -- {shlex.quote(" " + tag)} "$f"; {add}}} > "$f.deployer-new"; '
        'chmod 600 "$f.deployer-new" && mv -f "$f.deployer-new" "$f"'
    )


def _revoke(ctx: TaskContext, host: str, tag: str) -> None:
    """Take this front door's line out of a former backend's authorized_keys (a warning when it cannot)."""
    ctx.require_writable(f"remove the tunnel key from {host}")
    script = _rewrite_authorized(tag, None)
    try:
        res = ctx.peer(host).run(script)
        problem = None if res.ok else res.tail(3)
    except DeployerError as exc:
        problem = str(exc)
    if problem:
        ctx.warn(f"could not remove the tunnel key from {host} ({problem}): delete the line ending in '{tag}' "
                 "from its ~/.ssh/authorized_keys by hand")


def _restart(ctx: TaskContext, plan: Plan) -> None:
    d = shlex.quote(plan.directory)
    files = (
        f"printf %s {shlex.quote(plan.keeper)} > {d}/{KEEPER}.new && chmod 700 {d}/{KEEPER}.new && mv -f {d}/{KEEPER}.new {d}/{KEEPER} && "
        f"printf %s {shlex.quote(plan.known_hosts)} > {d}/known_hosts.new && mv -f {d}/known_hosts.new {d}/known_hosts"
    )
    stop = (
        f'pid=$(cat {d}/keeper.pid 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q {KEEPER} "/proc/$pid/cmdline"; then '
        'kill -TERM "-$pid" 2>/dev/null; for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; '
        'kill -KILL "-$pid" 2>/dev/null; fi; '
        f"rm -f {d}/keeper.pid"
    )
    # the keeper alone goes to the background (with its own session and
    # files), so this command ends, and its SSH channel closes, at once
    start = (
        f"cd {d} || exit 1\n"
        f"setsid sh -c 'echo $$ > keeper.pid.new && mv -f keeper.pid.new keeper.pid; exec sh ./{KEEPER}' "
        ">> keeper.log 2>&1 < /dev/null &\n"
        "i=0; while [ ! -s keeper.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; cat keeper.pid"
    )
    res = ctx.run(f"umask 077; mkdir -p {d} && {files} || exit 1\n{stop}\n{start}", become=False)
    if not res.ok or not res.stdout.strip().isdigit():
        raise ModuleFailure(f"cannot start the SSH tunnels on {ctx.host}: {res.tail(3) or 'no pid file'}")


def log_tail(ctx: TaskContext, plan_dir: str) -> str:
    return ctx.probe(f"tail -n 8 {shlex.quote(plan_dir)}/keeper.log 2>/dev/null", become=False).stdout.strip()


def wait_up(ctx: TaskContext, tunnels: list[Backend], timeout: float = 20.0) -> bool:
    """Wait until every tunnel's local port accepts connections (ssh is then forwarding)."""
    ports = " ".join(str(b.local_port) for b in tunnels)
    script = f"""for p in {ports}; do
  if command -v ss >/dev/null 2>&1; then ss -Hltn "sport = :$p" | grep -q LISTEN || exit 1
  else sleep 2; exit 0; fi
done"""
    end = time.monotonic() + timeout
    while True:
        if ctx.probe(script, become=False).ok:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.3)
