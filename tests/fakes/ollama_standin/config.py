"""Environment, read the way Ollama's envconfig reads it, plus the stand-in's knobs.

Real variables (OLLAMA_HOST, OLLAMA_MODELS, ...) keep Ollama's parsing and
defaults. Stand-in knobs are named FAKE_OLLAMA_*; they are read from the
process environment first, then from a knob file (``FAKE_OLLAMA_ENV_FILE``,
default ``/etc/fake-ollama.env``: ``KEY=value`` lines) so a test can set up a
host's stand-in without touching the service environment that product code
writes. Product code never sets either.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import goish

DEFAULT_KNOB_FILE = "/etc/fake-ollama.env"
DEFAULT_VERSION = "0.5.7"


def var(key: str) -> str:
    """envconfig.Var: the value stripped of spaces and quotes."""
    return os.environ.get(key, "").strip().strip("\"'")


def _knob_file() -> dict[str, str]:
    path = os.environ.get("FAKE_OLLAMA_ENV_FILE", DEFAULT_KNOB_FILE)
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("\"'")
    return values


def knob(key: str, default: str = "") -> str:
    """A FAKE_OLLAMA_* knob: environment first, then the knob file."""
    if key in os.environ:
        return var(key)
    return _knob_file().get(key, default)


def knob_float(key: str, default: float) -> float:
    value = knob(key)
    return float(value) if value else default


def knob_int(key: str, default: int) -> int:
    value = knob(key)
    return int(float(value)) if value else default


def flag(key: str) -> bool:
    """envconfig.Bool: unset is false; a value strconv.ParseBool rejects is true."""
    value = var(key)
    if not value:
        return False
    return value not in ("0", "f", "F", "FALSE", "false", "False")


def version() -> str:
    """The baked-in version of a packed binary, else FAKE_OLLAMA_VERSION, else 0.5.7."""
    try:
        from . import _baked  # written only into packed binaries (release.py)
    except ImportError:
        return knob("FAKE_OLLAMA_VERSION", DEFAULT_VERSION)
    return str(_baked.VERSION)


def version_tuple(text: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", text.split("-")[0])
    return tuple(int(n) for n in nums[:3]) or (0,)


def at_least(ver: str) -> bool:
    """Is the running stand-in's version at least ``ver`` (behaviour that changed upstream)."""
    return version_tuple(version()) >= version_tuple(ver)


@dataclass(frozen=True)
class HostURL:
    """envconfig.Host(): scheme, host and port the server binds / the client dials."""

    scheme: str
    host: str
    port: int

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.hostport}"

    @property
    def dial_host(self) -> str:
        """Where a client connects: Go dials ":port" and "0.0.0.0" as the local host."""
        if self.host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host


def host() -> HostURL:
    text = var("OLLAMA_HOST")
    default_port = 11434
    scheme, sep, hostport = text.partition("://")
    if not sep:
        scheme, hostport = "http", text
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    m = re.fullmatch(r"\[(.*)\]:(.*)|([^:]*):([^:]*)", hostport)
    if m:
        h = m.group(1) if m.group(1) is not None else m.group(3)
        port_text = m.group(2) if m.group(1) is not None else m.group(4)
    else:
        h, port_text = "127.0.0.1", str(default_port)
        bare = hostport.strip("[]")
        try:
            h = str(ipaddress.ip_address(bare))
        except ValueError:
            if hostport:
                h = hostport
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        port = default_port
    return HostURL(scheme, h, port)


def models_dir() -> Path:
    value = var("OLLAMA_MODELS")
    if value:
        return Path(value)
    return Path.home() / ".ollama" / "models"


def keep_alive_ns() -> int:
    """OLLAMA_KEEP_ALIVE: a Go duration or seconds; negative is forever; default 5m."""
    value = var("OLLAMA_KEEP_ALIVE")
    ns = 5 * goish.MINUTE
    if value:
        try:
            ns = goish.parse_duration(value)
        except ValueError:
            try:
                ns = int(value) * goish.SECOND
            except ValueError:
                pass
    return goish.MAX_DURATION if ns < 0 else ns


def uint_var(key: str, default: int) -> int:
    value = var(key)
    try:
        return int(value) if value else default
    except ValueError:
        return default


def vram_bytes() -> int:
    """The fake GPU's total VRAM (FAKE_OLLAMA_VRAM_BYTES; 0 or unset: no GPU)."""
    total = knob_int("FAKE_OLLAMA_VRAM_BYTES", 0)
    if total <= 0:
        return 0
    vendor = knob("FAKE_OLLAMA_GPU_VENDOR", "nvidia").lower()
    # Ollama >= 0.9.3 honours ROCR_VISIBLE_DEVICES even on NVIDIA nodes; Slurm
    # sets it, which hides the GPU and puts every model on the CPU.
    if vendor == "nvidia" and var("ROCR_VISIBLE_DEVICES") and at_least("0.9.3"):
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES" if vendor == "nvidia" else "ROCR_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    return total


def default_context_length() -> int:
    """OLLAMA_CONTEXT_LENGTH, else the version's default (2048, 4096, or VRAM-tiered)."""
    explicit = uint_var("OLLAMA_CONTEXT_LENGTH", 0)
    if explicit:
        return explicit
    if not at_least("0.6.7"):
        return 2048
    if at_least("0.15.5"):
        usable = max(0, vram_bytes() - uint_var("OLLAMA_GPU_OVERHEAD", 0))
        if usable >= 47 * 2**30:
            return 262144
        if usable >= 23 * 2**30:
            return 32768
    return 4096


def server_config_env() -> dict[str, str]:
    """What the "server config" log line lists (a subset of envconfig.AsMap)."""
    values = {
        "CUDA_VISIBLE_DEVICES": var("CUDA_VISIBLE_DEVICES"),
        "HTTPS_PROXY": var("HTTPS_PROXY"),
        "HTTP_PROXY": var("HTTP_PROXY"),
        "NO_PROXY": var("NO_PROXY"),
        "OLLAMA_CONTEXT_LENGTH": str(default_context_length()),
        "OLLAMA_HOST": host().base,
        "OLLAMA_KEEP_ALIVE": goish.duration_string(keep_alive_ns()),
        "OLLAMA_MAX_LOADED_MODELS": str(uint_var("OLLAMA_MAX_LOADED_MODELS", 0)),
        "OLLAMA_MODELS": str(models_dir()),
        "OLLAMA_NOPRUNE": str(flag("OLLAMA_NOPRUNE")).lower(),
        "OLLAMA_NUM_PARALLEL": str(uint_var("OLLAMA_NUM_PARALLEL", 0)),
        "ROCR_VISIBLE_DEVICES": var("ROCR_VISIBLE_DEVICES"),
        "https_proxy": var("https_proxy"),
        "http_proxy": var("http_proxy"),
        "no_proxy": var("no_proxy"),
    }
    if not at_least("0.6.0"):
        del values["OLLAMA_CONTEXT_LENGTH"]
    return values
