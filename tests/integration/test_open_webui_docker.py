"""open_webui in docker on a fleet host, with a real Docker engine (tests/fakes/docker_engine.py).

The engine runs in h4's network namespace, so port publishing, the host
network, host-gateway and restart policies are the real thing; only the image
is a stand-in (tests/fakes/openwebui: the official image's layout and start
script, a small server with Open WebUI's endpoints). Nothing here needs a
docker CLI stand-in. What the engine cannot do here: NAT (--iptables=false),
so a bridged container cannot reach *other* hosts; the front-door test uses
the host network for that reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.fakes import docker_engine
from tests.fakes.docker_engine import DockerEngine
from tests.fakes.openwebui.testbed import ADMIN_EMAIL, ADMIN_PASSWORD, ImageFactory, OllamaOnHost, http_json, inventory, playbook
from tests.fleet import Fleet

pytestmark = pytest.mark.docker
HOST = "h4"
OLLAMA_PORT = 11611


@pytest.fixture(scope="module")
def engine(fleet: Fleet) -> Iterator[DockerEngine]:
    yield from docker_engine.engine_for_tests(fleet, HOST, "owui")


@pytest.fixture(scope="module")
def images(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    return ImageFactory(engine, tmp_path_factory.mktemp("owui-images"))


@pytest.fixture(scope="module")
def ollama(fleet: Fleet, engine: DockerEngine) -> Iterator[OllamaOnHost]:
    o = OllamaOnHost(fleet, HOST, "127.0.0.1", OLLAMA_PORT, "ollama-loopback").start()
    try:
        yield o
    finally:
        o.stop()


Runner = Callable[..., Any]


@pytest.fixture
def deploy(fleet: Fleet, engine: DockerEngine, ollama: OllamaOnHost, tmp_path: Path, deployer_cli: Runner) -> Runner:
    """deploy(name, port, archive, *cli_args, **settings) -> CliResult of `deployer run` on h4."""
    inv = inventory(fleet, tmp_path / "hosts.ini", [HOST])

    def run(name: str, port: int, archive: Path | None, *cli: str, **settings: Any) -> Any:
        conf = {
            "name": name, "port": port, "tag": name, "volume": f"{name}-data",
            "secret_file": f"/etc/deployer/owui-tests/{name}.secret", "docker_host": engine.docker_host,
            "ollama_listen": f"127.0.0.1:{OLLAMA_PORT}", "health_timeout": 30,
            "admin_email": ADMIN_EMAIL, "admin_password": "{{ openwebui_admin_password }}",
        }
        if archive is not None:
            conf["image_tarball"] = str(archive)
        conf.update(settings)
        pb = playbook(tmp_path / f"{name}.yml", [{"name": "UI", "hosts": HOST, "gather_facts": False, "frontend": {"open_webui": conf}}])
        return deployer_cli("run", str(pb), "-i", str(inv), *cli)

    return run


def container(engine: DockerEngine, name: str) -> Any:
    """The container's `docker inspect` object, or None."""
    res = engine.docker("container", "inspect", name, check=False)
    return json.loads(res.stdout)[0] if res.returncode == 0 else None


def recap(result: Any) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith(HOST) and "ok=" in line)


def results(result: Any) -> dict[str, dict[str, Any]]:
    return {r["task"]: r for r in json.loads(result.stdout)["results"]}


def test_check_mode_changes_nothing(deploy: Runner, engine: DockerEngine, images: ImageFactory, fleet: Fleet) -> None:
    archive, _ = images.archive("owui-check")
    res = deploy("owui-check", 3101, archive, "--check", "--json")
    assert res.rc == 0, str(res)
    tasks = results(res)
    assert tasks["Open WebUI: service"]["status"] == "changed"
    assert "load ghcr.io/open-webui/open-webui:owui-check" in tasks["Open WebUI: service"]["msg"]
    assert tasks["Open WebUI: admin account"]["status"] == "changed"
    assert container(engine, "owui-check") is None
    assert engine.docker("image", "inspect", "ghcr.io/open-webui/open-webui:owui-check", check=False).returncode != 0
    assert not fleet.path(HOST, "/etc/deployer/owui-tests/owui-check.secret").exists()
    assert not fleet.path(HOST, f"/var/tmp/deployer/open-webui/{archive.name}").exists()


