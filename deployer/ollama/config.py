"""The play's `ollama:` key: how Ollama is installed and served on the hosts.

Shared by the install/service modules and the model modules (which need to
know where the API listens and where models live).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SYSTEM_MODELS_DIR = "/usr/share/ollama/.ollama/models"
USER_MODELS_DIR = "~/.ollama/models"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OllamaSource(_Strict):
    """Where the Ollama release comes from."""

    tarball: str | None = Field(
        None,
        description="Release archive on the control machine (.tgz or .tar.zst); may use "
        "{{ deployer_facts.arch }} (amd64/arm64). The offline path.",
    )
    sha256sums: str | None = Field(None, description="The release's sha256sum.txt; the archive is verified against it.")
    rocm_tarball: str | None = Field(None, description="The -rocm archive, pushed to hosts where AMD GPUs were seen.")
    online: bool = Field(False, description="Download the release on the host itself (needs internet there).")
    url: str = Field(
        "https://github.com/ollama/ollama/releases/download",
        description="Release download base for online: true.",
    )


def parse_listen(value: str) -> str:
    """'host:port', ':port' or 'http://host:port' -> 'host:port'; ValueError when it is neither."""
    v = value.removeprefix("http://")
    if ":" not in v:
        raise ValueError(f"listen must be host:port, got {v!r}")
    host, _, port = v.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen port must be 1-65535, got {port!r}")
    return f"{host or '127.0.0.1'}:{port}"


def _port(listen: str) -> int:
    host, _, port = listen.rpartition(":")
    return int(port)


class OllamaConfig(_Strict):
    """Everything about one host's Ollama service."""

    version: str = Field(description="Ollama version to install, e.g. '0.5.7'.", pattern=r"^v?\d+\.\d+\.\d+([.-].+)?$")
    source: OllamaSource = Field(default_factory=OllamaSource, description="Where the release comes from.")
    rollback: bool = Field(
        False,
        description="Switch back from `version` to the version that was current before it (kept on the "
        "host); nothing to do once `version` is no longer current.",
    )
    mode: Literal["system", "user"] = Field(
        "system",
        description="system: root/sudo, an `ollama` user and a systemd unit. user: no root, no systemd "
        "(HPC): installed in the login user's directory, `ollama serve` run detached.",
    )
    listen: str = Field("127.0.0.1:11434", description="OLLAMA_HOST. Loopback by default: reached through an SSH tunnel.")
    allow_public_bind: bool = Field(
        False,
        description="Allow a non-loopback listen address (Ollama's API has no authentication).",
    )
    models_dir: str | None = Field(None, description=f"OLLAMA_MODELS (default {SYSTEM_MODELS_DIR} / {USER_MODELS_DIR}).")
    prefix: str | None = Field(None, description="Install root; versions go to <prefix>/ollama/<version> (default /opt or ~/.local/opt).")
    service_user: str = Field("ollama", description="System mode: the user the service runs as.")
    transfer: Literal["direct", "relay"] = Field(
        "direct",
        description="relay: hosts that receive the archive forward it to the next ones (plain TCP inside "
        "the lab, digest-checked), so the control node's link carries it about once. Needs python3 on the hosts.",
    )
    context_length: int | None = Field(None, ge=256, description="OLLAMA_CONTEXT_LENGTH; default: the largest `context` of the play's models.")
    num_parallel: int | None = Field(None, ge=1, description="OLLAMA_NUM_PARALLEL.")
    keep_alive: str | None = Field(None, description="OLLAMA_KEEP_ALIVE, e.g. '30m' or '-1'.")
    max_loaded_models: int | None = Field(None, ge=1, description="OLLAMA_MAX_LOADED_MODELS.")
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] | None = Field(None, description="OLLAMA_KV_CACHE_TYPE.")
    flash_attention: bool | None = Field(None, description="OLLAMA_FLASH_ATTENTION.")
    https_proxy: str | None = Field(None, description="HTTPS_PROXY for pulls behind a proxy.")
    no_proxy: str | None = Field(None, description="NO_PROXY.")
    gpus: str | None = Field(None, description="CUDA_VISIBLE_DEVICES (e.g. '0,1').")
    env: dict[str, str] = Field(default_factory=dict, description="More environment for the server (OLLAMA_* ...).")

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return parse_listen(v)

    @property
    def port(self) -> int:
        return _port(self.listen)

    @property
    def bind_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def loopback(self) -> bool:
        return self.bind_host in ("127.0.0.1", "localhost", "::1", "[::1]")

    @property
    def api_host(self) -> str:
        """Where a client on the host itself reaches the API."""
        return "127.0.0.1" if self.bind_host in ("0.0.0.0", "::", "[::]") else self.bind_host


#: What a play without an `ollama:` key assumes (Ollama installed by other means).
DEFAULT_ENDPOINT = "127.0.0.1:11434"
