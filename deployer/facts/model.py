"""HostFacts: what deployer knows about a host's hardware and software.

Sizes are bytes, bandwidths GB/s (10^9 bytes per second), frequencies MHz.
Unknown values are None, never a guess; `notes` says what could not be read.
Facts serialise to JSON (``deployer facts -o``) and load back for offline
planning (``deployer run --facts``), so every field is plain data.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumaNode(_Facts):
    id: int
    cpus: str = Field(description="CPU list as the kernel prints it, e.g. '0-19,40-59'")
    memory_bytes: int | None = None


class CPUInfo(_Facts):
    model: str = "unknown"
    vendor: str | None = None
    machine: str = Field("unknown", description="uname -m: x86_64, aarch64")
    sockets: int = 1
    cores_per_socket: int | None = None
    cores: int | None = Field(None, description="physical cores, all sockets")
    threads: int | None = Field(None, description="logical CPUs online")
    usable_threads: int | None = Field(
        None, description="logical CPUs the login shell may run on (nproc: affinity/cpuset, e.g. a Slurm allocation)"
    )
    numa_nodes: list[NumaNode] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="ISA flags that matter for LLM inference")
    mhz_max: float | None = None


class MemoryInfo(_Facts):
    total_bytes: int | None = None
    available_bytes: int | None = None
    swap_total_bytes: int | None = None
    swap_free_bytes: int | None = None
    cgroup_limit_bytes: int | None = Field(None, description="cgroup v2 memory.max, None when 'max'")
    cgroup_cpus: float | None = Field(None, description="cgroup v2 cpu.max as CPUs, None when 'max'")
    hugepages_total: int | None = None
    hugepage_size_bytes: int | None = None
    dimm_type: str | None = Field(None, description="DDR4, DDR5 ... (dmidecode)")
    dimm_speed_mts: int | None = None
    dimm_count: int | None = Field(None, description="populated memory slots (dmidecode)")

    @property
    def usable_bytes(self) -> int | None:
        """RAM this host's processes can really use: the smaller of total and the cgroup limit."""
        values = [v for v in (self.total_bytes, self.cgroup_limit_bytes) if v]
        return min(values) if values else None


class GPU(_Facts):
    index: int
    vendor: str = Field(description="nvidia or amd")
    name: str
    uuid: str | None = None
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_used_bytes: int | None = None
    driver: str | None = None
    compute_capability: str | None = None
    utilization_pct: float | None = None
    bandwidth_gbs: float | None = Field(None, description="from the known-cards table")


class DiskInfo(_Facts):
    path: str = Field(description="the path asked about (models dir, install prefix)")
    mount: str | None = None
    filesystem: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None


class OSInfo(_Facts):
    id: str | None = None
    id_like: str | None = Field(None, description="os-release ID_LIKE, e.g. 'rhel fedora'")
    version_id: str | None = None
    pretty_name: str | None = None
    kernel: str | None = None
    glibc: str | None = Field(None, description="e.g. '2.36'; Ollama builds need >= 2.27")
    systemd: bool = Field(False, description="systemd is PID 1 and running")


class SoftwareInfo(_Facts):
    docker_version: str | None = None
    docker_usable: bool = False
    ollama_version: str | None = None
    ollama_path: str | None = None
    ollama_models: list[str] = Field(default_factory=list)
    nvidia_driver: str | None = None
    cuda_version: str | None = None
    rocm_version: str | None = None
    sudo: bool = Field(False, description="the login user can sudo without a password, or is root")


class Bandwidth(_Facts):
    """Memory bandwidth estimates that drive the tokens/s prediction."""

    cpu_gbs: float | None = Field(None, description="peak per socket x sockets")
    cpu_source: str = Field("unknown", description="dmidecode | table | probe | spec | unknown")
    cpu_detail: str | None = Field(None, description="how it was computed, e.g. '6ch DDR4-2933 x 2 sockets'")


class HostFacts(_Facts):
    """Everything the probe learned about one host."""

    hostname: str = "unknown"
    arch: str = Field("unknown", description="Go/Ollama naming: amd64, arm64")
    user: str | None = Field(None, description="the login user")
    home: str | None = Field(None, description="the login user's $HOME on the host")
    is_root: bool = False
    cpu: CPUInfo = Field(default_factory=CPUInfo)
    memory: MemoryInfo = Field(default_factory=MemoryInfo)
    gpus: list[GPU] = Field(default_factory=list)
    disks: list[DiskInfo] = Field(default_factory=list)
    os: OSInfo = Field(default_factory=OSInfo)
    software: SoftwareInfo = Field(default_factory=SoftwareInfo)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="proxy, Slurm and GPU-visibility variables (HTTPS_PROXY, SLURM_*, CUDA_VISIBLE_DEVICES ...)",
    )
    bandwidth: Bandwidth = Field(default_factory=Bandwidth)
    notes: list[str] = Field(default_factory=list, description="what could not be read, and why")
    source: str = Field("probe", description="probe | local | file | spec")

    @property
    def vram_total_bytes(self) -> int:
        return sum(g.memory_total_bytes or 0 for g in self.gpus)

    def disk_for(self, path: str) -> DiskInfo | None:
        """The probed disk entry whose path is the longest prefix of `path`."""
        best = None
        for d in self.disks:
            if path == d.path or path.startswith(d.path.rstrip("/") + "/") or d.path == "/":
                if best is None or len(d.path) > len(best.path):
                    best = d
        return best
