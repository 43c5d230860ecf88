"""CPU, RAM and GPU use on the host while the benchmark runs: one command, no polling.

The sampler is a single POSIX sh command started (over the task's connection)
before the timed runs and read after them. It prints, once, what the GPUs are
used by and the GPU-relevant environment of the Ollama server processes, then
a sample every ``interval`` seconds until its standard input closes - the
control machine closes it when the runs are over. Sampling costs no round trip
per sample; the only requirement on the host is /bin/sh (nvidia-smi and
rocm-smi are used when present).

Output lines, each tagged by its first word (pure text, parsed by :func:`parse`):

    nvproc <pid>, <process name>, <MiB>       processes on NVIDIA GPUs (once)
    env <pid> KEY=value                        Ollama server environment (once)
    @                                          a sample starts
    cpu <user> <nice> <system> <idle> ...      /proc/stat's first line
    mem <MemTotal kB> <MemAvailable kB>
    nv <index>, <util %>, <used MiB>, <total MiB>
    amd <rocm-smi --csv line>                  (its header line too)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from deployer.connection import CommandResult

#: variables of the Ollama server that decide which GPUs it sees and how big its KV cache is
SERVER_VARS = (
    "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL",
    "OLLAMA_CONTEXT_LENGTH", "OLLAMA_NUM_PARALLEL", "OLLAMA_GPU_OVERHEAD", "OLLAMA_KV_CACHE_TYPE",
    "OLLAMA_LLM_LIBRARY",
)  # fmt: skip

_SCRIPT = r"""
interval=$1
have() { command -v "$1" >/dev/null 2>&1; }
if have nvidia-smi; then
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits 2>/dev/null | sed 's/^/nvproc /'
fi
for p in /proc/[0-9]*; do
  [ "$(cat "$p/comm" 2>/dev/null)" = ollama ] || continue
  tr '\000' '\n' < "$p/environ" 2>/dev/null | grep -E '^(__VARS__)=' | sed "s|^|env ${p#/proc/} |"
done
sample() {
  echo @
  head -n 1 /proc/stat
  awk '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} END {print "mem", t, a}' /proc/meminfo
  if have nvidia-smi; then
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits 2>/dev/null | sed 's/^/nv /'
  fi
  if have rocm-smi; then
    rocm-smi --showuse --showmeminfo vram --csv 2>/dev/null | grep , | sed 's/^/amd /'
  fi
}
sample
( while :; do sleep "$interval" >/dev/null 2>&1; sample; done ) &
loop=$!
cat >/dev/null
kill "$loop" 2>/dev/null
sample
"""


def command(interval: float = 1.0) -> str:
    """The shell command that samples every `interval` seconds until its stdin closes."""
    script = _SCRIPT.replace("__VARS__", "|".join(SERVER_VARS))
    return "/bin/sh -c " + _quote(script) + f" deployer-sampler {interval:g}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass
class GPUUse:
    """One GPU over the sampling window."""

    index: int
    vendor: str
    util_pct_avg: float | None = None
    util_pct_max: float | None = None
    memory_used_bytes_max: int | None = None
    memory_total_bytes: int | None = None

    def to_data(self) -> dict[str, Any]:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class Utilisation:
    """What the sampler saw during the runs."""

    samples: int = 0
    cpu_pct_avg: float | None = None
    cpu_pct_max: float | None = None
    ram_used_bytes_max: int | None = None
    ram_total_bytes: int | None = None
    gpus: list[GPUUse] = field(default_factory=list)
    gpu_processes: list[dict[str, Any]] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)
    server_pids: list[int] = field(default_factory=list)
    error: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "cpu_pct_avg": _r(self.cpu_pct_avg),
            "cpu_pct_max": _r(self.cpu_pct_max),
            "ram_used_bytes_max": self.ram_used_bytes_max,
            "ram_total_bytes": self.ram_total_bytes,
            "gpus": [g.to_data() for g in self.gpus],
            "gpu_processes": self.gpu_processes,
            "server_env": self.server_env,
            "error": self.error,
        }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _num(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse(text: str) -> Utilisation:
    """The sampler's output -> Utilisation. Partial or garbled samples are skipped, never fatal."""
    use = Utilisation()
    cpu: list[tuple[int, int]] = []  # (busy, total) jiffies per sample
    mem_used: list[int] = []
    gpu_util: dict[tuple[str, int], list[float]] = {}
    gpu_mem: dict[tuple[str, int], list[int]] = {}
    gpu_total: dict[tuple[str, int], int] = {}
    amd_header: list[str] = []
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "@":
            use.samples += 1
        elif tag == "cpu":
            vals = [int(v) for v in rest.split() if v.isdigit()]
            if len(vals) >= 4:
                idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
                total = sum(vals[:8])
                cpu.append((total - idle, total))
        elif tag == "mem":
            vals = rest.split()
            if len(vals) == 2 and all(v.isdigit() for v in vals):
                use.ram_total_bytes = int(vals[0]) * 1024
                mem_used.append((int(vals[0]) - int(vals[1])) * 1024)
        elif tag == "nv":
            parts = [p.strip() for p in rest.split(",")]
            if len(parts) >= 4 and parts[0].isdigit():
                key = ("nvidia", int(parts[0]))
                _add(gpu_util, key, _num(parts[1]))
                used, total = _num(parts[2]), _num(parts[3])
                if used is not None:
                    gpu_mem.setdefault(key, []).append(int(used * 2**20))
                if total is not None:
                    gpu_total[key] = int(total * 2**20)
        elif tag == "amd":
            parts = [p.strip() for p in rest.split(",")]
            if parts and parts[0].lower() == "device":
                amd_header = [p.lower() for p in parts]
            elif amd_header and parts and parts[0].startswith("card"):
                _amd_row(dict(zip(amd_header, parts)), gpu_util, gpu_mem, gpu_total)
        elif tag == "nvproc":
            parts = [p.strip() for p in rest.split(",")]
            if len(parts) >= 3 and parts[0].isdigit():
                mib = _num(parts[2])
                use.gpu_processes.append({"pid": int(parts[0]), "name": parts[1],
                                          "memory_bytes": None if mib is None else int(mib * 2**20)})
        elif tag == "env":
            pid, _, assignment = rest.partition(" ")
            key, sep, value = assignment.partition("=")
            if sep and pid.isdigit():
                use.server_env.setdefault(key, value)
                if int(pid) not in use.server_pids:
                    use.server_pids.append(int(pid))
    if len(cpu) >= 2 and cpu[-1][1] > cpu[0][1]:
        use.cpu_pct_avg = 100.0 * (cpu[-1][0] - cpu[0][0]) / (cpu[-1][1] - cpu[0][1])
        steps = [100.0 * (b1 - b0) / (t1 - t0) for (b0, t0), (b1, t1) in zip(cpu, cpu[1:]) if t1 > t0]
        use.cpu_pct_max = max(steps) if steps else None
    if mem_used:
        use.ram_used_bytes_max = max(mem_used)
    for key in sorted(set(gpu_util) | set(gpu_mem) | set(gpu_total)):
        utils = gpu_util.get(key, [])
        mems = gpu_mem.get(key, [])
        use.gpus.append(GPUUse(
            index=key[1], vendor=key[0],
            util_pct_avg=sum(utils) / len(utils) if utils else None,
            util_pct_max=max(utils) if utils else None,
            memory_used_bytes_max=max(mems) if mems else None,
            memory_total_bytes=gpu_total.get(key),
        ))
    return use


