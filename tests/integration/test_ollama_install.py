"""Installing Ollama offline and running it in system mode, on fleet hosts through the real CLI.

Release archives are built by tests/fakes/release.py (bin/ollama is the Ollama
stand-in, so the installed server really runs); h2/h3 have systemd (the
daemonless systemctl), h5 has none. Each test uses its own prefix and port.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.fakes.registry import RegistryServer
from tests.fakes.release import build_release_set
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult, console_script

PLAYBOOKS = Path(__file__).with_name("playbooks")
DROPIN = "/etc/systemd/system/ollama.service.d/deployer.conf"
Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ollama-releases")
    for version in ("0.5.7", "0.6.0"):
        build_release_set(root, version, archs=("amd64", "arm64"))
    build_release_set(root, "0.14.2")
    return root


def unique() -> str:
    return uuid.uuid4().hex[:8]


def free_port() -> int:
    return random.randint(20000, 29999)


def run(cli: Cli, playbook: str, inventory: Path, *flags: str, **extra: Any) -> tuple[CliResult, dict]:
    res = cli("run", PLAYBOOKS / playbook, "-i", inventory, "--json", *flags, "-e", json.dumps(extra))
    report = json.loads(res.stdout) if res.stdout.strip() else {}
    return res, report


def result(report: dict, host: str, action: str) -> dict:
    return next(r for r in report["results"] if r["host"] == host and r["action"] == action)


def changed(report: dict, host: str) -> int:
    return int(report["stats"][host]["changed"])


def snapshot(fleet: Fleet, host: str, *paths: str) -> str:
    """Every file under `paths` (type, size, mode, owner, mtime, link) and the running servers."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    script = (
        f"for p in {quoted}; do [ -e \"$p\" ] && find \"$p\" -printf '%p %y %s %m %u %T@ %l\\n'; done | sort; "
        "ps -eo pid,args | grep '[o]llama serve'; true"
    )
    return fleet.exec(host, script).stdout


def server_version(fleet: Fleet, host: str, port: int) -> str:
    return fleet.exec(host, f"OLLAMA_HOST=127.0.0.1:{port} ollama -v").stdout.strip()


@pytest.fixture
def stop_service(fleet: Fleet) -> Iterator[Callable[[str], None]]:
    hosts: list[str] = []
    yield hosts.append
    for h in hosts:
        fleet.exec(h, "systemctl stop ollama", check=False)


def test_system_mode_check_install_rerun_upgrade_rollback(
    fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path, stop_service: Callable[[str], None]
) -> None:
    prefix, port = f"/opt/t-{unique()}", free_port()
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h2"])
    stop_service("h2")
    v = dict(releases=str(releases), prefix=prefix, version="0.5.7", port=port)
    watched = (prefix, "/etc/systemd/system", "/usr/local/bin", "/usr/share/ollama")

    before = snapshot(fleet, "h2", *watched)
    res, rep = run(deployer_cli, "ollama_system.yml", inv, "--check", **v)
    assert res.rc == 0 and changed(rep, "h2") == 2, res
    assert result(rep, "h2", "ollama_install")["msg"].startswith("install 0.5.7 (push ")
    assert "start ollama" in result(rep, "h2", "ollama_service")["msg"]
    assert snapshot(fleet, "h2", *watched) == before, "--check changed the host"

    res, rep = run(deployer_cli, "ollama_system.yml", inv, **v)
    assert res.rc == 0 and changed(rep, "h2") == 2, res
    assert server_version(fleet, "h2", port) == "ollama version is 0.5.7"
    assert fleet.exec("h2", "systemctl show -p ActiveState ollama").stdout.strip() == "ActiveState=active"
    dropin = fleet.path("h2", DROPIN).read_text()
    for line in (f"OLLAMA_HOST=127.0.0.1:{port}", "OLLAMA_CONTEXT_LENGTH=4096", "OLLAMA_NUM_PARALLEL=2",
                 f"# binary: {prefix}/ollama/0.5.7/bin/ollama"):
        assert line in dropin
    assert fleet.exec("h2", "readlink /usr/local/bin/ollama").stdout.strip() == f"{prefix}/ollama/current/bin/ollama"
    assert fleet.exec("h2", "stat -c %U /usr/share/ollama/.ollama/models").stdout.strip() == "ollama"
    servers = [ln.split()[0] for ln in fleet.exec("h2", "ps -eo user=,args=").stdout.splitlines() if f"{prefix}/ollama/" in ln]
    assert servers == ["ollama"]  # the service user runs it

    res, rep = run(deployer_cli, "ollama_system.yml", inv, **v)
    assert res.rc == 0 and changed(rep, "h2") == 0, res

    res, rep = run(deployer_cli, "ollama_system.yml", inv, "--check", **{**v, "version": "0.6.0"})
    assert res.rc == 0 and changed(rep, "h2") == 2, res
    assert result(rep, "h2", "ollama_service")["msg"].startswith("restart ollama if an earlier task switches its version")
    res, rep = run(deployer_cli, "ollama_system.yml", inv, "--diff", **{**v, "version": "0.6.0"})
    assert res.rc == 0 and changed(rep, "h2") == 2, res
    assert "switch current 0.5.7 -> 0.6.0" in result(rep, "h2", "ollama_install")["msg"]
    assert f"-# binary: {prefix}/ollama/0.5.7/bin/ollama" in res.stderr  # the drop-in's diff
    assert server_version(fleet, "h2", port) == "ollama version is 0.6.0"
    assert fleet.exec("h2", f"readlink {prefix}/ollama/previous").stdout.strip() == "0.5.7"

    rollback = {**v, "version": "0.6.0", "rollback": True}
    res, rep = run(deployer_cli, "ollama_system.yml", inv, **rollback)
    assert res.rc == 0, res
    assert result(rep, "h2", "ollama_install")["msg"] == "switch current 0.6.0 -> 0.5.7 (rollback)"
    assert server_version(fleet, "h2", port) == "ollama version is 0.5.7"
    res, rep = run(deployer_cli, "ollama_system.yml", inv, **rollback)
    assert res.rc == 0 and changed(rep, "h2") == 0, res


