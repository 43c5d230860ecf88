"""open_webui mode: pip on a fleet host, as an HPC user without root or docker.

The wheelhouse holds the stand-in `open-webui` wheel (tests/fakes/openwebui/
wheel.py: the same `open-webui serve --host --port` command line and server
as the image); the host's own python3 builds the venv and pip installs from
the wheelhouse with --no-index, exactly as on an offline node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.fakes.openwebui.testbed import ADMIN_EMAIL, ADMIN_PASSWORD, OllamaOnHost, http_json, inventory, playbook
from tests.fakes.openwebui.wheel import build_wheel
from tests.fleet import Fleet

HOST = "h5"
USER = "researcher"
OLLAMA_PORT = 11621
INSTALL = "~/owui-pip"


@pytest.fixture(scope="module")
def ollama(fleet: Fleet) -> Iterator[OllamaOnHost]:
    o = OllamaOnHost(fleet, HOST, "127.0.0.1", OLLAMA_PORT, "ollama-pip").start()
    try:
        yield o
    finally:
        o.stop()
        fleet.exec(HOST, f"kill $(cat /home/{USER}/owui-pip/open-webui.pid); true", check=False)


def server_pid(fleet: Fleet) -> int:
    return int(fleet.exec(HOST, f"cat /home/{USER}/owui-pip/open-webui.pid").stdout)


def test_pip_mode_install_rerun_and_restart_on_change(fleet: Fleet, ollama: OllamaOnHost, tmp_path: Path, deployer_cli: Callable[..., Any]) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    build_wheel(wheelhouse, "0.6.5")
    inv = inventory(fleet, tmp_path / "hosts.ini", [HOST])
    inv.write_text(inv.read_text().replace("ansible_user=root", f"ansible_user={USER}"))

    def run(port: int, *cli: str) -> Any:
        conf = {"mode": "pip", "wheelhouse": str(wheelhouse), "install_dir": INSTALL, "port": port,
                "ollama_listen": f"127.0.0.1:{OLLAMA_PORT}", "health_timeout": 30,
                "admin_email": ADMIN_EMAIL, "admin_password": "{{ openwebui_admin_password }}"}
        pb = playbook(tmp_path / "pip.yml", [{"name": "UI", "hosts": HOST, "gather_facts": False, "frontend": {"open_webui": conf}}])
        return deployer_cli("run", str(pb), "-i", str(inv), "--json", *cli)

    first = run(3201, "-v")
    assert first.rc == 0, str(first)
    service = {r["task"]: r for r in json.loads(first.stdout)["results"]}["Open WebUI: service"]
    assert service["status"] == "changed"
    assert service["msg"].startswith("install open-webui 0.6.5; generate the secret key; write the environment; start open-webui serve; "
                                      "Open WebUI at http://127.0.0.1:3201/ (only this host; from elsewhere: ssh -L 3201:127.0.0.1:3201 h5")
    assert service["data"]["ollama"][0]["models"] == ["qwen2.5:0.5b"]
    pid = server_pid(fleet)
    cmdline = fleet.exec(HOST, f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
    assert "open-webui serve --host 127.0.0.1 --port 3201" in cmdline
    assert fleet.exec(HOST, f"stat -c '%U %a' /proc/{pid}").stdout.split()[0] == USER
    home = f"/home/{USER}/owui-pip"
    assert fleet.exec(HOST, f"stat -c %a {home}/secret.env {home}/open-webui.env").stdout.split() == ["600", "600"]
    key = fleet.exec(HOST, f"cat {home}/secret.env").stdout.strip().partition("=")[2]
    status, session = http_json(fleet, HOST, "http://127.0.0.1:3201/api/v1/auths/signin", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200 and session["role"] == "admin"

    second = run(3201)
    assert second.rc == 0, str(second)
    assert all(r["status"] == "ok" for r in json.loads(second.stdout)["results"])
    assert server_pid(fleet) == pid

    third = run(3202, "--diff")
    assert third.rc == 0, str(third)
    assert "write the environment; restart open-webui serve" in third.stderr
    assert "-# Open WebUI, written by deployer: open-webui serve --host 127.0.0.1 --port 3201" in third.stderr
    assert server_pid(fleet) != pid
    status, again = http_json(fleet, HOST, "http://127.0.0.1:3202/api/v1/auths/", token=session["token"])
    assert status == 200 and again["role"] == "admin"  # same key, same data dir
    assert fleet.exec(HOST, f"cat {home}/secret.env").stdout.strip().partition("=")[2] == key
    for res in (first, second, third):
        assert key not in res.stdout + res.stderr and ADMIN_PASSWORD not in res.stdout + res.stderr