def _add(into: dict[tuple[str, int], list[float]], key: tuple[str, int], value: float | None) -> None:
    if value is not None:
        into.setdefault(key, []).append(value)


def _amd_row(row: dict[str, str], util: dict, mem: dict, total: dict) -> None:
    """One rocm-smi --csv row; columns found by name (they differ between ROCm versions)."""
    index_text = row.get("device", "").removeprefix("card")
    if not index_text.isdigit():
        return
    key = ("amd", int(index_text))
    for col, value in row.items():
        if "gpu use" in col:
            _add(util, key, _num(value))
        elif "vram total used" in col:
            used = _num(value)
            if used is not None:
                mem.setdefault(key, []).append(int(used))
        elif "vram total memory" in col:
            t = _num(value)
            if t is not None:
                total[key] = int(t)


class Sampler:
    """Runs :func:`command` in a thread until :meth:`stop`; the result is :func:`parse`'s.

    `probe` runs a read-only command with a stdin stream (``ctx.probe``); the
    command ends when the write end of its stdin pipe is closed.
    """

    def __init__(self, probe: Callable[..., CommandResult], interval: float = 1.0, timeout: float = 7200) -> None:
        self._probe = probe
        self._interval = interval
        self._timeout = timeout
        self._result: CommandResult | None = None
        self._error: Exception | None = None
        read_fd, self._write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._run, name="deployer-sampler", daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._result = self._probe(command(self._interval), stdin=self._reader, timeout=self._timeout)
        except Exception as exc:  # noqa: BLE001 - sampling is best effort: report, never fail the benchmark
            self._error = exc
        finally:
            self._reader.close()

    def stop(self, wait: float = 30.0) -> Utilisation:
        """Close the sampler's stdin, wait for its last sample, and parse what it printed."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1
        self._thread.join(wait)
        if self._thread.is_alive():
            return Utilisation(error=f"the sampler did not stop within {wait:g}s")
        if self._error is not None:
            return Utilisation(error=f"sampling failed: {self._error}")
        assert self._result is not None
        use = parse(self._result.stdout)
        if self._result.rc != 0 and not use.samples:
            use.error = f"sampling failed (exit {self._result.rc}): {self._result.tail(2) or 'no output'}"
        return use
