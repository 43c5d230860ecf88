"""The test fleet's own tests: the hosts are what the other integration tests assume."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from deployer.ssh import SSHConnector, SSHTarget
from tests.fleet import Fleet, missing_prerequisites
from tests.fleet.deployer_cli import run_deployer
from tests.fleet.pytest_support import REQUIRE_FLEET_ENV, fleet_unavailable, start_fleet

REPO = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def leftovers(fleet_id: int, fleet_dir: Path) -> list[str]:
    """Everything of fleet `fleet_id` still on the machine."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"netns {ln.split()[0]}" for ln in netns.splitlines() if ln.startswith(f"dpf{fleet_id}-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    found += [f"link {ln.split(': ')[1]}" for ln in links.splitlines() if ln.split(": ")[1].startswith(f"dpf{fleet_id}")]
    found += [f"mount {ln}" for ln in Path("/proc/self/mounts").read_text().splitlines()
              if ln.startswith(f"dpf{fleet_id}-") or f" {fleet_dir}/" in ln]
    routes = subprocess.run(["ip", "route", "show", "proto", "213"], capture_output=True, text=True, check=True).stdout
    found += [f"route {ln}" for ln in routes.splitlines() if f".{fleet_id}.0/24" in ln]
    if fleet_dir.exists():
        found.append(f"dir {fleet_dir}")
    if Path(f"/run/deployer-fleet/{fleet_id}").exists():
        found.append(f"registry entry {fleet_id}")
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.fleet
def test_hosts_are_separate_machines(fleet: Fleet) -> None:
    assert [h.name for h in fleet.hosts] == ["h1", "h2", "h3", "h4", "h5", "h6"]
    assert len({h.address for h in fleet.hosts}) == 6
    for h in fleet.hosts:
        out = fleet.ssh(h.name, "echo $(hostname) $FLEET_HOST $(cat /etc/machine-id)").stdout.split()
        assert out[:2] == [h.name, h.name]
    assert len({fleet.path(h, "/etc/machine-id").read_text() for h in fleet.names}) == 6

    base = unique("harness")
    fleet.ssh("h1", f"echo on-h1 > /opt/{base}; echo tmp > /tmp/{base}")
    assert fleet.path("h1", f"/opt/{base}").read_text() == "on-h1\n"
    assert (fleet.host("h1").root / "opt" / base).read_text() == "on-h1\n"
    assert fleet.path("h1", f"/tmp/{base}").read_text() == "tmp\n"
    for other in ("h2", "h6"):
        assert not fleet.path(other, f"/opt/{base}").exists()
        assert not fleet.path(other, f"/tmp/{base}").exists()
    assert not Path(f"/opt/{base}").exists(), "a host's write reached the controller's own files"
    assert fleet.exec("h2", ["cat", "/etc/hostname"]).stdout == "h2\n"


@pytest.mark.fleet
def test_jump_only_host(fleet: Fleet) -> None:
    h6 = fleet.host("h6")
    assert h6.via == "h1" and all(h.via is None for h in fleet.hosts[:5])
    started = time.monotonic()
    with pytest.raises(OSError):
        socket.create_connection((h6.address, h6.port), timeout=5).close()
    assert time.monotonic() - started < 2, "unreachable must fail at once, not hang"
    # only h1 has a way to it
    probe = f"timeout 3 bash -c 'echo > /dev/tcp/{h6.address}/22'"
    assert fleet.exec("h1", probe, check=False).returncode == 0
    assert fleet.exec("h2", probe, check=False).returncode != 0
    # a server on the controller (artefacts, a fake registry) is for direct hosts only
    with socket.create_server((fleet.controller_address, 0)) as server:
        port = server.getsockname()[1]
        probe = f"timeout 3 bash -c 'echo > /dev/tcp/{fleet.controller_address}/{port}'"
        assert fleet.exec("h2", probe, check=False).returncode == 0
        assert fleet.exec("h6", probe, check=False).returncode != 0
    # OpenSSH through ssh_config's ProxyJump, by name and by the inventory's address
    assert fleet.ssh("h6", "hostname").stdout == "h6\n"
    assert fleet.ssh(h6.address, "hostname").stdout == "h6\n"
    assert fleet.ssh("h6", "hostname", options=["-o", "ProxyJump=none", "-o", "ConnectTimeout=3"], check=False).returncode == 255


