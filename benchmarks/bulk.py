"""Bulk transfer: deployer's push of a 1 GiB archive against OpenSSH scp.

    python benchmarks/bulk.py [--size-mib 1024] [--reps 3]

One fleet host; alternately: `scp` with AES-GCM (the cipher deployer prefers),
deployer's push (the OpenSSH client path, digest checked on the host), and the
paramiko path (what a control node without `ssh` gets). The push time includes
the verification; a rerun of an unchanged artefact is timed too (skipped from
the marker, no hashing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from tools import median, say

from deployer import transfer
from deployer.modules.base import TaskContext
from deployer.ssh import SSHConnection, SSHConnector, SSHTarget
from tests.fleet import Fleet

CACHE = Path.home() / ".cache" / "deployer-bench"


def archive(size_mib: int) -> Path:
    """A random (incompressible) file of that size, made once."""
    path = CACHE / f"archive-{size_mib}m.bin"
    if not path.exists() or path.stat().st_size != size_mib << 20:
        CACHE.mkdir(parents=True, exist_ok=True)
        say(f"bench: writing {path}")
        with open(path, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1 << 20))
    return path


def connect(fleet: Fleet, name: str) -> SSHConnection:
    h = fleet.host(name)
    conn = SSHConnector().connect(SSHTarget(
        name=name, host=h.address, port=h.port, user="root", key_file=str(fleet.client_key),
        ssh_config_file=str(fleet.ssh_config), known_hosts_files=(str(fleet.known_hosts),)))
    assert isinstance(conn, SSHConnection)
    return conn


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    src = archive(args.size_mib)
    art = transfer.local_artifact(src)  # hashed once here, cached from then on
    mib = art.size / (1 << 20)
    times: dict[str, list[float]] = {"scp aes128-gcm": [], "deployer push": [], "deployer push (paramiko)": []}
    skip: list[float] = []
    with Fleet(1, users=False) as fleet:
        conn = connect(fleet, "h1")
        ctx = TaskContext(host="h1", connection=conn, vars={}, writable=True)
        dest = "/srv/bench/archive.tgz"
        fleet.exec("h1", "mkdir -p /srv/bench")
        try:
            for rep in range(args.reps):
                for what in times:
                    fleet.exec("h1", "rm -rf /srv/bench/* /srv/bench/.[!.]*")
                    start = time.monotonic()
                    if what.startswith("scp"):
                        subprocess.run(["scp", "-q", "-F", str(fleet.ssh_config), "-c", "aes128-gcm@openssh.com",
                                        str(src), f"h1:{dest}"], check=True)
                    else:
                        saved = conn.openssh
                        if "paramiko" in what:
                            conn.openssh = None
                        try:
                            assert transfer.push(ctx, art, dest) is True
                        finally:
                            conn.openssh = saved
                    seconds = time.monotonic() - start
                    times[what].append(seconds)
                    say(f"bench: rep {rep + 1}/{args.reps} {what:26s} {seconds:6.2f} s  {mib / seconds:6.0f} MiB/s")
                start = time.monotonic()
                assert transfer.push(ctx, art, dest) is False
                skip.append(time.monotonic() - start)
        finally:
            conn.close()
    scp = median(times["scp aes128-gcm"])
    lines = [f"\nBulk transfer of {mib:.0f} MiB to one host (medians of {args.reps})"]
    for what, values in times.items():
        m = median(values)
        lines.append(f"  {what:26s} {m:6.2f} s  {mib / m:6.0f} MiB/s  {scp / m:5.2f}x scp")
    ratio = scp / median(times["deployer push"])
    lines.append(f"  deployer push / scp throughput {ratio:.2f} (target >= 0.90: {'ok' if ratio >= 0.9 else 'MISSED'}; "
                 "the push includes the host's digest check)")
    lines.append(f"  unchanged rerun (marker, no hashing): {median(skip) * 1000:.0f} ms")
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
