"""Facts gathered over real SSH from fleet hosts: one round trip each, the
login user's view (root with sudo, a user without sudo behind a jump host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.facts.probe import gather
from deployer.ssh import SSHConnection, SSHConnector, SSHTarget
from tests.fleet import Fleet


class CountingSSH(SSHConnection):
    """The real SSH connection, counting the commands it starts."""

    def __init__(self, inner: SSHConnection) -> None:
        super().__init__(inner.name, inner.fabric)
        self.started = 0

    def _start(self, command: str):  # type: ignore[no-untyped-def]
        self.started += 1
        return super()._start(command)


def connect(fleet: Fleet, connector: SSHConnector, host: str, user: str) -> CountingSSH:
    h = fleet.host(host)
    target = SSHTarget(
        name=host,
        host=h.address,
        port=h.port,
        user=user,
        key_file=str(fleet.client_key),
        ssh_config_file=str(fleet.ssh_config),
        known_hosts_files=(str(fleet.known_hosts),),
    )
    return CountingSSH(connector.connect(target))


def meminfo_total(fleet: Fleet, host: str) -> int:
    line = next(ln for ln in fleet.exec(host, "cat /proc/meminfo").stdout.splitlines() if ln.startswith("MemTotal:"))
    return int(line.split()[1]) * 1024


@pytest.mark.parametrize(
    ("host", "user", "sudo"),
    [("h1", "root", True), ("h6", "researcher", False)],  # h6 is reachable only through h1
)
def test_facts_from_fleet_hosts(fleet: Fleet, host: str, user: str, sudo: bool) -> None:
    connector = SSHConnector()
    try:
        conn = connect(fleet, connector, host, user)
        models = f"/tmp/facts-{user}/models/not-yet"
        facts = gather(conn, [models])
        conn.close()
    finally:
        connector.close()
    assert conn.started == 1
    assert facts.source == "probe"
    assert facts.hostname == fleet.exec(host, "uname -n").stdout.strip()
    assert (facts.user, facts.is_root, facts.software.sudo) == (user, user == "root", sudo)
    assert facts.home == fleet.exec(host, f"getent passwd {user}").stdout.split(":")[5]
    assert facts.memory.total_bytes == meminfo_total(fleet, host)
    assert facts.cpu.threads and facts.cpu.model != "unknown"
    assert facts.os.glibc and facts.arch in ("amd64", "arm64")
    assert facts.disks[0].path == models and facts.disks[0].total_bytes
    assert facts.disk_for(str(Path(models) / "blobs")) == facts.disks[0]
    assert not any("ended early" in n or "cut off" in n or "exited with status" in n for n in facts.notes), facts.notes
