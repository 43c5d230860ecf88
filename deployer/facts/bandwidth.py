"""An opt-in measurement of a host's memory bandwidth, for CPUs the tables don't know.

Parallel memory copies (one process per CPU, at most 16) for about a second,
counted as STREAM's "copy" counts bytes (read + written); each process keeps its
best burst of three copies, so a moment of other load on the host does not sink
the figure. It needs python3 on
the host; without it the facts say so. A measured bandwidth is what an engine
can really reach, so the speed model uses it with a higher efficiency than a
spec-sheet peak (see deployer.llm.speed).

Enable it with ``deployer facts --measure-bandwidth`` / ``deployer recommend
--measure-bandwidth``, or the inventory variable ``deployer_measure_bandwidth:
true`` for runs.
"""

from __future__ import annotations

import shlex

from deployer.connection import Connection
from deployer.facts.model import HostFacts

_SCRIPT = r"""
import os, sys, time
workers, size, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
pipes = []
for _ in range(workers):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        src = bytearray(os.urandom(4096)) * (size // 4096)
        dst = bytearray(len(src))
        dst[:] = src
        best, end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            for _ in range(3):
                dst[:] = src
            best = max(best, 6 * len(src) / (time.perf_counter() - t0))
        os.write(w, ("%f\n" % best).encode())
        os._exit(0)
    os.close(w)
    pipes.append(r)
total = 0.0
for r in pipes:
    total += float(os.read(r, 64) or 0)
for _ in pipes:
    os.wait()
print("%.3f %d" % (total / 1e9, workers))
"""


def measure(conn: Connection, facts: HostFacts, seconds: float = 1.0) -> HostFacts:
    """Facts with a measured CPU memory bandwidth (source "probe"), or a note saying why not."""
    out = facts.model_copy(deep=True)
    threads = out.cpu.usable_threads or out.cpu.threads or 1
    workers = max(1, min(threads, 16))
    size = 128 << 20
    available = out.memory.available_bytes or 0
    # two buffers per worker; never take more than a quarter of what is free
    while workers > 1 and available and workers * 2 * size > available // 4:
        workers -= 1
    res = conn.run(f"command -v python3 >/dev/null || exit 127; python3 -c {shlex.quote(_SCRIPT)} {workers} {size} {seconds}", timeout=60)
    if res.rc == 127:
        out.notes.append("memory bandwidth not measured: python3 is not installed on the host")
        return out
    try:
        gbs, n = res.stdout.split()
        value = float(gbs)
    except ValueError:
        out.notes.append(f"memory bandwidth measurement failed: {res.tail(2) or 'no output'}")
        return out
    out.bandwidth.cpu_gbs = round(value, 1)
    out.bandwidth.cpu_source = "probe"
    out.bandwidth.cpu_detail = f"measured: {n} parallel copies of 128 MiB for {seconds:g} s"
    return out
