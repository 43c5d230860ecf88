"""transfer.push against real sshd hosts: the OpenSSH bulk path (with sudo,
through a jump host, with the same host-key checks as paramiko) and relay."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from deployer import relay, transfer
from deployer.connection import Become
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.ssh import HostKeyCheck, Hop, SSHConnection, SSHConnector, SSHTarget, openssh_argv
from tests.fleet import Fleet

pytestmark = pytest.mark.fleet


def connect(fleet: Fleet, host: str, user: str = "root", connector: SSHConnector | None = None) -> SSHConnection:
    h = fleet.host(host)
    target = SSHTarget(
        name=host, host=h.address, port=h.port, user=user, key_file=str(fleet.client_key),
        ssh_config_file=str(fleet.ssh_config), known_hosts_files=(str(fleet.known_hosts),),
    )
    conn = (connector or SSHConnector()).connect(target)
    assert isinstance(conn, SSHConnection)
    return conn


def ctx_for(conn: SSHConnection, become: Become | None = None, progress: list | None = None) -> TaskContext:
    sink = None
    if progress is not None:
        def sink(host: str, done: int, total: int, label: str) -> None:
            progress.append(done)
    return TaskContext(host=conn.name, connection=conn, vars={}, become=become, writable=True, progress_sink=sink)


def random_artefact(d: Path, name: str, size: int) -> transfer.LocalArtifact:
    """A file of random bytes under `d` (its digest cached under `d` too)."""
    os.environ.setdefault("XDG_CACHE_HOME", str(d / "cache"))
    src = d / name
    src.write_bytes(os.urandom(size))
    return transfer.local_artifact(src)


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> transfer.LocalArtifact:
    return random_artefact(tmp_path_factory.mktemp("artefact"), "bundle.tgz", 3 * transfer.CHUNK + 4321)


def test_bulk_push_with_sudo_password_goes_through_openssh(fleet: Fleet, artefact: transfer.LocalArtifact) -> None:
    conn = connect(fleet, "h2", user="deploy")
    try:
        assert conn.openssh is not None and conn.bulk() is not conn
        dest = f"/opt/{uuid.uuid4().hex[:8]}/bundle.tgz"
        ctx = ctx_for(conn, Become("root", "deploy-pass"))
        assert transfer.push(ctx, artefact, dest, mode="0640") is True
        on_host = fleet.path("h2", dest)
        assert on_host.read_bytes() == artefact.path.read_bytes(), "the sudo password must not reach the data"
        assert (on_host.stat().st_uid, oct(on_host.stat().st_mode & 0o777)) == (0, "0o640")
        assert not list(on_host.parent.glob("*.part*"))
        assert transfer.push(ctx, artefact, dest) is False
    finally:
        conn.close()


def test_bulk_path_through_the_jump_host(fleet: Fleet, artefact: transfer.LocalArtifact) -> None:
    conn = connect(fleet, "h6")
    try:
        assert conn.openssh is not None and any("ProxyCommand=" in w and "-W" in w for w in conn.openssh)
        dest = f"/srv/{uuid.uuid4().hex[:8]}.tgz"
        assert transfer.push(ctx_for(conn), artefact, dest) is True
        assert fleet.path("h6", dest).read_bytes() == artefact.path.read_bytes()
    finally:
        conn.close()


def test_bulk_path_refuses_a_changed_host_key_like_paramiko(fleet: Fleet, artefact: transfer.LocalArtifact) -> None:
    conn = connect(fleet, "h3")
    try:
        fleet.wrong_host_key("h3")  # after paramiko connected: only the OpenSSH client checks now
        dest = f"/srv/{uuid.uuid4().hex[:8]}.tgz"
        with pytest.raises(ModuleFailure, match="upload of bundle.tgz"):
            transfer.push(ctx_for(conn), artefact, dest)
        assert not fleet.path("h3", dest).exists()
        part = fleet.path("h3", dest + ".part")
        assert not part.exists() or part.stat().st_size == 0, "no data may go to a host whose key changed"
    finally:
        conn.close()


def test_unknown_host_key_refused_unless_accept_new(fleet: Fleet, artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    others = "".join(ln + "\n" for ln in fleet.known_hosts.read_text().splitlines() if not ln.startswith("h4,"))
    known = tmp_path / "known_hosts"
    h = fleet.host("h4")
    check = HostKeyCheck((known,), known, accept_new=False)
    strict = SSHTarget(name="h4", host=h.address, port=h.port, user="root", key_file=str(fleet.client_key))
    argv = openssh_argv(strict, [Hop(h.address, h.port, "root", check)])
    assert argv is not None and "StrictHostKeyChecking=yes" in argv
    known.write_text(others)
    proc = subprocess.run([*argv, "true"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr
    assert known.read_text() == others

    target = SSHTarget(name="h4", host=h.address, port=h.port, user="root", key_file=str(fleet.client_key),
                       known_hosts_files=(str(known),), accept_new_host_keys=True)
    conn = SSHConnector().connect(target)
    try:
        assert "StrictHostKeyChecking=accept-new" in conn.openssh  # type: ignore[operator]
        known.write_text(others)  # forget what paramiko recorded: the OpenSSH client meets the key anew
        assert transfer.push(ctx_for(conn), artefact, f"/srv/{uuid.uuid4().hex[:8]}.tgz") is True
        assert len(known.read_text().splitlines()) == len(others.splitlines()) + 1, "accept-new records the key"
    finally:
        conn.close()


def test_relay_sends_from_the_control_node_once(fleet: Fleet, artefact: transfer.LocalArtifact) -> None:
    dest = f"/srv/relay-{uuid.uuid4().hex[:8]}/bundle.tgz"
    connector = SSHConnector()
    names = ["h1", "h2", "h3", "h4", "h5", "h6"]
    conns = {n: connect(fleet, n, connector=connector) for n in names}
    errors: list[BaseException] = []

    def one(name: str) -> None:
        try:
            assert transfer.push(ctx_for(conns[name]), artefact, dest, transfer="relay") is True
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        for n in names:
            assert fleet.path(n, dest).read_bytes() == artefact.path.read_bytes(), n
        stats = relay.stats(artefact.sha256, dest)
        # h6 sits behind h1 on another network: no peer reaches it, nor it them
        assert stats == {"control_sends": 2, "relayed": 4}, stats
        # a host that has it serves the others on the next run
        again = [transfer.push(ctx_for(conns[n]), artefact, dest, transfer="relay") for n in names]
        assert again == [False] * len(names)
    finally:
        relay.reset(artefact.sha256, dest)
        for c in conns.values():
            c.close()
        connector.close()
