"""Relay: hosts that have an artefact forward it to the next, so the control
node's link carries it about once (``transfer.push(..., transfer="relay")``).

Every host of a run pushing the same artefact to the same path joins one
:class:`RelayGroup`. A host that already has it, or has started receiving it,
is a *source*: it serves one other host at a time, straight from its file (a
``.part`` still growing is served as it grows, so a chain of hosts streams the
artefact at link speed, each hop a moment behind the one before). The control
node sends only while no host can serve: to the first host, and again if every
source failed. A host that cannot reach a source (another network, no
``python3``) gets it from the control node.

The hop between two hosts is plain TCP inside the lab network: the source
listens on a free port for one connection presenting a random token, and the
receiver appends what arrives to its ``.part``, hashing as it writes. The
digest check at the end (as for any push) guarantees the bytes; relay is for
artefacts that need integrity, not secrecy (releases, model weights).
"""

from __future__ import annotations

import secrets
import shlex
import threading
from dataclasses import dataclass, field

from deployer import transfer
from deployer.connection import Become, Connection
from deployer.errors import DeployerError, Interrupted
from deployer.modules.base import TaskContext

#: seconds a source waits for its receiver to connect, or for its own file to grow
IDLE_TIMEOUT = 60
#: seconds a source waits for its file to appear at all (its own receive starts
#: within a round trip or two of it joining the group; longer means it is gone)
APPEAR_TIMEOUT = 15
#: relay attempts per host before it takes the artefact from the control node
ATTEMPTS = 3

# The source: bind a free port, print it, go to the background and serve one
# receiver (the one with the token) from the .part, following it while it
# grows, or from dest once its marker names the digest.
_SERVE = r"""
import os, socket, sys, time
part, dest, marker, sha = sys.argv[1:5]
size, token, idle, appear = int(sys.argv[5]), sys.argv[6].encode(), float(sys.argv[7]), float(sys.argv[8])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("", 0)); s.listen(4); s.settimeout(idle)
print(s.getsockname()[1], flush=True)
if os.fork():
    os._exit(0)
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
def source():
    end = time.monotonic() + appear
    while time.monotonic() < end:
        try:
            with open(marker) as m:
                if m.read().split()[:1] == [sha]:
                    return open(dest, "rb")
        except OSError:
            pass
        try:
            return open(part, "rb")
        except OSError:
            time.sleep(0.05)
    return None
def serve(c):
    c.settimeout(idle)
    line = b""
    while not line.endswith(b"\n") and len(line) < 200:
        b = c.recv(1)
        if not b:
            return False
        line += b
    words = line.split()
    if len(words) != 2 or words[0] != token:
        return False
    offset = int(words[1])
    f = source()
    if f is None:
        return True
    still = time.monotonic()
    while offset < size:
        have = os.fstat(f.fileno()).st_size
        if have > offset:
            offset += c.sendfile(f, offset, have - offset)
            still = time.monotonic()
        elif time.monotonic() - still > idle:
            break
        else:
            time.sleep(0.02)
    return True
try:
    while True:
        c, _ = s.accept()
        try:
            if serve(c):
                break
        finally:
            c.close()
except OSError:
    pass
"""

# The receiver: connect, ask from an offset, print what arrives.
_FETCH = r"""
import socket, sys
host, port, token, offset = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = socket.create_connection((host, port), timeout=10)
c.settimeout(float(sys.argv[5]))
c.sendall(f"{token} {offset}\n".encode())
out = sys.stdout.buffer
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    out.write(b)
out.flush()
"""


@dataclass(eq=False)
class Source:
    """A host that has the artefact, or is receiving it, and may forward it."""

    host: str
    connection: Connection
    become: Become | None
    address: str
    complete: bool = False
    busy: bool = False
    alive: bool = True


@dataclass(eq=False)
class RelayGroup:
    """The hosts pushing one artefact to one path, and who serves whom."""

    sha256: str
    dest: str
    sources: dict[str, Source] = field(default_factory=dict)
    #: who each host is receiving from ("" = the control node): no cycles
    upstream: dict[str, str] = field(default_factory=dict)
    control_busy: bool = False
    control_sends: int = 0
    relayed: int = 0
    bad: set[tuple[str, str]] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def offer(self, src: Source) -> None:
        """`src` can serve (from now on; `complete`: it has the whole file)."""
        with self.cond:
            src.alive = True
            self.sources[src.host] = src
            self.cond.notify_all()

    def _feeds(self, source: str, target: str) -> bool:
        """Does `source` (directly or through others) receive from `target`?"""
        seen = set()
        while source and source not in seen:
            if source == target:
                return True
            seen.add(source)
            source = self.upstream.get(source, "")
        return False

    def acquire(self, target: str, conn: Connection) -> Source | None:
        """Wait for a free source for `target`; None means: the control node sends.
        Raises Interrupted when `conn` (the target's) is interrupted meanwhile."""
        with self.cond:
            while True:
                if conn.interrupted:
                    raise Interrupted(f"{target}: interrupted while waiting for a relay source")
                usable = [
                    s for s in self.sources.values()
                    if s.alive and s.host != target and (s.host, target) not in self.bad and not self._feeds(s.host, target)
                ]
                free = [s for s in usable if not s.busy]
                if free:
                    chosen = max(free, key=lambda s: s.complete)  # a finished file first
                    chosen.busy = True
                    self.upstream[target] = chosen.host
                    return chosen
                if not usable and not self.control_busy:
                    self.control_busy = True
                    self.control_sends += 1
                    self.upstream[target] = ""
                    return None
                self.cond.wait(1.0)

    def direct(self) -> None:
        """Count a send from the control node to a host outside the relay."""
        with self.cond:
            self.control_sends += 1

    def release(self, source: Source | None, target: str, ok: bool, source_failed: bool = False) -> None:
        with self.cond:
            if source is None:
                self.control_busy = False
            else:
                source.busy = False
                if ok:
                    self.relayed += 1
                elif source_failed:
                    source.alive = False
                else:
                    self.bad.add((source.host, target))
            self.cond.notify_all()

    def withdraw(self, host: str) -> None:
        """`host` failed: nobody may take the artefact from it until it offers again."""
        with self.cond:
            src = self.sources.get(host)
            if src is not None:
                src.alive = False
            self.cond.notify_all()


