"""GGUF import: Modelfile text -> create request, and the import end to end on this machine
(the real CLI, a local connection, the Ollama stand-in as a real server process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from deployer.cli import Env, main
from deployer.ollama.models_gguf import ModelfileError, parse_modelfile
from tests.fakes.harness import StandinServer
from tests.fakes.models import make_gguf


def test_modelfile_commands_become_create_fields() -> None:
    fields = parse_modelfile('''
# a comment
FROM ./mine.gguf
TEMPLATE """{{ .System }}
{{ .Prompt }}"""
SYSTEM "You answer briefly."
PARAMETER temperature 0.2
PARAMETER num_ctx 8192
PARAMETER stop "<|end|>"
PARAMETER stop <|user|>
LICENSE """MIT"""
MESSAGE user Hi
MESSAGE assistant Hello!
''')
    assert fields == {
        "template": "{{ .System }}\n{{ .Prompt }}",
        "system": "You answer briefly.",
        "parameters": {"temperature": 0.2, "num_ctx": 8192, "stop": ["<|end|>", "<|user|>"]},
        "license": ["MIT"],
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    }
    assert parse_modelfile("") == {}


@pytest.mark.parametrize(("text", "message"), [
    ("ADAPTER ./lora.gguf", "line 1: ADAPTER is not supported"),
    ("FROM x\nSYSTME hi", "line 2: unknown command 'SYSTME'"),
    ('TEMPLATE """never closed', "unterminated"),
    ("PARAMETER temperature", "needs a name and a value"),
    ("MESSAGE robot hi", "role must be system, user or assistant"),
])
def test_modelfile_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ModelfileError, match=message):
        parse_modelfile(text)


@pytest.fixture
def ollama(tmp_path: Path) -> Iterator[StandinServer]:
    s = StandinServer(tmp_path / "home", {"FAKE_OLLAMA_ENV_FILE": str(tmp_path / "no-knobs")}).start()
    yield s
    s.stop()


def _run(pb: Path, ollama: StandinServer, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    env = Env(environ={"XDG_CACHE_HOME": str(tmp_path / "cache")}, color=False)
    import io

    env.stdout, env.stderr = io.StringIO(), io.StringIO()
    rc = main(["run", str(pb), "-i", "localhost,", "-e", "ansible_connection=local", "-e", f"port={ollama.port}",
               "-e", f"models={ollama.models}", "--json", *extra], env)
    return int(rc), json.loads(env.stdout.getvalue() or "{}") | {"stderr": env.stderr.getvalue()}


def test_a_gguf_is_uploaded_once_created_then_removed(ollama: StandinServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_gguf(tmp_path / "files" / "mine.gguf", size=30_000, params="1.1B", quant="Q4_0", family="llama")
    pb = tmp_path / "pb.yml"
    pb.write_text("""
- hosts: localhost
  gather_facts: false
  vars: {want: present}
  tasks:
    - name: import
      ollama_model:
        name: mine:q4
        gguf: files/mine.gguf
        modelfile: |
          FROM ./mine.gguf
          SYSTEM "You answer briefly."
          PARAMETER temperature 0.2
        state: "{{ want }}"
        endpoint: "127.0.0.1:{{ port }}"
        models_dir: "{{ models }}"
        service_user: null
""")
    rc, report = _run(pb, ollama, tmp_path)
    assert rc == 0, report["stderr"]
    result = report["results"][0]
    assert result["status"] == "changed" and result["msg"] == "imported mine.gguf as mine:q4"
    assert result["data"]["bytes_sent"] == 30_000
    status, show = ollama.api("POST", "/api/show", {"model": "mine:q4"})
    assert status == 200 and show["system"] == "You answer briefly."
    assert show["details"]["family"] == "llama" and "temperature" in show["parameters"]
    rc, report = _run(pb, ollama, tmp_path)
    assert rc == 0 and report["results"][0]["status"] == "ok"
    rc, report = _run(pb, ollama, tmp_path, "-e", "want=absent", "--check")
    assert report["results"][0]["status"] == "changed" and report["results"][0]["msg"] == "would remove mine:q4"
    assert [m["name"] for m in ollama.api("GET", "/api/tags")[1]["models"]] == ["mine:q4"]
    rc, report = _run(pb, ollama, tmp_path, "-e", "want=absent")
    assert rc == 0 and report["results"][0]["msg"] == "removed mine:q4"
    assert ollama.api("GET", "/api/tags")[1]["models"] == []
    rc, report = _run(pb, ollama, tmp_path, "-e", "want=absent")
    assert rc == 0 and report["results"][0]["status"] == "ok"
