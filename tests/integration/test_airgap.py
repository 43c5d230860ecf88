"""The air-gapped workflow end to end, through the real CLI: stage -> doctor -> run offline -> rerun.

Upstream is the registry stand-in (models, and GitHub's release paths) bound
on the controller's fleet address, its blob redirects to the CDN served
through an HTTPS proxy the stage client trusts (tests/unit/stage/servers.py).
`deployer stage` plans the playbook for h2, h3 (systemd, mode system) and h6
(behind the jump host h1, mode user as `ops`) from their live facts and
downloads into a temporary artefacts directory. Then every host's path to
the upstream server is cut (an iptables DROP inside h2 and h3; h6 has no route
to the controller at all), and doctor and two runs must work from the
artefacts alone - the server sees no request.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult
from tests.unit.stage.servers import Upstream

Cli = Callable[..., CliResult]
SYSTEM_HOSTS = ["h2", "h3"]
USER_HOST = "h6"


@pytest.fixture(scope="module")
def upstream(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("airgap-upstream"), bind=fleet.controller_address).start()
    yield up
    up.stop()


def _cut(fleet: Fleet, hosts: list[str], port: int, add: bool) -> None:
    rule = f"OUTPUT -p tcp -d {fleet.controller_address} --dport {port} -j DROP"
    for h in hosts:
        fleet.exec(h, f"iptables {'-I' if add else '-D'} {rule}", check=add)


@pytest.fixture
def cut_off(fleet: Fleet, upstream: Upstream) -> Iterator[Callable[[], None]]:
    """cut_off(): the hosts' packets to the upstream server vanish (undone after the test)."""
    cut: list[str] = []

    def cut_now() -> None:
        _cut(fleet, SYSTEM_HOSTS, upstream.registry.port, True)
        cut.extend(SYSTEM_HOSTS)

    yield cut_now
    if cut:
        _cut(fleet, cut, upstream.registry.port, False)


@pytest.fixture
def setup(fleet: Fleet, tmp_path: Path) -> Iterator[dict[str, Any]]:
    unique = uuid.uuid4().hex[:8]
    port = random.randint(20000, 29999)
    prefix, models_dir = f"/opt/ag-{unique}", f"/srv/ag-{unique}/models"
    user_prefix, user_models = f"/home/ops/ag-{unique}", f"/home/ops/ag-{unique}/models"
    plays = [
        {"name": "LLMs on the air-gapped nodes", "hosts": "systemd_nodes",
         "ollama": {"version": "0.5.7", "mode": "system", "prefix": prefix, "listen": f"127.0.0.1:{port}", "models_dir": models_dir,
                    "source": {"tarball": "artifacts/ollama-0.5.7/ollama-linux-{{ deployer_facts.arch }}.tgz",
                               "sha256sums": "artifacts/ollama-0.5.7/sha256sum.txt"}},
         "models": [{"name": "deepseek-r1", "size": "auto", "max_size": "1.5b", "placement": "cpu", "source": "bundle",
                     "bundles": "artifacts/bundles"}]},
        {"name": "The node behind the login node, without root", "hosts": USER_HOST,
         "ollama": {"version": "0.5.7", "mode": "user", "prefix": user_prefix, "listen": f"127.0.0.1:{port + 1}",
                    "models_dir": user_models,
                    "source": {"tarball": "artifacts/ollama-0.5.7/ollama-linux-{{ deployer_facts.arch }}.tgz",
                               "sha256sums": "artifacts/ollama-0.5.7/sha256sum.txt"}},
         "models": [{"name": "qwen2.5:0.5b", "placement": "cpu", "source": "bundle", "bundles": "artifacts/bundles"}]},
    ]
    pb = tmp_path / "airgap.yml"
    pb.write_text(yaml.safe_dump(plays, sort_keys=False))
    inv = fleet.write_inventory(tmp_path / "hosts.ini", hosts=[*SYSTEM_HOSTS, USER_HOST], groups={"systemd_nodes": SYSTEM_HOSTS},
                                host_vars={USER_HOST: {"ansible_user": "ops"}})
    yield {"playbook": pb, "inventory": inv, "artifacts": tmp_path / "artifacts", "port": port}
    for h in SYSTEM_HOSTS:
        fleet.exec(h, f"systemctl stop ollama; rm -rf {prefix} /srv/ag-{unique}", check=False)
    fleet.exec(USER_HOST, f"pid=$(cat /home/ops/.ollama/run/ollama.pid 2>/dev/null) && kill $pid; "
                          f"rm -rf {user_prefix} /home/ops/.ollama /home/ops/.local/bin/ollama", check=False)


