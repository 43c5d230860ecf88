"""What Open WebUI is told (its environment) and the container that runs it, normalized.

A :class:`ContainerSpec` is built twice: from the arguments (what is wanted)
and from ``docker container inspect`` (what runs). Equal specs mean nothing to
do; a difference means the container is recreated (the volume, and with it
every account and chat, is kept). The spec renders as the text --diff shows.

Only the variables deployer sets are compared; their names are recorded in a
label on the container, so a variable dropped from ``env:`` is noticed too.
The secret key's value is never part of a spec: it is compared on the host,
and shown as where it comes from.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, fields
from typing import Any

from deployer.openwebui.config import CONTAINER_PORT, DATA_PATH, OpenWebUIArgs
from deployer.openwebui.secret import VAR as SECRET_VAR
from deployer.hostfiles import sh_path
from deployer.openwebui.wiring import Wiring
from deployer.results import is_secret_name

#: container label listing the environment variables deployer manages
LABEL_ENV = "io.deployer.open-webui.env"
OTHER_KEY = "<another key>"


def managed_env(args: OpenWebUIArgs, wiring: Wiring) -> dict[str, str]:
    """Open WebUI's environment as deployer sets it (without the secret key)."""
    env = {
        "WEBUI_AUTH": "True",
        "ENABLE_PERSISTENT_CONFIG": str(args.persistent_config),
        "ENABLE_SIGNUP": str(args.enable_signup),
    }
    if not args.enable_signup:
        # newer releases refuse even the first signup when ENABLE_SIGNUP is off,
        # unless this is set; it only ever allows the first (admin) account
        env["ENABLE_INITIAL_ADMIN_SIGNUP"] = "True"
    env.update(wiring.env)
    if args.is_offline:
        env.update(OFFLINE_MODE="True", HF_HUB_OFFLINE="1")
    if args.mode == "docker" and wiring.network == "host":
        # -p means nothing on the host network: the server itself must listen on bind:port
        env.update(HOST=args.bind, PORT=str(args.port))
    env.update(args.env)
    return env


def secret_shown(path: str) -> str:
    return f"<secret from {path}>"


def shown(key: str, value: str) -> str:
    """`KEY=value` for --diff; values of secret-named variables (OPENAI_API_KEY...) as a short digest."""
    if is_secret_name(key) and not (value.startswith("<") and value.endswith(">")):
        value = f"<hidden, sha256:{hashlib.sha256(value.encode()).hexdigest()[:6]}>"
    return f"{key}={value}"


@dataclass(frozen=True)
class ContainerSpec:
    """The settings of the Open WebUI container that deployer decides."""

    image: str
    image_id: str | None
    network: str
    ports: tuple[str, ...]
    volumes: tuple[str, ...]
    restart: str
    add_hosts: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    def differences(self, other: "ContainerSpec") -> list[str]:
        """Names of the settings that differ (image_id only when both are known)."""
        out = []
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "image_id" and (a is None or b is None):
                continue
            if a != b:
                out.append(f.name)
        return out

    def render(self, name: str, state: str) -> str:
        image_id = f" ({self.image_id.removeprefix('sha256:')[:12]})" if self.image_id else " (to be pulled)"
        lines = [
            f"container: {name}",
            f"image: {self.image}{image_id}",
            f"network: {self.network}",
            "ports: " + (", ".join(self.ports) or "(host network: HOST/PORT below)"),
            "volumes: " + ", ".join(self.volumes),
            f"restart: {self.restart}",
            "add_hosts: " + (", ".join(self.add_hosts) or "-"),
            "env:",
            *[f"  {shown(k, v)}" for k, v in self.env],
            f"state: {state}",
        ]
        return "\n".join(lines) + "\n"


def _bracket(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def desired(args: OpenWebUIArgs, wiring: Wiring, image_id: str | None, secret_path: str) -> ContainerSpec:
    env = managed_env(args, wiring)
    env[SECRET_VAR] = secret_shown(secret_path)
    ports = () if wiring.network == "host" else (f"{args.bind}:{args.port}->{CONTAINER_PORT}/tcp",)
    return ContainerSpec(
        image=args.image_ref,
        image_id=image_id,
        network=wiring.network,
        ports=ports,
        volumes=(f"{args.volume}:{DATA_PATH}",),
        restart=args.restart,
        add_hosts=tuple(args.add_hosts),
        env=tuple(sorted(env.items())),
    )


def from_inspect(data: dict[str, Any], secret_path: str, secret_same: bool) -> tuple[ContainerSpec, str]:
    """(spec, state) of a container from `docker container inspect` (its secret already masked)."""
    cfg = data.get("Config") or {}
    hc = data.get("HostConfig") or {}
    labels = cfg.get("Labels") or {}
    keys = [k for k in str(labels.get(LABEL_ENV, "")).split(",") if k]
    values = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
    env = []
    for k in keys:
        if k == SECRET_VAR:
            env.append((k, secret_shown(secret_path) if secret_same else OTHER_KEY))
        elif k in values:
            env.append((k, values[k]))
    ports = []
    for cport, binds in sorted((hc.get("PortBindings") or {}).items()):
        for b in binds or []:
            ports.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{cport}")
    restart = (hc.get("RestartPolicy") or {}).get("Name") or "no"
    network = hc.get("NetworkMode") or "bridge"
    state = (data.get("State") or {}).get("Status") or "unknown"
    spec = ContainerSpec(
        image=str(cfg.get("Image", "")),
        image_id=data.get("Image"),
        network="bridge" if network == "default" else network,
        ports=tuple(ports),
        volumes=tuple(hc.get("Binds") or ()),
        restart=restart,
        add_hosts=tuple(hc.get("ExtraHosts") or ()),
        env=tuple(sorted(env)),
    )
    return spec, state


def run_command(args: OpenWebUIArgs, wiring: Wiring, secret_path: str) -> str:
    """The `docker run` shell text for the wanted container (the key comes from --env-file)."""
    env = managed_env(args, wiring)
    words = ["docker", "run", "-d", "--name", args.name, "--restart", args.restart]
    if wiring.network == "host":
        words += ["--network", "host"]
    else:
        if wiring.network != "bridge":
            words += ["--network", wiring.network]
        words += ["-p", f"{_bracket(args.bind)}:{args.port}:{CONTAINER_PORT}"]
    words += [f"--add-host={h}" for h in args.add_hosts]
    words += ["-v", f"{args.volume}:{DATA_PATH}"]
    for k, v in sorted(env.items()):
        words += ["-e", f"{k}={v}"]
    words += ["--label", f"{LABEL_ENV}={','.join(sorted([*env, SECRET_VAR]))}"]
    text = " ".join(shlex.quote(w) for w in words)
    return f"{text} --env-file {sh_path(secret_path)} {shlex.quote(args.image_ref)}"
