"""Arguments of the open_webui modules and the play's ``frontend: {open_webui: ...}`` key.

One schema (:class:`OpenWebUIArgs`) describes the service in both modes
(docker and pip); :class:`AdminArgs` is the admin account, kept apart so that
its task can be ``no_log`` without hiding the service's report.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from deployer.modules.base import ModuleArgs

IMAGE = "ghcr.io/open-webui/open-webui"
#: the port the server listens on inside the image (its Dockerfile: ENV PORT=8080)
CONTAINER_PORT = 8080
#: where the image keeps its database, uploads and caches
DATA_PATH = "/app/backend/data"
#: bcrypt, which Open WebUI hashes passwords with, uses at most this many bytes
PASSWORD_MAX_BYTES = 72

#: environment variables deployer sets itself, with what to use instead
MANAGED_ENV = {
    "WEBUI_SECRET_KEY": "deployer generates it once per host (secret_file)",
    "WEBUI_JWT_SECRET_KEY": "deployer sets WEBUI_SECRET_KEY (secret_file)",
    "WEBUI_AUTH": "authentication stays on: the UI is reachable by whoever reaches the port",
    "OLLAMA_BASE_URL": "use ollama_url, the play's ollama: key, or backends",
    "OLLAMA_BASE_URLS": "use backends",
    "ENABLE_PERSISTENT_CONFIG": "use persistent_config",
    "ENABLE_SIGNUP": "use enable_signup",
    "ENABLE_INITIAL_ADMIN_SIGNUP": "deployer sets it with enable_signup: false so the admin can be created",
    "OFFLINE_MODE": "use offline",
    "HF_HUB_OFFLINE": "use offline",
    "HOST": "use bind",
    "PORT": "use port",
    "DATA_DIR": "docker: the volume; pip: install_dir/data",
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class UIAddress(ModuleArgs):
    """Where Open WebUI listens on the host (the service and the admin task share it)."""

    port: int = Field(3000, ge=1, le=65535, description="Port of the UI on the host.")
    bind: str = Field(
        "127.0.0.1",
        description="Address the UI listens on. 127.0.0.1 (default): only this host; people use an SSH tunnel "
        "(ssh -L 3000:127.0.0.1:3000 host). 0.0.0.0: anyone who can reach the host (sign-in still required).",
    )

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v.strip("[]"))
        except ValueError:
            raise ValueError(f"bind must be an IP address such as 127.0.0.1 or 0.0.0.0, got {v!r}") from None
        return v.strip("[]")

    @property
    def reach_host(self) -> str:
        """Where a client on the host itself reaches the UI."""
        return "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind


class OpenWebUIArgs(UIAddress):
    """Open WebUI on one host: a container (docker) or a venv (pip), wired to Ollama."""

    mode: Literal["docker", "pip"] = Field(
        "docker", description="docker: the official image, as `docker run`. pip: no docker; a venv from a wheelhouse, run detached."
    )
    name: str = Field("open-webui", description="Container name (docker) or process label (pip).")
    image: str = Field(IMAGE, description="Image repository, without tag.")
    tag: str = Field("main", description="Image tag.")
    image_tarball: str | None = Field(
        None,
        description="A `docker save` file on the control machine: pushed and `docker load`-ed, skipped when the "
        "host already has its image id. The offline path.",
    )
    volume: str = Field("open-webui", description=f"Named volume or absolute host path mounted at {DATA_PATH} (kept on recreate).")
    restart: Literal["always", "unless-stopped", "on-failure", "no"] = Field("always", description="Docker restart policy.")
    network: Literal["auto", "host", "bridge"] = Field(
        "auto",
        description="How the container reaches Ollama. auto: host network when Ollama listens on loopback "
        "(the default and the safe setting), else the docker bridge with the UI port published by -p.",
    )
    add_hosts: list[str] = Field(
        default_factory=lambda: ["host.docker.internal:host-gateway"], description="docker run --add-host entries."
    )
    env: dict[str, str] = Field(default_factory=dict, description="More environment for Open WebUI (see its env reference).")
    offline: bool | None = Field(
        None, description="OFFLINE_MODE=true and HF_HUB_OFFLINE=1 (no update checks, no model downloads). Default: on with image_tarball or pip mode."
    )
    persistent_config: bool = Field(
        False,
        description="ENABLE_PERSISTENT_CONFIG. false (default): the environment deployer sets wins at every start. "
        "true: settings saved in the UI win, and later changes here to such settings (Ollama URLs...) are ignored by Open WebUI.",
    )
    enable_signup: bool = Field(False, description="ENABLE_SIGNUP: let people create accounts themselves (they wait as 'pending').")
    secret_file: str | None = Field(
        None,
        description="Where WEBUI_SECRET_KEY lives on the host (generated once, mode 0600, reused). "
        "Default /etc/deployer/open-webui/<name>.secret (docker), <install_dir>/secret.env (pip).",
    )
    docker_host: str | None = Field(None, description="DOCKER_HOST for the docker CLI on the host (e.g. unix:///run/user/1000/docker.sock).")
    ollama_url: str | None = Field(None, description="Ollama's URL as seen from Open WebUI; default from ollama_listen.")
    ollama_listen: str | None = Field(
        None, description="Where Ollama listens on this host (host:port); filled from the play's ollama: key. Default 127.0.0.1:11434."
    )
    backends: list[str] = Field(
        default_factory=list,
        description="Front door: inventory groups or hosts whose Ollama this UI uses (OLLAMA_BASE_URLS, by their "
        "ansible_host). Their Ollama must listen on an address this host reaches.",
    )
    backend_port: int = Field(11434, ge=1, le=65535, description="Ollama port on the backends.")
    backend_reach: Literal["network", "tunnel"] = Field(
        "network",
        description="How the front door reaches the backends' Ollama. network: at their ansible_host (their Ollama "
        "must listen there). tunnel: through SSH port forwards kept up from this host, so the backends' Ollama stays "
        "on 127.0.0.1 (a key made here, authorized on each backend for that one port only).",
    )
    tunnel_port: int = Field(
        21434, ge=1024, le=65000,
        description="backend_reach: tunnel: the first local port on this host's 127.0.0.1 (one per backend, in order).",
    )
    health_timeout: int = Field(300, ge=1, description="Seconds to wait for GET /health (the first start migrates its database).")
    wheelhouse: str | None = Field(None, description="pip mode: a directory of wheels on the control machine (open-webui and all its dependencies).")
    version: str | None = Field(None, description="pip mode: the open-webui version to install (default: the one wheel in the wheelhouse).")
    python: str = Field("python3", description="pip mode: the interpreter for the venv (Open WebUI needs 3.11 or 3.12).")
    install_dir: str = Field("~/.local/opt/open-webui", description="pip mode: venv, wheelhouse, data, log and pid file go here.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _CONTAINER_NAME.match(v):
            raise ValueError(f"name {v!r}: use letters, digits, '_', '.', '-' (a docker container name)")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if "@" in v or ":" in v.rpartition("/")[2]:
            raise ValueError(f"image {v!r} carries a tag or digest: give the repository here and the tag in tag:")
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out = {}
        for key, value in v.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise ValueError(f"env: {key!r} is not an environment variable name")
            if key in MANAGED_ENV:
                raise ValueError(f"env: {key} is set by deployer ({MANAGED_ENV[key]})")
            text = str(value) if not isinstance(value, str) else value
            if "\n" in text:
                raise ValueError(f"env: the value of {key} spans lines; docker and env files take one line")
            out[key] = text
        return out

    @field_validator("add_hosts")
    @classmethod
    def _add_hosts(cls, v: list[str]) -> list[str]:
        for entry in v:
            if ":" not in entry:
                raise ValueError(f"add_hosts entry {entry!r} is not NAME:ADDRESS (e.g. host.docker.internal:host-gateway)")
        return v

    @model_validator(mode="after")
    def _combination(self) -> "OpenWebUIArgs":
        if self.ollama_url and self.backends:
            raise ValueError("give either ollama_url (one Ollama) or backends (several), not both")
        if self.backend_reach == "tunnel":
            if not self.backends:
                raise ValueError("backend_reach: tunnel is for a front door: name the Ollama nodes in backends")
            if self.network == "bridge":
                raise ValueError("backend_reach: tunnel needs network: host (or auto): the tunnels listen on this host's 127.0.0.1")
        # image_tarball and wheelhouse may both be given: a mode chosen per host (e.g. from
        # deployer_facts.software.docker_usable) then finds what it needs; the other is unused
        if self.mode == "pip":
            if not self.wheelhouse:
                raise ValueError("mode: pip needs wheelhouse: a directory of wheels for open-webui and its dependencies")
            if self.network != "auto":
                raise ValueError("network is for mode: docker; in pip mode Open WebUI runs on the host's network")
        elif self.version:
            raise ValueError("version is for mode: pip; docker mode uses image, tag and image_tarball")
        return self

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def is_offline(self) -> bool:
        if self.offline is not None:
            return self.offline
        return self.image_tarball is not None or self.mode == "pip"

    def default_secret_file(self) -> str:
        if self.secret_file:
            return self.secret_file
        if self.mode == "pip":
            return f"{self.install_dir.rstrip('/')}/secret.env"
        return f"/etc/deployer/open-webui/{self.name}.secret"


def check_password(v: str | None) -> str | None:
    if v and len(v.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"the admin password is longer than {PASSWORD_MAX_BYTES} bytes, which Open WebUI (bcrypt) refuses")
    return v or None


class AdminArgs(UIAddress):
    """The Open WebUI admin account, created at deploy time (the first account becomes admin)."""

    email: str = Field(description="The admin's e-mail address (its login).", pattern=r"^[^@\s]+@[^@\s]+$")
    password: str | None = Field(
        None,
        description="The admin's password, typically '{{ openwebui_admin_password }}' from an inventory var. "
        "Empty or absent: deployer generates one on the host, once, into password_file.",
    )
    password_file: str = Field(
        "~/.config/deployer/open-webui-admin.password",
        description="Where a generated admin password is kept on the host (mode 0600, reused on later runs).",
    )
    admin_name: str = Field("Admin", description="The admin's display name.")

    @field_validator("password")
    @classmethod
    def _password(cls, v: str | None) -> str | None:
        return check_password(v)
