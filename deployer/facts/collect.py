"""Facts from many hosts at once: one connection and one probe per host, a bounded pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from deployer.connection import Connection, LocalConnection
from deployer.errors import DeployerError
from deployer.facts.bandwidth import measure
from deployer.facts.model import HostFacts
from deployer.facts.probe import gather
from deployer.inventory import Inventory
from deployer.ssh import SSHConnector
from deployer.targets import ConnectOptions, is_local, ssh_target


def collect(
    inventory: Inventory,
    names: Sequence[str],
    connect: ConnectOptions,
    forks: int = 10,
    paths: Sequence[str] = (),
    measure_bandwidth: bool = False,
) -> dict[str, HostFacts | DeployerError]:
    """Each host's facts, or the error that kept us from them (Unreachable, ...)."""
    connector = SSHConnector()

    def one(name: str) -> HostFacts | DeployerError:
        hv = inventory.host_vars(name)
        conn: Connection | None = None
        try:
            conn = LocalConnection(name) if is_local(name, hv) else connector.connect(ssh_target(name, hv, connect))
            facts = gather(conn, paths)
            if measure_bandwidth or hv.get("deployer_measure_bandwidth"):
                facts = measure(conn, facts)
            return facts
        except DeployerError as exc:
            return exc
        finally:
            if conn is not None:
                conn.close()

    try:
        with ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="facts") as pool:
            results = list(pool.map(one, names))
    finally:
        connector.close()
    return dict(zip(names, results))