def test_models_dir_parents_must_let_the_service_user_through(
    fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path, stop_service: Callable[[str], None]
) -> None:
    base = f"/srv/t-{unique()}"
    fleet.exec("h3", f"mkdir -p {base}/private && chmod 700 {base}/private")
    stop_service("h3")
    # as a user whose sudo asks for a password: system mode runs everything through become
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h3"],
                                group_vars={"ansible_user": "deploy", "ansible_become_password": "deploy-pass"})
    v = dict(releases=str(releases), prefix=f"/opt/t-{unique()}", version="0.5.7", port=free_port(),
             models_dir=f"{base}/private/models")
    res, rep = run(deployer_cli, "ollama_system.yml", inv, **v)
    assert res.rc == 4, res
    msg = result(rep, "h3", "ollama_service")["msg"]
    assert f"the service user ollama cannot reach the models dir on h3: no search (x) permission on {base}/private" in msg
    assert f"chmod o+x {base}/private" in msg
    assert not fleet.path("h3", f"{base}/private/models").exists()

    fleet.exec("h3", f"chmod 711 {base}/private")
    res, rep = run(deployer_cli, "ollama_system.yml", inv, **v)
    assert res.rc == 0, res
    assert fleet.exec("h3", f"stat -c %U:%G {base}/private/models").stdout.strip() == "ollama:ollama"
    groups = fleet.exec("h3", "id -nG ollama").stdout.split()
    assert "video" in groups  # install.sh's GPU groups, where the host has them

    # a server that cannot start: the failure carries its log's last lines
    res, rep = run(deployer_cli, "ollama_service_unbindable.yml", inv, prefix=v["prefix"], port=v["port"])
    assert res.rc == 4, res
    msg = result(rep, "h3", "ollama_service")["msg"]
    assert "bind: cannot assign requested address" in msg and "Last lines of" in msg, msg
    assert "its API has no authentication" in res.stderr  # allow_public_bind: allowed, and warned about


