"""Arguments that are refused with a reason, and the wiring chosen for each place Ollama listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from deployer.errors import ModuleFailure
from deployer.openwebui.config import AdminArgs, OpenWebUIArgs
from deployer.openwebui.tunnels import authorized_line, keeper_script
from deployer.openwebui.wiring import FETCH_TAGS, Reach, parse_fetch, resolve, unreachable_message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"bind": "localhost"}, "bind must be an IP address"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"name": "-x"}, "a docker container name"),
        ({"image": "ghcr.io/open-webui/open-webui:main"}, "give the repository here and the tag in tag:"),
        ({"env": {"WEBUI_SECRET_KEY": "x"}}, "set by deployer (deployer generates it once per host"),
        ({"env": {"OLLAMA_BASE_URL": "http://x"}}, "use ollama_url"),
        ({"env": {"A": "1\n2"}}, "spans lines"),
        ({"env": {"1A": "x"}}, "is not an environment variable name"),
        ({"add_hosts": ["nohost"]}, "is not NAME:ADDRESS"),
        ({"ollama_url": "http://a:1", "backends": ["compute"]}, "either ollama_url"),
        ({"mode": "pip"}, "mode: pip needs wheelhouse"),
        ({"mode": "pip", "wheelhouse": "w", "network": "host"}, "network is for mode: docker"),
        ({"version": "0.6.5"}, "version is for mode: pip"),
        ({"restart": "sometimes"}, "Input should be"),
        ({"backend_reach": "tunnel"}, "backend_reach: tunnel is for a front door: name the Ollama nodes in backends"),
        ({"backend_reach": "tunnel", "backends": ["c"], "network": "bridge"}, "needs network: host (or auto)"),
        ({"backend_reach": "ssh", "backends": ["c"]}, "Input should be 'network' or 'tunnel'"),
        ({"tunnel_port": 80}, "greater than or equal to 1024"),
    ],
)
def test_bad_arguments_say_why(args: dict, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OpenWebUIArgs(**args)
    assert message in str(exc.value)


def test_both_sources_may_be_given_for_a_mode_chosen_per_host() -> None:
    # e.g. mode: "{{ 'docker' if deployer_facts.software.docker_usable else 'pip' }}"
    assert OpenWebUIArgs(mode="pip", wheelhouse="w", image_tarball="x.tar").wheelhouse == "w"
    assert OpenWebUIArgs(mode="docker", wheelhouse="w", image_tarball="x.tar").image_tarball == "x.tar"


def test_admin_password_limits_and_values_coerced() -> None:
    with pytest.raises(ValidationError, match="longer than 72 bytes"):
        AdminArgs(email="a@b.c", password="é" * 37)
    # empty = generated on the host (see test_admin.py)
    assert AdminArgs(email="a@b.c", password="").password is None
    assert AdminArgs(email="a@b.c", password="p", bind="0.0.0.0").reach_host == "127.0.0.1"
    assert OpenWebUIArgs(env={"N": 3, "B": True}).env == {"N": "3", "B": "True"}


@pytest.mark.parametrize(
    ("args", "network", "urls"),
    [
        ({}, "host", ("http://127.0.0.1:11434",)),
        ({"ollama_listen": "127.0.0.1:11500"}, "host", ("http://127.0.0.1:11500",)),
        ({"ollama_listen": "0.0.0.0:11434"}, "bridge", ("http://host.docker.internal:11434",)),
        ({"ollama_listen": "0.0.0.0:11434", "network": "host"}, "host", ("http://127.0.0.1:11434",)),
        ({"ollama_listen": "172.17.0.1:11434"}, "bridge", ("http://172.17.0.1:11434",)),
        ({"ollama_listen": "[fd00::5]:11434"}, "bridge", ("http://[fd00::5]:11434",)),
        ({"ollama_url": "http://localhost:11434/"}, "host", ("http://localhost:11434",)),
        ({"ollama_url": "http://gpu1.lab:11434"}, "bridge", ("http://gpu1.lab:11434",)),
        ({"mode": "pip", "wheelhouse": "w", "ollama_listen": "0.0.0.0:11434"}, "host", ("http://127.0.0.1:11434",)),
    ],
)
def test_wiring(args: dict, network: str, urls: tuple) -> None:
    w = resolve(OpenWebUIArgs(**args), {})
    assert (w.network, w.urls) == (network, urls)
    assert w.env == {"OLLAMA_BASE_URL": urls[0]}


@pytest.mark.parametrize("args", [{"network": "bridge"}, {"network": "bridge", "ollama_url": "http://127.0.0.1:11434"}])
def test_the_loopback_trap_is_refused(args: dict) -> None:
    with pytest.raises(ModuleFailure, match="loopback"):
        resolve(OpenWebUIArgs(**args), {})


def test_backends_from_groups_and_hosts() -> None:
    variables = {
        "groups": {"all": ["n1", "n2", "n3"], "compute": ["n1", "n2"]},
        "hostvars": {"n1": {"ansible_host": "10.0.0.1"}, "n2": {"ansible_host": "fd00::2"}, "n3": {}},
    }
    w = resolve(OpenWebUIArgs(backends=["compute", "n3", "n1"], backend_port=11500), variables)
    assert w.urls == ("http://10.0.0.1:11500", "http://[fd00::2]:11500", "http://n3:11500")
    assert w.env == {"OLLAMA_BASE_URLS": "http://10.0.0.1:11500;http://[fd00::2]:11500;http://n3:11500"}
    assert w.network == "bridge"
    with pytest.raises(ModuleFailure, match="'gpu' is neither a group nor a host"):
        resolve(OpenWebUIArgs(backends=["gpu"]), variables)
    with pytest.raises(ModuleFailure, match="variables of n4 are not known"):
        resolve(OpenWebUIArgs(backends=["extra"]), {"groups": {"extra": ["n4"]}, "hostvars": {}})


def test_fetch_script_and_its_parser(tmp_path: Path) -> None:
    """The real FETCH_TAGS against a file:// URL's absence and python3's urllib (no curl/wget on PATH)."""
    good = tmp_path / "api"
    good.mkdir()
    (good / "tags").write_text('{"models": [{"name": "qwen2.5:0.5b"}, {"name": "llama3.2:1b"}]}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {"PATH": str(bin_dir)}
    out = subprocess.run(["/bin/sh", "-c", FETCH_TAGS, "_", f"file://{tmp_path}", f"file://{tmp_path}/nowhere"],
                         capture_output=True, text=True, env=env).stdout
    ok, bad = parse_fetch(out)
    assert ok == Reach(f"file://{tmp_path}", True, ("qwen2.5:0.5b", "llama3.2:1b"))
    assert not bad.ok and "No such file" in bad.error


def test_unreachable_backends_explain_the_loopback_default() -> None:
    w = resolve(OpenWebUIArgs(backends=["a", "b"]), {"groups": {}, "hostvars": {"a": {}, "b": {}}})
    text = unreachable_message([Reach("http://a:11434", False, error="Connection refused")], "door", w)
    assert "Ollama listens on 127.0.0.1 by default" in text and "http://a:11434: Connection refused" in text
    single = resolve(OpenWebUIArgs(), {})
    assert "Is Ollama running" in unreachable_message([Reach(single.urls[0], False, error="refused")], "c", single)


def test_tunnel_backends_are_reached_on_local_ports_over_the_host_network() -> None:
    variables = {
        "groups": {"compute": ["n1", "n2"]},
        "hostvars": {"n1": {"ansible_host": "10.0.0.1", "ansible_user": "llm"}, "n2": {"ansible_port": 2222}},
    }
    w = resolve(OpenWebUIArgs(backends=["compute"], backend_reach="tunnel", tunnel_port=30000, backend_port=11500), variables)
    assert w.network == "host" and w.remote
    assert w.env == {"OLLAMA_BASE_URLS": "http://127.0.0.1:30000;http://127.0.0.1:30001"}
    n1, n2 = w.tunnels
    assert (n1.address, n1.ssh_port, n1.user, n1.local_port, n1.ollama_port) == ("10.0.0.1", 22, "llm", 30000, 11500)
    assert (n2.address, n2.known_hosts_name, n2.user) == ("n2", "[n2]:2222", None)
    script = keeper_script(list(w.tunnels))
    assert "tunnel 30000 llm@10.0.0.1 22 11500 &  # n1" in script and "tunnel 30001 n2 2222 11500 &  # n2" in script
    assert "StrictHostKeyChecking=yes" in script and "ExitOnForwardFailure=yes" in script
    line = authorized_line(n1, "ssh-ed25519 AAAAC3Nza deployer-tunnel:door:owui", "deployer-tunnel:door:owui")
    assert line == ('restrict,port-forwarding,permitopen="127.0.0.1:11500",command="/bin/false" '
                    "ssh-ed25519 AAAAC3Nza deployer-tunnel:door:owui")
    text = unreachable_message([Reach(n1.url, False, error="Connection refused")], "door", w)
    assert "The SSH tunnels from the front door are up, but Ollama does not answer" in text


def test_the_loopback_refusal_offers_the_tunnel() -> None:
    w = resolve(OpenWebUIArgs(backends=["a"]), {"groups": {}, "hostvars": {"a": {}}})
    assert "set backend_reach: tunnel" in unreachable_message([Reach(w.urls[0], False, error="refused")], "door", w)
