"""A real Docker engine for tests, inside one fleet host's network namespace.

Not a stand-in: Debian's dockerd (apt-get install docker.io), started by the
test, stopped at the end. It runs in the host's *network* namespace only, so
what it does to networks stays there, as on a lab node: docker0 (172.17.0.1)
exists only inside that host, ``--network host`` containers share the host's
loopback (where the Ollama stand-in listens), ``-p`` publishes on the host's
addresses through docker-proxy, and host-gateway resolves. Everything else
is private to the test: data root, exec root, pid file and sockets under a
temporary directory on this machine, ``--iptables=false`` (no NAT rules; a
bridged container therefore cannot reach *other* hosts), and a watchdog that
stops dockerd when the test process dies.

Found out on this machine: a dockerd run chrooted inside a fleet host (its
mount namespace) starts containers whose root is this machine's root - so
the engine keeps this machine's mount namespace, and the host's docker CLI
talks to it over TCP on the host's loopback (a unix socket seen through the
host's overlayfs cannot be connected to).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, Sequence

from tests.fleet import Fleet

#: the port dockerd listens on, on the fleet host's loopback (DOCKER_HOST there)
TCP_PORT = 2375


def missing() -> str | None:
    """Why no engine can run here, or None."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    if shutil.which("dockerd") is None:
        return "no dockerd (apt-get install docker.io busybox-static)"
    if shutil.which("docker") is None:
        return "no docker CLI"
    return None


def engine_for_tests(fleet: Fleet, host: str, name: str) -> Iterator["DockerEngine"]:
    """A started engine on `host` for a test module, stopped afterwards; skipped (or,
    with DEPLOYER_REQUIRE_FLEET=1, failed) when this machine cannot run one."""
    import pytest

    from tests.fakes.openwebui import image
    from tests.fleet.pytest_support import REQUIRE_FLEET_ENV

    reason = missing() or image.missing()
    if reason:
        if os.environ.get(REQUIRE_FLEET_ENV) == "1":
            pytest.fail(f"a Docker engine is required ({REQUIRE_FLEET_ENV}=1): {reason}", pytrace=False)
        pytest.skip(reason)
    eng = DockerEngine(fleet, host, Path(f"/var/tmp/deployer-{name}-{os.getpid()}")).start()
    try:
        yield eng
    finally:
        eng.stop()


class DockerEngine:
    """dockerd in `host`'s network namespace; `docker()` talks to it from this machine."""

    def __init__(self, fleet: Fleet, host: str, workdir: Path) -> None:
        self.fleet = fleet
        self.host = host
        self.dir = workdir
        self.socket = workdir / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for the docker CLI on the fleet host."""
        return f"tcp://127.0.0.1:{TCP_PORT}"

    def start(self, timeout: float = 60) -> "DockerEngine":
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        dockerd = (
            f"dockerd --data-root {d}/data --exec-root {d}/exec --pidfile {d}/dockerd.pid "
            f"-H unix://{self.socket} -H tcp://127.0.0.1:{TCP_PORT} "
            "--iptables=false --ip6tables=false --ip-masq=false --userland-proxy=true"
        )
        watchdog = (
            f"{dockerd} & d=$!; "
            f"while kill -0 {os.getpid()} 2>/dev/null && kill -0 $d 2>/dev/null; do sleep 2; done; "
            "kill -TERM $d 2>/dev/null; wait $d"
        )
        log = open(d / "dockerd.log", "ab")
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(self.fleet.init_pid(self.host)), "-n", "--", "sh", "-c", watchdog],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.docker("version", check=False).returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        tail = (d / "dockerd.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"dockerd did not start in {self.host}'s network namespace:\n{tail}")

    def docker(self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the docker CLI on this machine against the engine."""
        proc = subprocess.run(["docker", "-H", f"unix://{self.socket}", *args], input=input,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc

    def text(self, *args: str) -> str:
        return self.docker(*args).stdout.decode().strip()

    def import_image(self, rootfs: Path, ref: str, import_args: Sequence[str]) -> str:
        """`docker import` a rootfs tar as `ref`; returns the image id."""
        self.docker(*import_args, input=rootfs.read_bytes())
        return self.text("image", "inspect", "--format", "{{.Id}}", ref)

    def stop(self) -> None:
        """Stop dockerd (by its pid file) and undo what it left mounted; remove its directory."""
        pidfile = self.dir / "dockerd.pid"
        if pidfile.exists():
            try:
                pid = int(pidfile.read_text())
                os.kill(pid, 15)
                for _ in range(60):
                    os.kill(pid, 0)
                    time.sleep(0.5)
            except (ValueError, ProcessLookupError):
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
            self.proc = None
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            mountpoint = line.split()[4]
            if mountpoint.startswith(str(self.dir) + "/"):
                subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
