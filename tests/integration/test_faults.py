"""Faults during a rollout, on real sshd hosts: a host killed mid-run, a push
cut halfway, a full disk, Ctrl-C, and 50 hosts at forks 50."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from deployer import transfer
from deployer.errors import DeployerError, ModuleFailure
from tests.fleet import Fleet
from tests.fleet.deployer_cli import console_script
from tests.fleet.pytest_support import start_fleet
from tests.integration.test_engine_fleet import recap
from tests.integration.test_transfer_fleet import connect, ctx_for, random_artefact

pytestmark = pytest.mark.fleet
DIRECT = ["h1", "h2", "h3", "h4", "h5"]


_started: list[subprocess.Popen] = []


def start_cli(args: list[str | Path], log: Path) -> subprocess.Popen:
    """The console script in the background, its stderr to `log` (killed after the test)."""
    with open(log, "wb") as err:
        proc = subprocess.Popen([*console_script(), *map(str, args)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
    _started.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_stray_runs():
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(what: str, cond, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rollout(d: Path, root: str, mfp: int) -> Path:
    """Three tasks; the second takes a while (a host dies during it), the third writes a file."""
    pb = d / f"rollout-{mfp}.yml"
    pb.write_text(f"""
- hosts: fleet
  max_fail_percentage: {mfp}
  tasks:
    - name: prepare
      file: {{path: "{root}", state: directory}}
    - name: slow step
      shell: "touch {root}/started; sleep 6"
    - name: finish
      copy: {{dest: "{root}/done", content: "{{{{ inventory_hostname }}}}\\n"}}
""")
    return pb


@pytest.mark.parametrize("mfp", [20, 10])
def test_host_killed_mid_run(fleet: Fleet, tmp_path: Path, deployer_cli, mfp: int) -> None:
    root = f"/srv/fault-{uuid.uuid4().hex[:8]}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=DIRECT)
    retry = tmp_path / "retry"
    log = tmp_path / "run.log"
    proc = start_cli(["run", rollout(tmp_path, root, mfp), "-i", inv, "--retry-file", retry], log)
    wait_for("the slow step on h3", lambda: fleet.path("h3", f"{root}/started").exists())
    fleet.stop_sshd("h3")
    rc = proc.wait(120)
    err = log.read_text()
    stats = recap(err)
    assert stats["h3"]["unreachable"] == 1, err
    finished = [h for h in DIRECT if fleet.path(h, f"{root}/done").exists()]
    if mfp == 20:
        # one host of five is 20%: not more than max_fail_percentage, the others finish
        assert rc == 5, err
        assert finished == ["h1", "h2", "h4", "h5"], err
    else:
        # 20% > 10%: the play stops for everyone and the run has failed
        assert rc == 4, err
        assert finished == [] and "more than max_fail_percentage 10%" in err, err
    assert retry.read_text() == "h3\n"

    fleet.start_sshd("h3")
    again = deployer_cli("run", rollout(tmp_path, root, mfp), "-i", inv, "--limit", f"@{retry}")
    assert again.rc == 0, again
    stats = recap(again.stderr)
    assert set(stats) == {"h3"} and stats["h3"]["changed"] >= 2, again
    assert fleet.path("h3", f"{root}/done").read_text().strip() == "h3"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> transfer.LocalArtifact:
    return random_artefact(tmp_path_factory.mktemp("archive"), "ollama-linux-amd64.tgz", 6 * transfer.CHUNK + 777)


def test_push_killed_halfway_resumes_and_verifies(fleet: Fleet, archive: transfer.LocalArtifact) -> None:
    dest = f"/opt/fault-{uuid.uuid4().hex[:8]}/ollama.tgz"
    part = fleet.path("h2", dest + ".part")
    fleet.rate_limit("h2", 40)  # ~5 MB/s: the push takes ~10 s
    conn = connect(fleet, "h2")
    errors: list[BaseException] = []

    def push() -> None:
        try:
            transfer.push(ctx_for(conn), archive, dest)
        except BaseException as exc:  # noqa: BLE001 - examined below
            errors.append(exc)

    t = threading.Thread(target=push)
    t.start()
    try:
        wait_for("half the archive", lambda: part.exists() and part.stat().st_size >= 2 * transfer.CHUNK + 100)
        fleet.stop_sshd("h2")
        t.join(60)
    finally:
        conn.close()
    assert errors and isinstance(errors[0], DeployerError), errors
    assert not fleet.path("h2", dest).exists(), "nothing may be at the final path"
    arrived = part.stat().st_size
    assert 0 < arrived < archive.size

    fleet.start_sshd("h2")
    fleet.clear_rate_limit("h2")
    conn = connect(fleet, "h2")
    progress: list[int] = []
    try:
        assert transfer.push(ctx_for(conn, progress=progress), archive, dest) is True
    finally:
        conn.close()
    resent = max(progress) - (archive.size - arrived)
    assert 0 <= resent <= transfer.CHUNK, f"re-sent {resent} bytes that had arrived"
    assert fleet.path("h2", dest).read_bytes() == archive.path.read_bytes()
    assert not part.exists()


def test_disk_full_is_refused_before_sending(fleet: Fleet, archive: transfer.LocalArtifact) -> None:
    mnt = f"/mnt/full-{uuid.uuid4().hex[:8]}"
    fleet.exec("h4", f"mkdir -p {mnt} && mount -t tmpfs -o size=4m tmpfs {mnt}")
    conn = connect(fleet, "h4")
    try:
        with pytest.raises(ModuleFailure) as err:
            transfer.push(ctx_for(conn), archive, f"{mnt}/models/ollama.tgz")
    finally:
        conn.close()
        listing = fleet.exec("h4", f"find {mnt} -mindepth 1; umount {mnt}").stdout
    text = str(err.value)
    assert "not enough space" in text and f"{archive.size} bytes" in text and f"{4 << 20} bytes" in text and mnt in text, text
    assert listing == "", f"something was sent: {listing}"


def test_ctrl_c_stops_cleanly_with_a_recap(fleet: Fleet, tmp_path: Path) -> None:
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(24 << 20))
    root = f"/srv/int-{uuid.uuid4().hex[:8]}"
    pb = tmp_path / "big.yml"
    pb.write_text(f"""