def test_deploy_rerun_ok_secret_kept_and_never_printed(deploy: Runner, engine: DockerEngine, images: ImageFactory, fleet: Fleet) -> None:
    archive, image_id = images.archive("owui-main")
    first = deploy("owui-main", 3102, archive, "-vv", "--diff")
    assert first.rc == 0, str(first)
    assert "changed=2" in recap(first)
    info = container(engine, "owui-main")
    assert info and info["State"]["Running"] and info["Image"] == image_id
    assert info["HostConfig"]["NetworkMode"] == "host"  # Ollama is on the host's loopback
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert (env["HOST"], env["PORT"], env["OLLAMA_BASE_URL"]) == ("127.0.0.1", "3102", f"http://127.0.0.1:{OLLAMA_PORT}")
    assert env["WEBUI_AUTH"] == "True" and env["OFFLINE_MODE"] == "True" and env["HF_HUB_OFFLINE"] == "1"
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert info["HostConfig"]["Binds"] == ["owui-main-data:/app/backend/data"]
    key_file = fleet.path(HOST, "/etc/deployer/owui-tests/owui-main.secret")
    key = key_file.read_text().strip().partition("=")[2]
    assert len(key) == 64 and env["WEBUI_SECRET_KEY"] == key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    status, session = http_json(fleet, HOST, "http://127.0.0.1:3102/api/v1/auths/signin", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert status == 200 and session["role"] == "admin"
    assert "qwen2.5:0.5b" in first.stderr  # the models the UI sees, reported with -v

    second = deploy("owui-main", 3102, archive, "-vv", "--diff", "--json")
    assert second.rc == 0, str(second)
    assert "changed=0" in recap(second)
    tasks = results(second)
    assert tasks["Open WebUI: service"]["status"] == "ok"
    assert tasks["Open WebUI: service"]["data"]["url"] == "http://127.0.0.1:3102/"
    assert tasks["Open WebUI: admin account"]["status"] == "ok"
    assert container(engine, "owui-main")["Id"] == info["Id"]
    assert key_file.read_text().strip().partition("=")[2] == key
    for text in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert key not in text
        assert ADMIN_PASSWORD not in text


def test_changed_port_recreates_with_volume_and_sessions_kept(deploy: Runner, engine: DockerEngine, images: ImageFactory, fleet: Fleet) -> None:
    archive, _ = images.archive("owui-port")
    assert deploy("owui-port", 3103, archive).rc == 0
    old = container(engine, "owui-port")
    _, session = http_json(fleet, HOST, "http://127.0.0.1:3103/api/v1/auths/signin", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})

    res = deploy("owui-port", 3104, archive, "--diff")
    assert res.rc == 0, str(res)
    assert "recreate container owui-port (env changed; volume kept)" in res.stderr
    assert "-  PORT=3103" in res.stderr and "+  PORT=3104" in res.stderr
    assert "<secret from /etc/deployer/owui-tests/owui-port.secret>" in res.stderr
    new = container(engine, "owui-port")
    assert new["Id"] != old["Id"] and new["Image"] == old["Image"]
    status, again = http_json(fleet, HOST, "http://127.0.0.1:3104/api/v1/auths/", token=session["token"])
    assert status == 200 and again["email"] == ADMIN_EMAIL  # same secret key: the old session is still valid
    assert "changed=0" in recap(deploy("owui-port", 3104, archive))  # the admin was not created again


def test_image_already_there_is_not_pushed(deploy: Runner, engine: DockerEngine, images: ImageFactory, fleet: Fleet) -> None:
    archive, image_id = images.archive("owui-present", keep_loaded=True)
    res = deploy("owui-present", 3105, archive, "--json")
    assert res.rc == 0, str(res)
    data = results(res)["Open WebUI: service"]["data"]
    assert data["image_action"] == "present" and "image_pushed_bytes" not in data
    assert container(engine, "owui-present")["Image"] == image_id
    assert not fleet.path(HOST, f"/var/tmp/deployer/open-webui/{archive.name}").exists()
    engine.docker("rm", "-f", "owui-present")
    res = deploy("owui-present", 3105, archive, "--json")
    assert results(res)["Open WebUI: service"]["msg"].startswith("create container owui-present; Open WebUI at http://127.0.0.1:3105/")

    # the same image id under another name: a docker tag, still nothing sent
    engine.docker("tag", "ghcr.io/open-webui/open-webui:owui-present", "lab/open-webui:copy")
    engine.docker("rm", "-f", "owui-present")
    engine.docker("rmi", "ghcr.io/open-webui/open-webui:owui-present")
    res = deploy("owui-present", 3105, archive, "--json")
    msg = results(res)["Open WebUI: service"]["msg"]
    assert msg.startswith(f"tag image {image_id} as ghcr.io/open-webui/open-webui:owui-present; create container owui-present"), msg
    assert not fleet.path(HOST, f"/var/tmp/deployer/open-webui/{archive.name}").exists()