def _tags(fleet: Fleet, host: str, port: int) -> list[str]:
    script = (f"import json,urllib.request; print(json.dumps([m['name'] for m in json.load(urllib.request.urlopen("
              f"'http://127.0.0.1:{port}/api/tags'))['models']]))")
    return json.loads(fleet.exec(host, ["python3", "-c", script]).stdout)


def test_stage_then_doctor_then_run_offline_and_the_rerun_changes_nothing(
    fleet: Fleet, upstream: Upstream, setup: dict[str, Any], cut_off: Callable[[], None], deployer_cli: Cli
) -> None:
    upstream.reset()
    pb, inv, artifacts = setup["playbook"], setup["inventory"], setup["artifacts"]
    res = deployer_cli("stage", pb, "-i", inv, "-o", artifacts, "--json", *upstream.args, env=upstream.env)
    assert res.rc == 0, res
    staged = json.loads(res.stdout)
    items = {(i["kind"], i["name"]): i for i in staged["items"]}
    assert set(items) == {("ollama-release", "ollama-linux-amd64.tgz"), ("model", "deepseek-r1:1.5b"), ("model", "qwen2.5:0.5b")}
    assert items[("model", "deepseek-r1:1.5b")]["hosts"] == SYSTEM_HOSTS
    assert items[("ollama-release", "ollama-linux-amd64.tgz")]["hosts"] == [*SYSTEM_HOSTS, USER_HOST]
    assert all(i["status"] == "fetched" for i in staged["items"]) and staged["advice"] == []
    manifest = json.loads((artifacts / "MANIFEST.json").read_text())
    assert {e["kind"] for e in manifest["entries"]} == {"ollama-release", "ollama-sha256sums", "model"}
    assert upstream.proxy.log and all("r2.cloudflarestorage.com:443" in line for line in upstream.proxy.log)

    cut_off()
    for h in SYSTEM_HOSTS:
        probe = fleet.exec(h, f"curl -sS -m 3 {upstream.registry.url}/v2/", check=False)
        assert probe.returncode != 0, f"{h} still reaches the upstream server"
    upstream.registry.clear_log()

    res = deployer_cli("doctor", pb, "-i", inv, "--json", "--registry-url", upstream.registry.url)
    assert res.rc == 0, res
    hosts = json.loads(res.stdout)["hosts"]
    for h in (*SYSTEM_HOSTS, USER_HOST):
        checks = {c["check"]: c for c in hosts[h]["checks"]}
        assert all(c["status"] != "fail" for c in checks.values()), (h, checks)
        assert checks["artefacts"]["status"] == "ok" and "as staged (MANIFEST.json)" in checks["artefacts"]["detail"]
        assert checks["registry"]["status"] == "skip"
    assert {c["check"]: c for c in hosts[USER_HOST]["checks"]}["reachable"]["detail"] == "over SSH through h1"
    assert {c["check"]: c for c in hosts["h2"]["checks"]}["systemd"]["status"] == "ok"

    res = deployer_cli("run", pb, "-i", inv, "--json")
    assert res.rc == 0, res
    assert _tags(fleet, "h2", setup["port"]) == ["deepseek-r1:1.5b"] == _tags(fleet, "h3", setup["port"])
    assert _tags(fleet, USER_HOST, setup["port"] + 1) == ["qwen2.5:0.5b"]
    res = deployer_cli("run", pb, "-i", inv, "--json")
    assert res.rc == 0, res
    assert {h: s["changed"] for h, s in json.loads(res.stdout)["stats"].items()} == {"h2": 0, "h3": 0, USER_HOST: 0}
    res = deployer_cli("doctor", pb, "-i", inv, "--json")
    assert res.rc == 0, res
    for h, port in (("h2", setup["port"]), (USER_HOST, setup["port"] + 1)):
        ports = {c["check"]: c for c in json.loads(res.stdout)["hosts"][h]["checks"]}["ports"]
        assert ports["status"] == "ok" and ports["detail"].startswith(f"{port}: this play's Ollama already listens"), ports
    assert upstream.registry.hits() == [], "doctor or the run went to the upstream server"

    # the air gap is on the hosts' side; staging again from here fetches nothing
    res = deployer_cli("stage", pb, "-i", inv, "-o", artifacts, "--json", *upstream.args, env=upstream.env)
    assert res.rc == 0, res
    assert {i["status"] for i in json.loads(res.stdout)["items"]} == {"kept"}
    assert upstream.registry.hits() == []
