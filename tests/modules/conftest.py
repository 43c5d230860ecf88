"""Fixtures for the module case tests: a local temp root, and fleet hosts for
the cases that need systemd (h1: Debian's daemonless systemctl) or a host
without it (h2)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

# `tests.modules` / `tests.fleet` must import under a bare `pytest` too
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from deployer.ssh import SSHConnection, SSHConnector, SSHTarget  # noqa: E402
from tests.fleet import Fleet  # noqa: E402
from tests.fleet.pytest_support import start_fleet  # noqa: E402

#: case `host:` -> fleet host
FLEET_HOSTS = {"systemd": "h1", "plain": "h2"}


@pytest.fixture(scope="session")
def module_fleet() -> Iterator[dict[str, SSHConnection]]:
    """Root SSH connections to a fleet host with systemd and one without."""
    fleet = start_fleet(Fleet(2, systemd_hosts=("h1",), users=False))
    connector = SSHConnector()
    try:
        conns = {}
        for kind, name in FLEET_HOSTS.items():
            h = fleet.host(name)
            target = SSHTarget(
                name=name,
                host=h.address,
                port=h.port,
                user="root",
                key_file=str(fleet.client_key),
                ssh_config_file=str(fleet.ssh_config),
                known_hosts_files=(str(fleet.known_hosts),),
            )
            conns[kind] = connector.connect(target)
        yield conns
        for c in conns.values():
            c.close()
    finally:
        connector.close()
        fleet.down()