def test_interrupted_push_resumes_and_never_leaves_a_half_install(
    fleet: Fleet, deployer_cli: Cli, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    build_release_set(big, "0.5.7", pad_bytes=48 << 20)
    prefix = f"/opt/t-{unique()}"
    part = fleet.path("h5", f"{prefix}/ollama/.staging/0.5.7/ollama-linux-amd64.tgz.part")
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h5"])
    extra = json.dumps(dict(releases=str(big), prefix=prefix, version="0.5.7"))
    fleet.rate_limit("h5", 40)
    proc = subprocess.Popen(
        [*console_script(), "run", str(PLAYBOOKS / "ollama_install_only.yml"), "-i", str(inv), "-e", extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 8 << 20):
            assert proc.poll() is None, f"the run ended before it was interrupted: {proc.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the upload never got going"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a crash of the control machine, mid-upload
        proc.wait()
    fleet.clear_rate_limit("h5")
    time.sleep(0.5)  # let the host notice the connection is gone
    assert not fleet.path("h5", f"{prefix}/ollama/0.5.7").exists()
    assert not fleet.path("h5", f"{prefix}/ollama/current").exists()
    arrived = part.stat().st_size
    assert 0 < arrived < (48 << 20)

    res, rep = run(deployer_cli, "ollama_install_only.yml", inv, releases=str(big), prefix=prefix, version="0.5.7")
    assert res.rc == 0, res
    msg = result(rep, "h5", "ollama_install")["msg"]
    assert "resume: " in msg and "already there" in msg, msg
    assert fleet.exec("h5", f"{prefix}/ollama/current/bin/ollama -v").stdout.strip().endswith("client version is 0.5.7")
    assert fleet.exec("h5", f"ls -A {prefix}/ollama").stdout.split() == ["0.5.7", "current"]  # staging gone


def test_arch_mismatch_is_refused_before_anything_is_sent(fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path) -> None:
    prefix = f"/opt/t-{unique()}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h3"])
    res, rep = run(deployer_cli, "ollama_install_only.yml", inv, releases=str(releases), prefix=prefix, version="0.6.0", arch="arm64")
    assert res.rc == 4, res
    msg = result(rep, "h3", "ollama_install")["msg"]
    assert "ollama-linux-arm64.tgz is an arm64 build, but h3 is amd64 (x86_64): nothing was sent" in msg
    assert not fleet.path("h3", prefix).exists()


@pytest.fixture
def old_glibc(fleet: Fleet) -> Iterator[str]:
    """h5 reports glibc 2.17 (CentOS 7) to the facts probe: an ldd earlier on PATH."""
    fake = "/usr/local/bin/ldd"
    fleet.exec("h5", f"printf '#!/bin/sh\\necho \"ldd (GNU libc) 2.17\"\\n' > {fake} && chmod 755 {fake}")
    yield "h5"
    fleet.exec("h5", f"rm -f {fake}")


def test_old_glibc_is_refused_before_anything_is_sent(fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path, old_glibc: str) -> None:
    prefix = f"/opt/t-{unique()}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=[old_glibc])
    res, rep = run(deployer_cli, "ollama_install_only.yml", inv, releases=str(releases), prefix=prefix, version="0.6.0")
    assert res.rc == 4, res
    msg = result(rep, old_glibc, "ollama_install")["msg"]
    assert "Ollama 0.6.0 needs glibc >= 2.27 (official builds since 0.5.13), this host has glibc 2.17: nothing was sent" in msg
    assert not fleet.path(old_glibc, prefix).exists()


def test_public_listen_is_refused_before_any_connection(deployer_cli: Cli, tmp_path: Path) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("[all]\nghost ansible_host=10.255.255.1 ansible_port=22\n")  # would time out if contacted
    started = time.monotonic()
    res = deployer_cli("run", PLAYBOOKS / "ollama_public_listen.yml", "-i", inv)
    assert res.rc == 3, res
    assert time.monotonic() - started < 5
    assert "ollama_public_listen.yml:7:5: ollama.listen 0.0.0.0:11434 puts Ollama's API, which has no authentication" in res.stderr
    assert "allow_public_bind: true" in res.stderr


