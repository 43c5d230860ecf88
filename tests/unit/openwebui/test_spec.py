"""The container spec: from arguments, from real `docker container inspect` output, compared and rendered.

inspect_host.json / inspect_bridge.json were captured from Debian's dockerd
20.10 running containers made by spec.run_command (tests/fakes/docker_engine.py);
their key is a dummy. The masking is the sed expression the product runs on
the host, run here by the real sed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from deployer.openwebui import spec
from deployer.openwebui.config import OpenWebUIArgs
from deployer.openwebui.docker import _MASK
from deployer.openwebui.wiring import resolve

HERE = Path(__file__).parent
SECRET = "/etc/deployer/open-webui/open-webui.secret"
KEY = "0123456789abcdef" * 4


def inspected(name: str) -> dict:
    raw = (HERE / f"inspect_{name}.json").read_text()
    masked = subprocess.run(["sed", "-E", _MASK], input=raw, capture_output=True, text=True, check=True).stdout
    assert KEY in raw and KEY not in masked
    return json.loads(masked)[0]


@pytest.mark.parametrize(
    ("name", "args"),
    [("host", {}), ("bridge", {"ollama_listen": "172.17.0.1:11434", "name": "open-webui-bridge", "port": 3001})],
)
def test_a_container_made_from_the_spec_inspects_as_the_spec(name: str, args: dict) -> None:
    a = OpenWebUIArgs(**args)
    data = inspected(name)
    have, state = spec.from_inspect(data, SECRET, secret_same=True)
    want = spec.desired(a, resolve(a, {}), data["Image"], SECRET)
    assert state == "running"
    assert have == want and have.differences(want) == []


def test_differences_name_what_changed_and_the_key_never_shows() -> None:
    a = OpenWebUIArgs(port=3005)
    have, _ = spec.from_inspect(inspected("host"), SECRET, secret_same=False)
    want = spec.desired(a, resolve(a, {}), None, SECRET)
    assert have.differences(want) == ["env"]  # PORT and the key; image_id unknown is not a difference
    before, after = have.render("open-webui", "running"), want.render("open-webui", "running")
    assert "WEBUI_SECRET_KEY=<another key>" in before and f"WEBUI_SECRET_KEY=<secret from {SECRET}>" in after
    assert "PORT=3000" in before and "PORT=3005" in after
    assert KEY not in before + after
    assert "(to be pulled)" in after


def test_a_container_not_made_by_deployer_is_recreated() -> None:
    data = inspected("host")
    del data["Config"]["Labels"][spec.LABEL_ENV]
    have, _ = spec.from_inspect(data, SECRET, secret_same=True)
    a = OpenWebUIArgs()
    assert "env" in have.differences(spec.desired(a, resolve(a, {}), data["Image"], SECRET))


def test_run_command_keeps_the_key_off_the_command_line() -> None:
    a = OpenWebUIArgs(bind="::1", ollama_url="http://10.0.0.5:11434", env={"DEFAULT_USER_ROLE": "user"})
    cmd = spec.run_command(a, resolve(a, {}), "~/ow.secret")
    assert "-p '[::1]:3000:8080'" in cmd and "--network" not in cmd
    assert "--env-file \"$HOME\"/ow.secret" in cmd and "WEBUI_SECRET_KEY=" not in cmd
    assert "-e DEFAULT_USER_ROLE=user" in cmd and "-e OLLAMA_BASE_URL=http://10.0.0.5:11434" in cmd
    assert cmd.endswith("ghcr.io/open-webui/open-webui:main")


def test_managed_env_offline_and_signup() -> None:
    a = OpenWebUIArgs(image_tarball="x.tar", enable_signup=True, persistent_config=True)
    env = spec.managed_env(a, resolve(a, {}))
    assert env["OFFLINE_MODE"] == "True" and env["HF_HUB_OFFLINE"] == "1"
    assert env["ENABLE_SIGNUP"] == "True" and "ENABLE_INITIAL_ADMIN_SIGNUP" not in env
    assert env["ENABLE_PERSISTENT_CONFIG"] == "True" and env["WEBUI_AUTH"] == "True"
    assert "OFFLINE_MODE" not in spec.managed_env(OpenWebUIArgs(), resolve(OpenWebUIArgs(), {}))


def test_secret_named_variables_are_hidden_in_the_diff() -> None:
    a = OpenWebUIArgs(env={"OPENAI_API_KEY": "sk-very-secret", "DEFAULT_USER_ROLE": "user"})
    text = spec.desired(a, resolve(a, {}), None, SECRET).render("open-webui", "running")
    assert "sk-very-secret" not in text and "OPENAI_API_KEY=<hidden, sha256:" in text
    assert "DEFAULT_USER_ROLE=user" in text and f"WEBUI_SECRET_KEY=<secret from {SECRET}>" in text