def test_a_stopped_container_is_started(deploy: Runner, engine: DockerEngine, images: ImageFactory) -> None:
    archive, _ = images.archive("owui-stopped")
    assert deploy("owui-stopped", 3110, archive).rc == 0
    engine.docker("stop", "owui-stopped")
    res = deploy("owui-stopped", 3110, archive, "--diff")
    assert res.rc == 0, str(res)
    assert "start container owui-stopped" in res.stderr and "-state: exited" in res.stderr and "+state: running" in res.stderr
    assert container(engine, "owui-stopped")["State"]["Running"]
    assert "changed=0" in recap(deploy("owui-stopped", 3110, archive))


def test_health_timeout_says_what_the_server_said(deploy: Runner, images: ImageFactory) -> None:
    archive, _ = images.archive("owui-sick")
    res = deploy("owui-sick", 3106, archive, health_timeout=4, env={"FAKE_OPENWEBUI_UNHEALTHY": "1"})
    assert res.rc == 4, str(res)
    assert "Open WebUI did not answer GET /health on h4 127.0.0.1:3106 within 4s (last: HTTP 503" in res.stderr
    assert "Uvicorn running on http://127.0.0.1:3106" in res.stderr  # the container's log, attached


def test_bridge_network_with_ollama_on_the_docker0_address(deploy: Runner, engine: DockerEngine, images: ImageFactory, fleet: Fleet) -> None:
    bridged = OllamaOnHost(fleet, HOST, "172.17.0.1", OLLAMA_PORT + 1, "ollama-docker0").start()
    try:
        archive, _ = images.archive("owui-bridge")
        res = deploy("owui-bridge", 3107, archive, "-v", ollama_listen=f"172.17.0.1:{OLLAMA_PORT + 1}")
        assert res.rc == 0, str(res)
        info = container(engine, "owui-bridge")
        assert info["HostConfig"]["NetworkMode"] == "default"
        assert info["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3107"}]}
        assert f"http://172.17.0.1:{OLLAMA_PORT + 1}" in res.stderr and "qwen2.5:0.5b" in res.stderr
    finally:
        bridged.stop()


def test_bridge_network_cannot_reach_loopback_ollama(deploy: Runner, engine: DockerEngine, images: ImageFactory) -> None:
    archive, _ = images.archive("owui-trap")
    res = deploy("owui-trap", 3108, archive, network="bridge")
    assert res.rc == 4, str(res)
    assert "a container on the bridge network cannot reach the host's loopback" in res.stderr
    assert container(engine, "owui-trap") is None