@pytest.mark.parametrize("forks", [10, 1])
def test_relay_sends_the_archive_from_the_control_node_once(
    fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path, forks: int
) -> None:
    """forks 1: each host installs (and would clean up) before the next starts:
    the archive stays on the finished hosts until the task is over, for the rest."""
    from deployer import relay
    from deployer.transfer import local_artifact

    hosts = ["h1", "h4", "h5"]
    prefix = f"/opt/t-{unique()}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=hosts)
    art = local_artifact(releases / "v0.5.7" / "ollama-linux-amd64.tgz")
    dest = f"{prefix}/ollama/.staging/0.5.7/ollama-linux-amd64.tgz"
    try:
        started = time.monotonic()
        res, rep = run(deployer_cli, "ollama_install_only.yml", inv, "--forks", str(forks),
                       releases=str(releases), prefix=prefix, version="0.5.7", transfer="relay")
        assert res.rc == 0 and all(changed(rep, h) == 1 for h in hosts), res
        assert relay.stats(art.sha256, dest) == {"control_sends": 1, "relayed": len(hosts) - 1}
        assert time.monotonic() - started < relay.IDLE_TIMEOUT  # no hop waited for a file that was gone
        for h in hosts:
            assert fleet.exec(h, f"{prefix}/ollama/current/bin/ollama -v").stdout.strip().endswith("0.5.7")
            assert fleet.exec(h, f"ls -A {prefix}/ollama").stdout.split() == ["0.5.7", "current"]  # staging gone at the end
    finally:
        relay.reset(art.sha256, dest)
        for h in hosts:
            fleet.exec(h, f"rm -rf {prefix}", check=False)


def test_system_mode_without_systemd_says_use_user_mode(fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h5"])
    res, rep = run(deployer_cli, "ollama_system.yml", inv, releases=str(releases), prefix=f"/opt/t-{unique()}",
                   version="0.5.7", port=free_port())
    assert res.rc == 4, res
    assert result(rep, "h5", "ollama_install")["status"] == "changed"
    msg = result(rep, "h5", "ollama_service")["msg"]
    assert "systemd is not running on h5" in msg and "use mode: user" in msg


@pytest.fixture
def no_zstd(fleet: Fleet) -> Iterator[str]:
    fleet.exec("h5", "mv /usr/bin/zstd /usr/bin/zstd.hidden-by-test")
    yield "h5"
    fleet.exec("h5", "mv /usr/bin/zstd.hidden-by-test /usr/bin/zstd")


def test_tar_zst_with_and_without_zstd_on_the_host(
    fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path, no_zstd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the decompressed .tar lands here
    prefix = f"/opt/t-{unique()}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h4", no_zstd])
    res, rep = run(deployer_cli, "ollama_install_only.yml", inv, releases=str(releases), prefix=prefix, version="0.14.2", fmt="tar.zst")
    assert res.rc == 0, res
    assert "no zstd" not in result(rep, "h4", "ollama_install")["msg"]
    assert f"{no_zstd} has no zstd: the decompressed .tar is sent" in result(rep, no_zstd, "ollama_install")["msg"]
    for host in ("h4", no_zstd):
        assert fleet.exec(host, f"{prefix}/ollama/current/bin/ollama -v").stdout.strip().endswith("client version is 0.14.2")
        marker = fleet.path(host, f"{prefix}/ollama/0.14.2/.deployer-install").read_text()
        assert marker.endswith("  ollama-linux-amd64.tar.zst\n")
    assert list((tmp_path / "cache" / "deployer" / "ollama").glob("*.tar"))


def test_online_download_and_a_host_without_internet(fleet: Fleet, deployer_cli: Cli, releases: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    prefix = f"/opt/t-{unique()}"
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h3", "h6"])
    with RegistryServer(tmp_path / "models", host=fleet.controller_address, releases=releases) as reg:
        url = f"{reg.url}/ollama/ollama/releases/download"
        res, rep = run(deployer_cli, "ollama_online.yml", inv, url=url, prefix=prefix, version="0.6.0")
        assert res.rc == 4, res
        assert result(rep, "h3", "ollama_install")["status"] == "changed"
        assert fleet.exec("h3", f"{prefix}/ollama/current/bin/ollama -v").stdout.strip().endswith("client version is 0.6.0")
        assert any(h.path.endswith("/ollama-linux-amd64.tgz") for h in reg.hits("release"))
        msg = result(rep, "h6", "ollama_install")["msg"]
        assert f"h6 cannot download {url}/v0.6.0/ollama-linux-amd64.tgz" in msg and "no internet there?" in msg
        assert not fleet.path("h6", prefix).exists()
        res, rep = run(deployer_cli, "ollama_online.yml", fleet.write_inventory(tmp_path / "h3.ini", hosts=["h3"]),
                       url=url, prefix=prefix, version="0.6.0")
        assert res.rc == 0 and changed(rep, "h3") == 0, res
