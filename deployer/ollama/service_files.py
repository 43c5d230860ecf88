"""The texts ollama_service writes: systemd unit, env drop-in, user-mode env file. Pure.

The unit is the one Ollama's install.sh writes (ExecStart=<bin> serve,
User/Group, Restart=always, RestartSec=3, Environment=PATH, WantedBy=
default.target); the server's settings go into a drop-in of deployer's own
(``ollama.service.d/deployer.conf``), so a hand-written ``override.conf``
(read after it) still wins. Both the drop-in and the user-mode env file name the
versioned binary behind ``current``: when an install or rollback switches it,
the text changes and the server is restarted, like for any setting.
"""

from __future__ import annotations

import re
import shlex

from deployer.ollama.config import OllamaConfig

UNIT_PATH = "/etc/systemd/system/ollama.service"
DROPIN_PATH = "/etc/systemd/system/ollama.service.d/deployer.conf"
#: when neither the config nor the play's models say: Ollama's own smallest default
DEFAULT_CONTEXT = 4096
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: environment variables derived from config keys: setting them in `env:` is an error
DERIVED = {
    "OLLAMA_HOST": "listen",
    "OLLAMA_MODELS": "models_dir",
    "OLLAMA_CONTEXT_LENGTH": "context_length",
    "OLLAMA_NUM_PARALLEL": "num_parallel",
    "OLLAMA_KEEP_ALIVE": "keep_alive",
    "OLLAMA_MAX_LOADED_MODELS": "max_loaded_models",
    "OLLAMA_KV_CACHE_TYPE": "kv_cache_type",
    "OLLAMA_FLASH_ATTENTION": "flash_attention",
    "HTTPS_PROXY": "https_proxy",
    "NO_PROXY": "no_proxy",
    "CUDA_VISIBLE_DEVICES": "gpus",
}


def env_problems(cfg: OllamaConfig) -> list[str]:
    """What is wrong with the server environment `cfg` asks for (empty when fine)."""
    out = []
    for key, value in cfg.env.items():
        if not _ENV_NAME.match(key):
            out.append(f"env: {key!r} is not a variable name")
        elif key in DERIVED:
            out.append(f"env: {key} comes from the key '{DERIVED[key]}': set that instead")
        if "\n" in value or "\0" in value:
            out.append(f"env: the value of {key} has a line break")
    if cfg.kv_cache_type in ("q8_0", "q4_0") and cfg.flash_attention is False:
        out.append(f"kv_cache_type {cfg.kv_cache_type} needs flash attention: drop flash_attention: false")
    return out


def bind_problem(cfg: OllamaConfig) -> str | None:
    """Why `cfg.listen` is refused: a non-loopback address without allow_public_bind."""
    if cfg.loopback or cfg.allow_public_bind:
        return None
    return (
        f"listen {cfg.listen} puts Ollama's API, which has no authentication, on the network "
        "(anyone reaching it can use and delete models)"
    )


BIND_HINT = "keep 127.0.0.1 (deployer reaches the API through an SSH tunnel), or set allow_public_bind: true"


def server_env(cfg: OllamaConfig, models_dir: str) -> dict[str, str]:
    """The environment `ollama serve` gets, in a fixed order."""
    env = {
        "OLLAMA_HOST": cfg.listen,
        "OLLAMA_MODELS": models_dir,
        "OLLAMA_CONTEXT_LENGTH": str(cfg.context_length or DEFAULT_CONTEXT),
    }
    optional: dict[str, object] = {
        "OLLAMA_NUM_PARALLEL": cfg.num_parallel,
        "OLLAMA_KEEP_ALIVE": cfg.keep_alive,
        "OLLAMA_MAX_LOADED_MODELS": cfg.max_loaded_models,
        "OLLAMA_KV_CACHE_TYPE": cfg.kv_cache_type,
        "OLLAMA_FLASH_ATTENTION": None if cfg.flash_attention is None else str(cfg.flash_attention).lower(),
        "HTTPS_PROXY": cfg.https_proxy,
        "NO_PROXY": cfg.no_proxy,
        "CUDA_VISIBLE_DEVICES": cfg.gpus,
    }
    env.update({k: str(v) for k, v in optional.items() if v is not None})
    env.update(sorted(cfg.env.items()))
    return env


_HEADER = """\
# Managed by deployer (ollama_service): rewritten on every run.
# OLLAMA_CONTEXT_LENGTH is always set: Ollama's own default grows with the
# GPU's memory (4k, 32k from 24 GiB, 256k from 48 GiB VRAM), and the KV cache
# with it, which can outgrow the model itself.
# binary: {binary}   (the server restarts when this changes)
"""


def unit_text(binary: str, user: str, group: str) -> str:
    """/etc/systemd/system/ollama.service, as Ollama's install.sh writes it."""
    return f"""[Unit]
Description=Ollama Service
After=network-online.target

[Service]
ExecStart={binary} serve
User={user}
Group={group}
Restart=always
RestartSec=3
Environment="PATH={SERVICE_PATH}"

[Install]
WantedBy=default.target
"""


def _systemd_quote(value: str) -> str:
    # inside "...": backslash and quote are escaped; % starts a unit specifier
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def dropin_text(env: dict[str, str], binary: str) -> str:
    """The env drop-in; `binary` is the versioned binary `current` points to now."""
    lines = [_HEADER.format(binary=binary) + "# Your own settings belong in override.conf (read after this file).", "[Service]"]
    lines += [f'Environment="{k}={_systemd_quote(v)}"' for k, v in env.items()]
    return "\n".join(lines) + "\n"


def user_env_text(env: dict[str, str], binary: str) -> str:
    """User mode: the environment of the detached server, as sh that the start command sources."""
    lines = [_HEADER.format(binary=binary).rstrip("\n")]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"
