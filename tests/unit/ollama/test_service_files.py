"""The unit, the env drop-in and the user-mode env file ollama_service writes (service_files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deployer.ollama.config import OllamaConfig
from deployer.ollama.service_files import (
    DEFAULT_CONTEXT,
    bind_problem,
    dropin_text,
    env_problems,
    server_env,
    unit_text,
    user_env_text,
)


def cfg(**kw: object) -> OllamaConfig:
    return OllamaConfig(version="0.5.7", **kw)  # type: ignore[arg-type]


def test_unit_is_install_sh_s() -> None:
    text = unit_text("/opt/ollama/current/bin/ollama", "ollama", "ollama")
    assert text == (
        "[Unit]\nDescription=Ollama Service\nAfter=network-online.target\n\n"
        "[Service]\nExecStart=/opt/ollama/current/bin/ollama serve\nUser=ollama\nGroup=ollama\n"
        "Restart=always\nRestartSec=3\n"
        'Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n\n'
        "[Install]\nWantedBy=default.target\n"
    )


def test_server_env_defaults_and_order() -> None:
    env = server_env(cfg(), "/srv/models")
    assert env == {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_MODELS": "/srv/models", "OLLAMA_CONTEXT_LENGTH": str(DEFAULT_CONTEXT)}
    full = server_env(
        cfg(context_length=8192, num_parallel=2, keep_alive="-1", max_loaded_models=1, kv_cache_type="q8_0",
            flash_attention=True, https_proxy="http://proxy:3128", no_proxy="localhost", gpus="0,1",
            env={"OLLAMA_DEBUG": "1", "A_FIRST": "x"}),
        "/m",
    )
    assert list(full) == [
        "OLLAMA_HOST", "OLLAMA_MODELS", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_NUM_PARALLEL", "OLLAMA_KEEP_ALIVE",
        "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_KV_CACHE_TYPE", "OLLAMA_FLASH_ATTENTION", "HTTPS_PROXY", "NO_PROXY",
        "CUDA_VISIBLE_DEVICES", "A_FIRST", "OLLAMA_DEBUG",
    ]  # fmt: skip
    assert full["OLLAMA_CONTEXT_LENGTH"] == "8192" and full["OLLAMA_FLASH_ATTENTION"] == "true"


def test_dropin_quotes_for_systemd_and_names_the_binary() -> None:
    text = dropin_text({"OLLAMA_HOST": "127.0.0.1:11434", "X": 'a "b" \\ 50%'}, "/opt/ollama/0.5.7/bin/ollama")
    assert "# binary: /opt/ollama/0.5.7/bin/ollama" in text
    assert "Ollama's own default grows with the\n# GPU's memory" in text
    assert text.endswith('[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\nEnvironment="X=a \\"b\\" \\\\ 50%%"\n')


def test_user_env_file_is_sh_that_gives_back_the_exact_values(tmp_path: Path) -> None:
    values = {"OLLAMA_HOST": "127.0.0.1:11500", "HTTPS_PROXY": "http://u:p@proxy:3128", "ODD": "it's $HOME `x` \"q\""}
    path = tmp_path / "ollama.env"
    path.write_text(user_env_text(values, "/h/.local/opt/ollama/0.5.7/bin/ollama"))
    out = subprocess.run(
        ["sh", "-c", '. "$1"; printf "%s\\n" "$OLLAMA_HOST" "$HTTPS_PROXY" "$ODD"', "sh", str(path)],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.splitlines() == list(values.values())


def test_text_changes_when_the_binary_does() -> None:
    env = {"OLLAMA_HOST": "127.0.0.1:11434"}
    assert dropin_text(env, "/opt/ollama/0.5.7/bin/ollama") != dropin_text(env, "/opt/ollama/0.6.0/bin/ollama")
    assert user_env_text(env, "/a/0.5.7/bin/ollama") != user_env_text(env, "/a/0.6.0/bin/ollama")


def test_env_problems() -> None:
    assert env_problems(cfg(env={"OLLAMA_DEBUG": "1"})) == []
    assert env_problems(cfg(env={"OLLAMA_MODELS": "/x"})) == ["env: OLLAMA_MODELS comes from the key 'models_dir': set that instead"]
    assert env_problems(cfg(env={"1BAD": "x"})) == ["env: '1BAD' is not a variable name"]
    assert env_problems(cfg(env={"A": "x\ny"})) == ["env: the value of A has a line break"]
    assert env_problems(cfg(kv_cache_type="q4_0", flash_attention=False)) == [
        "kv_cache_type q4_0 needs flash attention: drop flash_attention: false"
    ]


def test_bind_problem() -> None:
    assert bind_problem(cfg()) is None
    assert bind_problem(cfg(listen="localhost:11434")) is None
    assert bind_problem(cfg(listen="0.0.0.0:11434", allow_public_bind=True)) is None
    problem = bind_problem(cfg(listen="0.0.0.0:11434"))
    assert problem is not None and "no authentication" in problem
