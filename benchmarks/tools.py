"""What the benchmarks share: the other tools' venv, timing a command with its
peak memory, medians, and the fleet (tests/fleet) they run against."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: the other tools live here, never in the project's own environment
VENV = Path(os.environ.get("DEPLOYER_BENCH_VENV", Path.home() / ".cache" / "deployer-bench" / "venv"))
PACKAGES = ("ansible-core", "pyinfra")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tools_venv() -> Path:
    """A venv with ansible-core and pyinfra from PyPI (made on first use)."""
    py = VENV / "bin" / "python"
    if not py.exists():
        say(f"bench: creating {VENV} (ansible-core, pyinfra)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    have = subprocess.run([str(py), "-c", "import ansible, pyinfra"], capture_output=True)
    if have.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return VENV / "bin"


def versions(bin_dir: Path) -> dict[str, str]:
    out = {}
    for tool, argv in (("ansible", ["ansible-playbook", "--version"]), ("pyinfra", ["pyinfra", "--version"])):
        text = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], capture_output=True, text=True).stdout
        out[tool] = text.splitlines()[0].strip() if text else "?"
    return out


@dataclass(frozen=True)
class Timed:
    """One run of a command: wall seconds, exit status, peak RSS of the process
    (KiB) and the CPU seconds of the process and its children on this machine."""

    seconds: float
    rc: int
    max_rss_kib: int
    log: Path
    cpu: float = 0.0


def timed(argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Timed:
    """Run `argv` with output to `log`; its wall time and the peak RSS of its own process."""
    # every tool as installed: with its bytecode cache (this environment may turn it off)
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**full_env, **(env or {})}, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(seconds, proc.returncode, usage.ru_maxrss, log, usage.ru_utime + usage.ru_stime)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


#: the deployer under test: this checkout, or another one (to measure a change)
DEPLOYER_SRC = Path(os.environ.get("DEPLOYER_BENCH_SRC", REPO))


def deployer_argv() -> list[str]:
    """The deployer under test, run by this Python (from its own directory: `-m` looks there first)."""
    return [sys.executable, "-m", "deployer"]


def deployer_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{DEPLOYER_SRC}{os.pathsep}{path}" if path else str(DEPLOYER_SRC)}