def test_front_door_for_several_ollama_nodes(fleet: Fleet, engine: DockerEngine, images: ImageFactory, tmp_path: Path, deployer_cli: Runner) -> None:
    nodes = ["h5", "h3"]
    inv = inventory(fleet, tmp_path / "hosts.ini", ["h3", "h4", "h5"], groups={"compute": nodes, "frontdoor": [HOST]})
    archive, _ = images.archive("owui-door")
    conf = {"name": "owui-door", "port": 3109, "bind": "0.0.0.0", "tag": "owui-door", "volume": "owui-door-data",
            "image_tarball": str(archive), "docker_host": engine.docker_host, "health_timeout": 30,
            "secret_file": "/etc/deployer/owui-tests/owui-door.secret", "backends": ["compute"], "backend_port": 11631,
            # no NAT with this engine (--iptables=false): a bridged container cannot reach other hosts here
            "network": "host",
            "admin_email": ADMIN_EMAIL, "admin_password": "{{ openwebui_admin_password }}"}
    pb = playbook(tmp_path / "door.yml", [
        # in a real run this play installs Ollama on the nodes (deployer's hostvars knows hosts of earlier plays)
        {"name": "Ollama nodes", "hosts": "compute", "gather_facts": False, "tasks": [{"debug": {"msg": "node"}}]},
        {"name": "Front door", "hosts": "frontdoor", "gather_facts": False, "frontend": {"open_webui": conf}},
    ])

    loopback = [OllamaOnHost(fleet, h, "127.0.0.1", 11631, "ollama-door").start() for h in nodes]
    try:
        refused = deployer_cli("run", str(pb), "-i", str(inv))
    finally:
        for o in loopback:
            o.stop()
    assert refused.rc == 4, str(refused)
    assert "Open WebUI cannot reach Ollama from h4" in refused.stderr, str(refused)
    assert "Ollama listens on 127.0.0.1 by default, so other hosts cannot reach it" in refused.stderr
    assert container(engine, "owui-door") is None

    public = [OllamaOnHost(fleet, h, "0.0.0.0", 11631, "ollama-door").start() for h in nodes]
    try:
        res = deployer_cli("run", str(pb), "-i", str(inv), "--json")
    finally:
        for o in public:
            o.stop()
    assert res.rc == 0, str(res)
    urls = ";".join(f"http://{fleet.host(h).address}:11631" for h in nodes)
    env = dict(e.split("=", 1) for e in container(engine, "owui-door")["Config"]["Env"])
    assert env["OLLAMA_BASE_URLS"] == urls and env["OLLAMA_BASE_URL"] == "/ollama"  # the image's default; URLS wins
    service = results(res)["Open WebUI: service"]["data"]
    assert [o["models"] for o in service["ollama"]] == [["qwen2.5:0.5b"], ["qwen2.5:0.5b"]]
    assert service["url"] == f"http://{fleet.host(HOST).address}:3109/"



