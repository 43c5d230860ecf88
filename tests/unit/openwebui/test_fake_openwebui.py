"""The Open WebUI stand-in behaves as upstream where deployer depends on it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from deployer.openwebui import http
from tests.fakes import models
from tests.fakes.harness import StandinServer
from tests.fakes.openwebui.harness import FakeWebUI
from tests.fakes.openwebui.wheel import build_wheel

SIGNIN = "/api/v1/auths/signin"
SIGNUP = "/api/v1/auths/signup"


def signup(w: FakeWebUI, email: str) -> tuple[int, dict]:
    return http.call(w.url, "POST", SIGNUP, {"name": "x", "email": email, "password": "pw"})


def test_sessions_are_signed_with_the_secret_key(webui: Callable[..., FakeWebUI]) -> None:
    w = webui()
    _, first = signup(w, "a@lab.example")
    assert first["role"] == "admin"
    assert http.call(w.url, "GET", "/api/v1/auths/", token=first["token"])[0] == 200
    w.stop()
    w.start(WEBUI_SECRET_KEY="another-key")  # a recreated container with a new key logs everybody out
    assert http.call(w.url, "GET", "/api/v1/auths/", token=first["token"])[0] == 401
    assert http.call(w.url, "POST", SIGNIN, {"email": "a@lab.example", "password": "pw"})[0] == 200  # data kept


def test_persistent_config_wins_over_the_environment_unless_disabled(webui: Callable[..., FakeWebUI]) -> None:
    w = webui(ENABLE_SIGNUP="True", ENABLE_PERSISTENT_CONFIG="True")
    assert signup(w, "a@lab.example")[1]["role"] == "admin"
    assert signup(w, "b@lab.example")[0] == 403  # the first signup switched signup off
    w.stop()
    w.start()  # ENABLE_SIGNUP=True in the environment, but the saved setting wins
    assert signup(w, "b@lab.example")[0] == 403
    w.stop()
    w.start(ENABLE_PERSISTENT_CONFIG="False")
    status, body = signup(w, "b@lab.example")
    assert status == 200 and body["role"] == "pending"


def test_onboarding_signup_rules_and_ollama_models(webui: Callable[..., FakeWebUI], tmp_path: Path) -> None:
    ollama = StandinServer(tmp_path / "ollama-home", {"FAKE_OLLAMA_ENV_FILE": str(tmp_path / "none")})
    models.make_model(ollama.home / "models", "qwen2.5:0.5b", params="494M", gguf_size=20_000)
    ollama.start()
    try:
        w = webui(OLLAMA_BASE_URLS=f"{ollama.url};http://127.0.0.1:9")
        assert http.call(w.url, "GET", "/api/config")[1]["onboarding"] is True
        assert http.call(w.url, "POST", SIGNUP, {"name": "x", "email": "not-an-email", "password": "pw"})[0] == 400
        _, admin = signup(w, "a@lab.example")
        assert "onboarding" not in http.call(w.url, "GET", "/api/config")[1]
        assert signup(w, "a@lab.example")[0] == 403
        status, tags = http.call(w.url, "GET", "/ollama/api/tags", token=admin["token"])
        assert status == 200 and [m["name"] for m in tags["models"]] == ["qwen2.5:0.5b"] and tags["models"][0]["urls"] == [0]
        assert http.call(w.url, "GET", "/ollama/config", token=admin["token"])[1]["OLLAMA_BASE_URLS"][1] == "http://127.0.0.1:9"
        assert http.call(w.url, "GET", "/ollama/api/tags")[0] == 401
    finally:
        ollama.stop()


def test_unhealthy_knob(webui: Callable[..., FakeWebUI]) -> None:
    w = webui(FAKE_OPENWEBUI_UNHEALTHY="1")
    assert http.healthy(w.url) == (False, 'HTTP 503 {"status": false}')


def test_the_wheel_installs_the_open_webui_command(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "house", "0.6.9")
    names = zipfile.ZipFile(wheel).namelist()
    assert "open_webui/server.py" in names and "open_webui-0.6.9.dist-info/RECORD" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(site), str(wheel)], check=True)
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import open_webui.server as s; print(s.VERSION)"], capture_output=True, text=True)
    assert out.stdout.strip() == "0.6.9"
    help_text = subprocess.run([str(venv / "bin" / "python"), "-m", "open_webui", "serve", "--help"], capture_output=True, text=True).stdout
    assert "--host" in help_text and "--port" in help_text
