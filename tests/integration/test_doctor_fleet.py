"""`deployer doctor` on the fleet, through the real CLI: each failure with its verdict, its fix and the
exit status - unreachable and unknown/changed host keys (5), sudo that needs a password or refuses it,
no systemd for mode: system, a taken port, artefacts not staged, a registry a host cannot reach (4)."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from deployer.doctor.checks_plan import STAGE_FIX
from tests.fakes.models import make_model
from tests.fakes.registry import RegistryServer
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult

Cli = Callable[..., CliResult]
USER_MODE = "or use mode: user in the play's ollama: key (no root, no systemd)"


def _checks(res: CliResult) -> dict[str, dict[str, dict[str, Any]]]:
    hosts = json.loads(res.stdout)["hosts"]
    return {h: {c["check"]: c for c in r["checks"]} for h, r in hosts.items()}


def _playbook(tmp_path: Path, plays: list[dict]) -> Path:
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump(plays, sort_keys=False))
    return pb


def test_unreachable_hosts_and_host_keys(fleet: Fleet, deployer_cli: Cli, tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h1", "h4", "h5"])
    fleet.stop_sshd("h5")
    fleet.wrong_host_key("h4")
    res = deployer_cli("doctor", "-i", inv, "--json", "--timeout", "5")
    assert res.rc == 5, res
    checks = _checks(res)
    assert checks["h1"]["reachable"]["status"] == "ok" and checks["h1"]["host key"]["detail"] == "known and matching"
    assert checks["h5"]["reachable"]["status"] == "fail" and "Connection refused" in checks["h5"]["reachable"]["detail"]
    assert checks["h5"]["reachable"]["fix"].startswith("check ansible_host/ansible_port, that sshd runs there")
    assert checks["h4"]["host key"]["status"] == "fail" and "has CHANGED" in checks["h4"]["host key"]["detail"]
    assert checks["h4"]["host key"]["fix"].startswith("if the host was reinstalled: ssh-keygen -R")
    assert set(checks["h5"]) == {"reachable"}
    res = deployer_cli("doctor", "-i", inv, "--timeout", "5")
    assert res.rc == 5 and "error: unreachable: h4, h5" in res.stderr and "h5: UNREACHABLE" in res.stderr, res


@pytest.fixture
def listener(fleet: Fleet) -> Iterator[Callable[[str, int], None]]:
    started: list[str] = []

    def listen(host: str, port: int) -> None:
        fleet.exec(host, f"cd /tmp && setsid python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 </dev/null & "
                         f"for i in $(seq 50); do ss -ltnH 'sport = :{port}' | grep -q . && exit 0; sleep 0.1; done; exit 1")
        started.append(host)

    yield listen
    for h in started:
        fleet.exec(h, "pkill -f '^python3 -m http.server' || true", check=False)


def test_sudo_systemd_ports_and_missing_artefacts(fleet: Fleet, deployer_cli: Cli, tmp_path: Path, listener) -> None:
    port = random.randint(20000, 29999)
    art = f"art-{uuid.uuid4().hex[:6]}"
    pb = _playbook(tmp_path, [{"name": "system mode", "hosts": "all", "ollama": {
        "version": "0.6.0", "mode": "system", "listen": f"127.0.0.1:{port}",
        "source": {"tarball": f"{art}/ollama-0.6.0/ollama-linux-{{{{ deployer_facts.arch }}}}.tgz",
                   "sha256sums": f"{art}/ollama-0.6.0/sha256sum.txt"}}}])
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h2", "h3", "h5"], host_vars={
        "h2": {"ansible_user": "deploy"},
        "h3": {"ansible_user": "deploy", "ansible_become_password": "deploy-pass"},
    })
    listener("h5", port)
    listener("h3", port)  # root's process, which deploy cannot see
    res = deployer_cli("doctor", pb, "-i", inv, "--json")
    assert res.rc == 4, res
    checks = _checks(res)
    sudo = checks["h2"]["sudo"]
    assert sudo["status"] == "fail" and sudo["detail"].startswith("sudo needs a password for deploy (sudo -n: ")
    assert sudo["fix"] == f"set ansible_become_password (or run with -K), {USER_MODE}"
    assert checks["h3"]["sudo"] == {"check": "sudo", "status": "ok", "detail": "sudo works for deploy with the become password", "fix": None}
    assert checks["h5"]["sudo"]["detail"] == "logged in as root"
    assert checks["h5"]["systemd"]["status"] == "fail" and checks["h2"]["systemd"]["status"] == "ok"
    ports = checks["h5"]["ports"]
    assert ports["status"] == "fail" and ports["detail"].startswith(f"port {port} (ollama) is taken by python3 -m http.server {port}")
    assert ports["fix"] == "stop that process, or set ollama: listen to a free port"
    assert checks["h3"]["ports"]["status"] == "warn"
    assert checks["h3"]["ports"]["detail"] == f"port {port} (ollama) is taken by a process this user cannot see"
    assert checks["h2"]["ports"]["detail"] == f"{port} free"
    artefacts = checks["h2"]["artefacts"]
    assert artefacts["status"] == "fail" and artefacts["fix"] == STAGE_FIX
    assert artefacts["detail"].startswith(f"ollama-linux-amd64.tgz (Ollama 0.6.0): not at {tmp_path}/{art}/ollama-0.6.0/ollama-linux-amd64.tgz")
    assert checks["h2"]["arch/glibc"]["status"] == "ok" and checks["h2"]["registry"]["status"] == "skip"

    wrong = fleet.write_inventory(tmp_path / "wrong.ini", hosts=["h2"], host_vars={
        "h2": {"ansible_user": "researcher", "ansible_become_password": "researcher-pass"}})
    res = deployer_cli("doctor", pb, "-i", wrong, "--json")
    sudo = _checks(res)["h2"]["sudo"]
    assert res.rc == 4 and sudo["status"] == "fail", res
    assert sudo["detail"].startswith("sudo with the become password fails for researcher: ")
    assert sudo["fix"] == f"fix ansible_become_password (or -K), {USER_MODE}"
    human = deployer_cli("doctor", pb, "-i", wrong)
    assert "blocks the rollout on: h2" in human.stderr and "FAIL" in human.stderr


def test_the_registry_as_each_host_sees_it(fleet: Fleet, deployer_cli: Cli, tmp_path: Path) -> None:
    make_model(tmp_path / "registry", "qwen2.5:0.5b", params="494M", gguf_size=20_000)
    with RegistryServer(tmp_path / "registry", host=fleet.controller_address) as reg:
        pb = _playbook(tmp_path, [{"name": "pull", "hosts": "all", "models": [{"name": "qwen2.5:0.5b", "bundles": "nowhere"}]}])
        inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=["h1", "h6"])
        res = deployer_cli("doctor", pb, "-i", inv, "--json", "--registry-url", reg.url)
        assert res.rc == 4, res
        checks = _checks(res)
        assert checks["h1"]["registry"] == {"check": "registry", "status": "ok", "fix": None,
                                            "detail": f"{reg.url} reachable from h1 (qwen2.5:0.5b pulled there)"}
        h6 = checks["h6"]["registry"]
        assert h6["status"] == "fail" and h6["detail"].startswith(f"{reg.url} is not reachable from h6 (curl: ")
        assert h6["detail"].endswith("pulling qwen2.5:0.5b will time out, and no bundle of it is staged")
        assert h6["fix"] == f"{STAGE_FIX}; then source: bundle"
        assert checks["h6"]["reachable"]["detail"] == "over SSH through h1"
        assert [h.path for h in reg.hits()] == ["/v2/"]  # h1's probe; h6 has no route to it