def test_front_door_through_ssh_tunnels_to_loopback_nodes(
    fleet: Fleet, engine: DockerEngine, images: ImageFactory, tmp_path: Path, deployer_cli: Runner
) -> None:
    """backend_reach: tunnel: the nodes' Ollama stays on 127.0.0.1; the front door forwards to it over SSH."""
    nodes = ["h5", "h3"]
    inv = inventory(fleet, tmp_path / "hosts.ini", ["h3", "h4", "h5"], groups={"compute": nodes, "frontdoor": [HOST]})
    archive, _ = images.archive("owui-tun")
    conf = {"name": "owui-tun", "port": 3111, "tag": "owui-tun", "volume": "owui-tun-data", "image_tarball": str(archive),
            "docker_host": engine.docker_host, "health_timeout": 30, "secret_file": "/etc/deployer/owui-tests/owui-tun.secret",
            "backends": ["compute"], "backend_port": 11633, "backend_reach": "tunnel", "tunnel_port": 21611,
            "admin_email": ADMIN_EMAIL, "admin_password": "{{ openwebui_admin_password }}"}
    pb = playbook(tmp_path / "tun.yml", [
        {"name": "Ollama nodes", "hosts": "compute", "gather_facts": False, "tasks": [{"debug": {"msg": "node"}}]},
        {"name": "Front door", "hosts": "frontdoor", "gather_facts": False, "frontend": {"open_webui": conf}},
    ])
    state = "/root/.local/state/deployer/open-webui-tunnels/owui-tun"
    tag = f"deployer-tunnel:{HOST}:owui-tun"

    def authorized(host: str) -> list[str]:
        keys = fleet.path(host, "/root/.ssh/authorized_keys")
        return [ln for ln in keys.read_text().splitlines() if ln.endswith(tag)] if keys.exists() else []

    ollamas = [OllamaOnHost(fleet, h, "127.0.0.1", 11633, "ollama-tun").start() for h in nodes]
    try:
        check = deployer_cli("run", str(pb), "-i", str(inv), "--check", "--json")
        assert check.rc == 0, str(check)
        msg = results(check)["Open WebUI: service"]["msg"]
        assert "make the tunnel key; authorize it on h5, h3 (forwarding to Ollama's port only); start the SSH tunnels to h5, h3" in msg
        assert container(engine, "owui-tun") is None and not fleet.path(HOST, state).exists()
        assert authorized("h5") == [] and authorized("h3") == []

        res = deployer_cli("run", str(pb), "-i", str(inv), "--json")
        assert res.rc == 0, str(res)
        env = dict(e.split("=", 1) for e in container(engine, "owui-tun")["Config"]["Env"])
        assert env["OLLAMA_BASE_URLS"] == "http://127.0.0.1:21611;http://127.0.0.1:21612"
        service = results(res)["Open WebUI: service"]["data"]
        assert [o["models"] for o in service["ollama"]] == [["qwen2.5:0.5b"], ["qwen2.5:0.5b"]]
        assert [t["backend"] for t in service["tunnels"]] == nodes
        for h in nodes:  # the key may forward to Ollama's port, nothing else
            (line,) = authorized(h)
            assert line.startswith('restrict,port-forwarding,permitopen="127.0.0.1:11633",command="/bin/false" ssh-ed25519 ')
        assert oct(fleet.path(HOST, f"{state}/id_ed25519").stat().st_mode & 0o777) == "0o600"
        shell = fleet.exec(HOST, f"ssh -F /dev/null -i {state}/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile={state}/known_hosts "
                                 f"root@{fleet.host('h5').address} hostname", check=False)
        assert shell.returncode != 0 and "h5" not in shell.stdout  # no shell with this key
        listening = fleet.exec(HOST, "ss -Hltn").stdout
        assert "127.0.0.1:21611" in listening and "0.0.0.0:21611" not in listening

        again = deployer_cli("run", str(pb), "-i", str(inv), "--json")
        assert again.rc == 0 and results(again)["Open WebUI: service"]["status"] == "ok", str(again)

        # the keeper died (a reboot of the front door): the rerun starts the tunnels again, the UI is kept
        pid = fleet.path(HOST, f"{state}/keeper.pid").read_text().strip()
        fleet.exec(HOST, f"kill -TERM -{pid}")
        fleet.exec(HOST, f"for i in $(seq 50); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done; exit 1")
        healed = deployer_cli("run", str(pb), "-i", str(inv), "--json")
        assert healed.rc == 0, str(healed)
        msg = results(healed)["Open WebUI: service"]["msg"]
        assert msg.startswith("start the SSH tunnels to h5, h3; Open WebUI at http://"), msg  # the container is kept
        assert [o["models"] for o in results(healed)["Open WebUI: service"]["data"]["ollama"]] == [["qwen2.5:0.5b"]] * 2
        assert len(authorized("h5")) == 1  # not added twice

        # another node list: the keeper is rewritten and replaced, not started beside the old one
        old = fleet.path(HOST, f"{state}/keeper.pid").read_text().strip()
        conf["backends"] = ["h3"]
        playbook(tmp_path / "tun.yml", [
            {"name": "Ollama nodes", "hosts": "compute", "gather_facts": False, "tasks": [{"debug": {"msg": "node"}}]},
            {"name": "Front door", "hosts": "frontdoor", "gather_facts": False, "frontend": {"open_webui": conf}},
        ])
        fewer = deployer_cli("run", str(pb), "-i", str(inv), "--json")
        assert fewer.rc == 0, str(fewer)
        msg = results(fewer)["Open WebUI: service"]["msg"]
        assert "restart the SSH tunnels to h3; remove the key from h5 (no longer a backend)" in msg, msg
        assert authorized("h5") == [] and len(authorized("h3")) == 1
        settled = deployer_cli("run", str(pb), "-i", str(inv), "--json")
        assert settled.rc == 0 and results(settled)["Open WebUI: service"]["status"] == "ok", str(settled)
        assert fleet.exec(HOST, f"kill -0 {old}", check=False).returncode != 0
        listening = fleet.exec(HOST, "ss -Hltn").stdout
        assert "127.0.0.1:21611" in listening and "127.0.0.1:21612" not in listening
        sessions = fleet.exec(HOST, "for p in $(pgrep -f '^sh ./keeper.sh'); do ps -o sid= -p $p; done | sort -u").stdout.split()
        assert len(sessions) == 1, sessions  # one keeper
    finally:
        for o in ollamas:
            o.stop()
        pid_file = fleet.path(HOST, f"{state}/keeper.pid")
        if pid_file.exists():
            fleet.exec(HOST, f"kill -TERM -{pid_file.read_text().strip()}", check=False)
        engine.docker("rm", "-f", "owui-tun", check=False)