- hosts: fleet
  tasks:
    - name: quick
      file: {{path: "{root}", state: directory}}
    - name: big copy
      copy: {{src: "{big}", dest: "{root}/weights.bin"}}
    - name: never reached
      file: {{path: "{root}/after", state: touch}}
""")
    hosts = ["h1", "h2", "h3"]
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=hosts)
    for h in hosts:
        fleet.rate_limit(h, 20)  # ~2.5 MB/s: the copy takes ~10 s
    log = tmp_path / "run.log"
    proc = start_cli(["run", pb, "-i", inv], log)

    def temp_files() -> list[str]:
        return [f"{h}:{p.name}" for h in hosts for p in fleet.path(h, root).glob(".*deployer-*")] if all(
            fleet.path(h, root).exists() for h in hosts) else []

    wait_for("the copies to be under way", lambda: len(temp_files()) == len(hosts))
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(60)
    took = time.monotonic() - started
    err = log.read_text()
    assert rc == 130, err
    assert took < 10, f"stopping took {took:.1f} s"
    assert "PLAY RECAP" in err and "interrupted" in err, err
    assert set(recap(err)) == set(hosts), err
    assert temp_files() == [], "atomic-write temp files left on hosts"
    assert not any(fleet.path(h, f"{root}/weights.bin").exists() for h in hosts)
    assert not any(fleet.path(h, f"{root}/after").exists() for h in hosts)


@pytest.mark.slow
def test_fifty_hosts_at_forks_fifty(tmp_path: Path) -> None:
    fleet = start_fleet(Fleet(50, users=False))
    try:
        inv = fleet.write_inventory(tmp_path / "inv.ini")
        src = tmp_path / "payload.bin"
        src.write_bytes(os.urandom(256 << 10))
        pb = tmp_path / "fifty.yml"
        pb.write_text(f"""
- hosts: fleet
  tasks:
    - file: {{path: /srv/fifty, state: directory}}
    - copy: {{src: "{src}", dest: /srv/fifty/payload.bin}}
    - command: {{cmd: "touch /srv/fifty/ran", creates: /srv/fifty/ran}}
""")
        peaks = {}
        for forks in (10, 50):
            log = tmp_path / f"run-{forks}.log"
            proc = start_cli(["run", pb, "-i", inv, "-f", forks], log)
            threads = fds = rss = 0
            while proc.poll() is None:
                try:
                    status = Path(f"/proc/{proc.pid}/status").read_text()
                    threads = max(threads, int(status.split("Threads:")[1].split()[0]))
                    fds = max(fds, len(os.listdir(f"/proc/{proc.pid}/fd")))
                    rss = int(status.split("VmHWM:")[1].split()[0])
                except (FileNotFoundError, IndexError, ProcessLookupError):
                    pass
                time.sleep(0.02)
            assert proc.returncode == 0, log.read_text()[-3000:]
            assert all(s["failed"] == 0 and s["unreachable"] == 0 for s in recap(log.read_text()).values())
            peaks[forks] = (threads, fds, rss)
        threads, fds, rss50 = peaks[50]
        # a worker and a transport thread per host; a socket and a few pipes per host
        assert threads <= 2 * 50 + 20, peaks
        assert fds <= 4 * 50 + 50, peaks
        # 50 hosts at once cost little more memory than 10 at once
        assert rss50 - peaks[10][2] < 64 << 10, peaks
    finally:
        fleet.down()