_groups: dict[tuple[str, str], RelayGroup] = {}
_groups_lock = threading.Lock()


def group(sha256: str, dest: str) -> RelayGroup:
    """The relay group of one artefact at one path (one per process)."""
    with _groups_lock:
        g = _groups.get((sha256, dest))
        if g is None:
            g = _groups[(sha256, dest)] = RelayGroup(sha256, dest)
        return g


def _address(ctx: TaskContext) -> str | None:
    """The host's own address on the network we reach it through (where peers may reach it)."""
    res = ctx.probe('set -- $SSH_CONNECTION; echo "$3"', become=False)
    addr = res.stdout.strip()
    return addr or None


def _source(ctx: TaskContext, st: transfer.HostState, complete: bool) -> Source | None:
    if not st.python3 or ctx.connection is None or ctx.connection.is_local:
        return None
    addr = _address(ctx)
    if addr is None:
        return None
    return Source(ctx.host, ctx.connection, ctx.become, addr, complete=complete)


def _from_peer(ctx: TaskContext, art: transfer.LocalArtifact, dest: str, offset: int, src: Source) -> tuple[bool, bool]:
    """Receive from `src`; returns (ok, the source failed)."""
    token = secrets.token_hex(16)
    serve = shlex.join([
        "python3", "-c", _SERVE, dest + ".part", dest, transfer.marker_path(dest), art.sha256,
        str(art.size), token, str(IDLE_TIMEOUT), str(APPEAR_TIMEOUT),
    ])
    try:
        res = src.connection.run(serve, become=src.become, timeout=30)
    except DeployerError:
        # its connection is gone (the host died, or an earlier run closed it)
        return False, True
    port = res.stdout.strip()
    if not res.ok or not port.isdigit():
        return False, True
    fetch = shlex.join(["python3", "-c", _FETCH, src.address, port, token, str(offset), str(IDLE_TIMEOUT)])
    res = ctx.run(transfer.receive_script(art, dest, offset, source=fetch), timeout=600 + art.size / (1 << 20))
    return res.ok, False


def push(ctx: TaskContext, art: transfer.LocalArtifact, dest: str, mode: str, owner: str | None, label: str) -> bool:
    """transfer.push with transfer="relay" (see the module docstring)."""
    g = group(art.sha256, dest)
    st = transfer.probe_state(ctx, art, dest)
    if st.present:
        if (src := _source(ctx, st, complete=True)) is not None:
            g.offer(src)
        return False
    transfer.check_space(ctx, art, dest, st, st.offset(art.size))
    me = _source(ctx, st, complete=False)
    try:
        for attempt in range(ATTEMPTS + 1):
            if attempt:
                st = transfer.probe_state(ctx, art, dest)
            offset = st.offset(art.size)
            if me is None or attempt == ATTEMPTS:
                # outside the relay (no python3, no address), or it kept failing
                g.direct()
                transfer.upload(ctx, art, dest, offset, label)
                break
            src = g.acquire(ctx.host, me.connection)
            g.offer(me)  # receiving from now on: others may follow this host
            if src is None:
                try:
                    transfer.upload(ctx, art, dest, offset, label)
                finally:
                    g.release(None, ctx.host, True)
                break
            ok, source_failed = _from_peer(ctx, art, dest, offset, src)
            g.release(src, ctx.host, ok, source_failed)
            if ok:
                break
            g.withdraw(ctx.host)
        transfer.finish(ctx, art, dest, mode, owner)
    except BaseException:
        g.withdraw(ctx.host)
        raise
    if me is not None:
        me.complete = True
    return True


def keep_until_task_end(ctx: TaskContext, files: list[tuple[str, str]], cleanup: str) -> None:
    """`ctx.host` is done with `files` ((sha256, dest) pairs it pushed by relay)
    and wants them gone by `cleanup`: other hosts of this task may still be
    taking them from it, so it keeps serving until every host finished the
    task; then it leaves their groups (nobody starts a copy from a removed
    file) and runs `cleanup`."""

    def later() -> None:
        for sha256, dest in files:
            group(sha256, dest).withdraw(ctx.host)
        ctx.run(cleanup).check(f"clean up after the relay of {', '.join(d for _, d in files)}")

    ctx.defer(later)


def stats(sha256: str, dest: str) -> dict[str, int]:
    """How the artefact travelled: sends from the control node, host-to-host hops."""
    g = group(sha256, dest)
    with g.cond:
        return {"control_sends": g.control_sends, "relayed": g.relayed}


def reset(sha256: str, dest: str) -> None:
    """Forget a group (its sources' connections are about to close)."""
    with _groups_lock:
        _groups.pop((sha256, dest), None)