@pytest.mark.fleet
def test_deployer_ssh_reaches_every_host_from_the_inventory(fleet: Fleet, tmp_path: Path) -> None:
    inventory = yaml.safe_load(fleet.write_inventory(tmp_path / "inv.yml", fmt="yaml").read_text())
    group = inventory["all"]["children"]["fleet"]
    connector = SSHConnector()
    try:
        for name, hv in group["hosts"].items():
            target = SSHTarget(
                name=name, host=hv["ansible_host"], port=hv["ansible_port"], user=group["vars"]["ansible_user"],
                key_file=group["vars"]["ansible_ssh_private_key_file"],
                ssh_config_file=group["vars"]["ansible_ssh_common_args"].split()[1],
            )
            conn = connector.connect(target)
            try:
                assert conn.run("hostname").stdout == f"{name}\n"
            finally:
                conn.close()
    finally:
        connector.close()


@pytest.mark.fleet
@pytest.mark.parametrize("host", ["h1", "h6"])
def test_users_and_their_sudo(fleet: Fleet, host: str) -> None:
    """The client key logs in as each user; sudo asks deploy's password, not ops', and refuses researcher."""
    def as_user(user: str, cmd: str) -> list[str]:
        return fleet.ssh(host, cmd, user=user, check=False).stdout.splitlines()

    # one session per user (through the jump host each costs two handshakes)
    assert as_user("deploy", """id -un; sudo -n true 2>&1; echo rc=$?
        echo deploy-pass | sudo -S -p '' id -u""") == ["deploy", "sudo: a password is required", "rc=1", "0"]
    assert as_user("ops", "id -un; sudo -n id -u") == ["ops", "0"]
    assert as_user("researcher", "id -un; echo researcher-pass | sudo -S -p '' id -u 2>&1; echo rc=$?") == [
        "researcher", "researcher is not in the sudoers file.", "rc=1"]
    if host == "h1":  # a wrong password costs PAM's 2 s failure delay: once is enough
        assert as_user("deploy", "echo wrong | sudo -S -p '' true; echo rc=$?") == ["rc=1"]


@pytest.mark.fleet
def test_systemd_hosts_run_units(fleet: Fleet) -> None:
    unit = unique("harness")
    fleet.path("h2", f"/etc/systemd/system/{unit}.service").write_text(textwrap.dedent("""\
        [Unit]
        Description=fleet harness probe
        [Service]
        Type=simple
        ExecStart=/bin/sleep 1000
        [Install]
        WantedBy=multi-user.target
    """))
    try:
        # each call of this systemctl costs ~0.3 s of Python: few calls, many answers
        started = fleet.ssh("h2", f"""test -d /run/systemd/system && systemctl is-system-running
            systemctl daemon-reload 2>/dev/null && systemctl start {unit} && systemctl is-active {unit}
            systemctl is-enabled {unit}; systemctl enable {unit} && systemctl is-enabled {unit}""", check=False)
        assert started.stdout.split() == ["running", "active", "disabled", "enabled"], started
        assert "sleep 1000" in fleet.exec("h2", "ps -eo args").stdout
        stopped = fleet.ssh("h2", f"systemctl stop {unit} && systemctl is-active {unit}", check=False)
        assert (stopped.returncode, stopped.stdout) == (3, "inactive\n")
        assert "sleep 1000" not in fleet.exec("h2", "ps -eo args").stdout
    finally:
        fleet.ssh("h2", f"systemctl disable {unit}; rm -f /etc/systemd/system/{unit}.service", check=False)
    # a host without systemd says so, as a container or an HPC node would
    plain = fleet.ssh("h4", "test -d /run/systemd/system || echo none; systemctl is-system-running", check=False)
    assert plain.stdout.startswith("none\n") and "running" not in plain.stdout.split("\n", 1)[1]
    assert [h.name for h in fleet.hosts if h.systemd] == ["h2", "h3"]


