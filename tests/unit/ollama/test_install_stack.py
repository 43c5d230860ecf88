"""The play-level `ollama:` key: the tasks it becomes, and the errors found before any host is touched."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployer import playbook
from deployer.errors import InputError
from deployer.ollama.stack import models_context


def load(tmp_path: Path, text: str) -> playbook.Playbook:
    path = tmp_path / "pb.yml"
    path.write_text(textwrap.dedent(text))
    return playbook.load(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_system_mode_becomes_install_and_service_as_root(tmp_path: Path) -> None:
    pb = load(tmp_path, """\
        - hosts: all
          ollama:
            version: "0.5.7"
            source: {tarball: "a/ollama-linux-{{ deployer_facts.arch }}.tgz", sha256sums: a/sha256sum.txt}
            models_dir: /srv/models
            num_parallel: 2
          models:
            - {name: qwen2.5, size: 0.5b, context: 8192}
            - {name: llama3.2, size: 1b, context: 16384}
        """)
    install, service = [t for t in pb.plays[0].tasks if t.origin == "ollama"]
    assert (install.name, install.action, install.kw.become) == ("Install Ollama 0.5.7", "ollama_install", True)
    assert install.args["source"]["tarball"] == "a/ollama-linux-{{ deployer_facts.arch }}.tgz"
    assert set(install.args) == {"version", "source"}
    assert (service.name, service.action, service.kw.become) == ("Configure and start Ollama", "ollama_service", True)
    # explicit: the largest context of the play's models
    assert service.args == {"models_dir": "/srv/models", "num_parallel": 2, "context_length": 16384}


def test_user_mode_runs_as_the_login_user_and_explicit_context_wins(tmp_path: Path) -> None:
    pb = load(tmp_path, """\
        - hosts: all
          become: true
          ollama: {version: "0.6.0", mode: user, source: {online: true}, context_length: 2048, listen: "127.0.0.1:11500"}
          models: [{name: qwen2.5, context: 8192}]
        """)
    install, service = [t for t in pb.plays[0].tasks if t.origin == "ollama"]
    assert install.kw.become is False and service.kw.become is False
    assert service.args["context_length"] == 2048 and service.args["mode"] == "user"


def test_rollback_needs_no_source(tmp_path: Path) -> None:
    pb = load(tmp_path, """\
        - hosts: all
          ollama: {version: "0.6.0", rollback: true}
        """)
    assert pb.plays[0].tasks[0].name == "Roll back Ollama from 0.6.0"


def test_public_listen_is_refused_at_the_listen_key(tmp_path: Path) -> None:
    msg = error(tmp_path, """\
        - hosts: all
          ollama:
            version: "0.5.7"
            source: {tarball: x.tgz}
            listen: 0.0.0.0:11434
        """)
    assert msg.startswith(f"{tmp_path}/pb.yml:5:5: ollama.listen 0.0.0.0:11434 puts Ollama's API, which has no authentication, on the network")
    assert "allow_public_bind: true" in msg


def test_public_listen_with_allow_public_bind_loads(tmp_path: Path) -> None:
    pb = load(tmp_path, """\
        - hosts: all
          ollama: {version: "0.5.7", source: {tarball: x.tgz}, listen: "10.0.0.5:11434", allow_public_bind: true}
        """)
    assert pb.plays[0].tasks[1].args["listen"] == "10.0.0.5:11434"


def test_hand_written_service_task_refuses_public_listen_too(tmp_path: Path) -> None:
    msg = error(tmp_path, """\
        - hosts: all
          tasks:
            - ollama_service: {listen: "[::]:11434"}
        """)
    assert "puts Ollama's API, which has no authentication, on the network" in msg


@pytest.mark.parametrize(
    "body, expected",
    [
        ('{version: "0.5.7", source: {tarbal: x.tgz}}', "unknown key 'tarbal' in ollama.source (did you mean 'tarball'"),
        ('{version: "0.5.7", source: {tarball: x.tgz}, mode: root}', "ollama.mode: input should be 'system' or 'user'"),
        ('{source: {tarball: x.tgz}}', "missing required key 'ollama.version'"),
        ('{version: latest, source: {tarball: x.tgz}}', "ollama.version: String should match pattern"),
        ('{version: "0.5.7"}', "ollama.source: say where Ollama comes from"),
        ('{version: "0.5.7", source: {tarball: x.tgz, online: true}}', "give either tarball (offline) or online: true, not both"),
        ('{version: "0.5.7", source: {online: true}, env: {OLLAMA_HOST: "0.0.0.0"}}', "env: OLLAMA_HOST comes from the key 'listen'"),
        ('{version: "0.5.7", source: {online: true}, kv_cache_type: q8_0, flash_attention: false}', "needs flash attention"),
        ("[1, 2]", "'ollama' must be a mapping"),
    ],
)
def test_bad_keys_are_input_errors(tmp_path: Path, body: str, expected: str) -> None:
    msg = error(tmp_path, f"- hosts: all\n  ollama: {body}\n")
    assert expected.lower() in msg.lower()
    assert msg.startswith(f"{tmp_path}/pb.yml:2:")


def test_templated_values_are_left_for_run_time(tmp_path: Path) -> None:
    pb = load(tmp_path, """\
        - hosts: all
          vars: {v: "0.5.7", port: "11500"}
          ollama: {version: "{{ v }}", source: {tarball: x.tgz}, listen: "127.0.0.1:{{ port }}"}
        """)
    assert pb.plays[0].tasks[0].name == "Install Ollama {{ v }}"


def test_models_context_ignores_what_is_not_a_number() -> None:
    assert models_context({"models": [{"context": "{{ c }}"}, {"context": True}, "qwen", {"context": 4096}]}) == 4096
    assert models_context({"models": {"name": "x"}}) is None
    assert models_context({}) is None
