"""Fan-out: one artefact to N hosts on rate-limited links, star push against relay.

    python benchmarks/relay.py [--hosts 8] [--size-mib 48] [--mbit 100] [--reps 2]

Every link is limited to the same rate with tc (each host's veth, both ways,
and the control node's side of the fleet bridge): a star push sends N copies
through the control node's link; relay sends one and lets the hosts forward
it. The bound to meet: relay time <= (log2(N+1) + 1) x size/bandwidth.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import threading
import time

from bulk import archive, connect
from tools import median, say

from deployer import relay, transfer
from deployer.modules.base import TaskContext
from tests.fleet import Fleet


def limit_controller(fleet: Fleet, mbit: int | None) -> None:
    """tc tbf on the bridge: what the control node sends into the fleet."""
    dev = f"dpf{fleet.id}br"
    if mbit is None:
        subprocess.run(["tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
        return
    subprocess.run(["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{mbit}mbit",
                    "burst", "64kb", "latency", "200ms"], check=True)


def push_all(ctxs: list[TaskContext], art: transfer.LocalArtifact, dest: str, how: transfer.Transfer) -> float:
    errors: list[BaseException] = []

    def one(ctx: TaskContext) -> None:
        try:
            assert transfer.push(ctx, art, dest, transfer=how) is True
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(c,)) for c in ctxs]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"bench: {how} push failed: {errors[0]!r}")
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--size-mib", type=int, default=48)
    ap.add_argument("--mbit", type=int, default=100)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    art = transfer.local_artifact(archive(args.size_mib))
    one_copy = art.size * 8 / (args.mbit * 1e6)
    bound = (math.log2(args.hosts + 1) + 1) * one_copy
    times: dict[str, list[float]] = {"direct": [], "relay": []}
    stats: dict[str, int] = {}
    with Fleet(args.hosts, users=False) as fleet:
        conns = [connect(fleet, n) for n in fleet.names]
        ctxs = [TaskContext(host=c.name, connection=c, vars={}, writable=True) for c in conns]
        try:
            for n in fleet.names:
                fleet.rate_limit(n, args.mbit)
            limit_controller(fleet, args.mbit)
            for rep in range(args.reps):
                for how in ("direct", "relay"):
                    dest = f"/srv/bench/{how}-{rep}/{art.path.name}"
                    seconds = push_all(ctxs, art, dest, how)  # type: ignore[arg-type]
                    times[how].append(seconds)
                    if how == "relay":
                        stats = relay.stats(art.sha256, dest)
                        relay.reset(art.sha256, dest)
                    say(f"bench: rep {rep + 1}/{args.reps} {how:6s} {seconds:6.2f} s")
                    for n in fleet.names:
                        fleet.exec(n, f"rm -rf /srv/bench/{how}-{rep}")
        finally:
            limit_controller(fleet, None)
            for c in conns:
                c.close()
    star, tree = median(times["direct"]), median(times["relay"])
    lines = [
        f"\nFan-out of {art.size / (1 << 20):.0f} MiB to {args.hosts} hosts, every link {args.mbit} Mbit/s "
        f"(one copy: {one_copy:.1f} s; medians of {args.reps})",
        f"  star push (direct)   {star:6.2f} s",
        f"  relay                {tree:6.2f} s   (control node sent it {stats.get('control_sends', '?')}x, "
        f"hosts forwarded it {stats.get('relayed', '?')}x)",
        f"  relay bound (log2(N+1)+1) x size/bw = {bound:.1f} s: {'ok' if tree <= bound else 'MISSED'}; "
        f"relay / star {tree / star:.2f}",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    os.environ.setdefault("XDG_CACHE_HOME", str(os.path.expanduser("~/.cache")))
    main()