@pytest.mark.fleet
def test_stopped_sshd_refuses_and_drops_connections_but_the_host_stays_up(fleet: Fleet) -> None:
    fleet.exec("h4", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &")
    session = subprocess.Popen(fleet.ssh_argv("h4") + ["sleep 60"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    fleet.stop_sshd("h4")
    assert session.wait(timeout=10) != 0, "the open connection survived"
    refused = fleet.ssh("h4", "true", check=False)
    assert refused.returncode == 255 and "Connection refused" in refused.stderr
    assert "sleep 300" in fleet.exec("h4", "ps -eo args").stdout
    fleet.start_sshd("h4")
    assert fleet.ssh("h4", "hostname").stdout == "h4\n"
    fleet.exec("h4", ["pkill", "-f", "sleep 300"])


@pytest.mark.fleet
def test_cut_network_times_out_until_restored(fleet: Fleet) -> None:
    fleet.cut_network("h5")
    cut = fleet.ssh("h5", "true", options=["-o", "ConnectTimeout=1"], check=False)
    assert cut.returncode == 255 and "timed out" in cut.stderr
    fleet.restore_network("h5")
    assert fleet.ssh("h5", "hostname").stdout == "h5\n"
    # behind the jump host too
    fleet.cut_network("h6")
    assert fleet.ssh("h6", "true", options=["-o", "ConnectTimeout=1"], check=False).returncode == 255
    fleet.restore()
    assert fleet.ssh("h6", "hostname").stdout == "h6\n"


@pytest.mark.fleet
def test_rate_limit_slows_the_link(fleet: Fleet) -> None:
    blob = b"x" * 2_500_000

    def upload_seconds() -> float:
        started = time.monotonic()
        subprocess.run(fleet.ssh_argv("h3") + ["cat > /dev/null"], input=blob, check=True, timeout=60)
        return time.monotonic() - started

    fast = upload_seconds()
    fleet.rate_limit("h3", 20)  # 2.5 MB at 20 Mbit/s: 1 s
    slow = upload_seconds()
    fleet.clear_rate_limit("h3")
    assert slow > 0.8 and slow > fast + 0.4, (fast, slow)
    assert upload_seconds() < slow


@pytest.mark.fleet
def test_wrong_host_key_is_refused(fleet: Fleet) -> None:
    fleet.wrong_host_key("h3")
    refused = fleet.ssh("h3", "true", check=False)
    assert refused.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    assert fleet.ssh("h4", "hostname").stdout == "h4\n", "other hosts' entries must stay right"
    fleet.right_host_key("h3")
    assert fleet.ssh("h3", "hostname").stdout == "h3\n"


@pytest.mark.fleet
def test_inventory_formats(fleet: Fleet, tmp_path: Path) -> None:
    ini = fleet.write_inventory(
        tmp_path / "hosts.ini", hosts=["h1", "h6"], host_vars={"h6": {"gpu": "none yet"}},
        group_vars={"ansible_user": "deploy", "ansible_become_password": "deploy-pass"}, groups={"login": ["h1"]},
    ).read_text()
    h1, h6 = fleet.host("h1"), fleet.host("h6")
    assert f"h1 ansible_host={h1.address} ansible_port=22\n" in ini
    assert f"h6 ansible_host={h6.address} ansible_port=22 gpu='none yet'\n" in ini
    assert f"ansible_ssh_common_args='-F {fleet.ssh_config}'\n" in ini
    assert "ansible_user=deploy\n" in ini and "[login]\nh1\n" in ini and "h2 " not in ini
    data = yaml.safe_load(fleet.write_inventory(tmp_path / "hosts.yml", fmt="yaml").read_text())
    assert data["all"]["children"]["fleet"]["hosts"]["h6"] == {"ansible_host": h6.address, "ansible_port": 22}
    assert data["all"]["children"]["fleet"]["vars"]["ansible_ssh_private_key_file"] == str(fleet.client_key)
    with pytest.raises(ValueError, match="not in the inventory"):
        fleet.write_inventory(tmp_path / "bad.ini", hosts=["h1"], groups={"g": ["h2"]})


@pytest.mark.fleet
def test_two_fleets_at_once_do_not_collide(fleet: Fleet) -> None:
    marker = unique("/srv/second")
    with start_fleet(Fleet(2, users=False)) as other:
        assert other.id != fleet.id and other.dir != fleet.dir
        assert not {h.address for h in other.hosts} & {h.address for h in fleet.hosts}
        other.ssh("h1", f"touch {marker}")
        assert other.ssh("h1", "hostname").stdout == "h1\n"
        assert fleet.ssh("h1", f"test -e {marker} || echo absent").stdout == "absent\n"
        other_id, other_dir = other.id, other.dir
    assert other_id is not None and other_dir is not None
    assert leftovers(other_id, other_dir) == []
    assert fleet.ssh("h1", "hostname").stdout == "h1\n"


@pytest.mark.fleet
def test_down_leaves_nothing_behind() -> None:
    f = start_fleet(Fleet(2, jump_host=True, systemd_hosts=["h1"]))
    fleet_id, fleet_dir = f.id, f.dir
    assert fleet_id is not None and fleet_dir is not None
    pids = [f.init_pid(h) for h in f.names] + [int((fleet_dir / "ctl" / h / "launcher.pid").read_text()) for h in f.names]
    f.exec("h2", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &")
    assert leftovers(fleet_id, fleet_dir) != []
    f.down()
    f.down()  # twice is harmless
    assert leftovers(fleet_id, fleet_dir) == []
    assert not [p for p in pids if alive(p)]


@pytest.mark.fleet
def test_sweep_cleans_up_after_a_crashed_owner() -> None:
    reason = missing_prerequisites()
    if reason:
        fleet_unavailable(reason)
    crash = "import os; from tests.fleet import Fleet; f = Fleet(1, users=False).up(); print(f.id, f.dir, f.init_pid('h1'), flush=True); os._exit(0)"
    out = subprocess.run([sys.executable, "-c", crash], cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
    fleet_id, fleet_dir, init = out.split()
    assert alive(int(init)), "the crashed owner's fleet should still be there before the sweep"
    Fleet.sweep()
    assert leftovers(int(fleet_id), Path(fleet_dir)) == []
    assert not alive(int(init))


def test_unavailable_fleet_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_FLEET_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="not root"):
        fleet_unavailable("not root")
    monkeypatch.setenv(REQUIRE_FLEET_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="required .* not root"):
        fleet_unavailable("not root")


@pytest.mark.parametrize("subprocess_", [False, True])
def test_cli_runner_captures_output_and_exit_status(subprocess_: bool) -> None:
    version = run_deployer(["--version"], subprocess_=subprocess_)
    assert (version.rc, version.stdout.split()[0]) == (0, "deployer,"), version
    usage = run_deployer(["no-such-command"], subprocess_=subprocess_)
    assert usage.rc == 2 and "no-such-command" in usage.stderr, usage


@pytest.mark.fleet
@pytest.mark.parametrize("subprocess_", [False, True])
def test_deployer_runs_a_playbook_on_the_fleet_as_a_sudo_user(fleet: Fleet, tmp_path: Path, subprocess_: bool) -> None:
    """The harness's inventory works for deployer end to end: ProxyJump to h6,
    login as deploy, sudo with its password (from -K in-process, else the inventory)."""
    marker = unique("cli")
    (tmp_path / "pb.yml").write_text(textwrap.dedent(f"""\
        - name: harness smoke
          hosts: fleet
          gather_facts: false
          become: true
          tasks:
            - name: mark the host
              command: "touch /tmp/{marker}-{{{{ inventory_hostname }}}}"
    """))
    login = {"ansible_user": "deploy"} if not subprocess_ else {"ansible_user": "deploy", "ansible_become_password": "deploy-pass"}
    inventory = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h1", "h6"], group_vars=login)
    args = ["run", "pb.yml", "-i", inventory] + ([] if subprocess_ else ["-K"])
    res = run_deployer(args, cwd=tmp_path, subprocess_=subprocess_, password="deploy-pass")
    assert res.rc == 0, res
    for host in ("h1", "h6"):
        assert fleet.path(host, f"/tmp/{marker}-{host}").stat().st_uid == 0, "not made through sudo"
