"""The docker CLI on a host, as the open_webui module uses it.

Read-only calls go through ``ctx.probe`` (allowed in check() and --check),
changes through ``ctx.run``. Nothing here lets the secret key reach the
control machine: ``inspect`` masks it on the host before the JSON leaves, and
``secret_matches`` compares digests there.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from deployer.connection import CommandResult
from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext
from deployer.openwebui.secret import VAR as SECRET_VAR
from deployer.hostfiles import sh_path

#: sed expression replacing the secret key's value in docker's JSON output
_MASK = rf's/"{SECRET_VAR}=([^"\\]|\\.)*"/"{SECRET_VAR}=<masked>"/g'


class Docker:
    """`docker ...` on one host (DOCKER_HOST from the module's docker_host)."""

    def __init__(self, ctx: TaskContext, docker_host: str | None) -> None:
        self.ctx = ctx
        self.env = {"DOCKER_HOST": docker_host} if docker_host else None

    def probe(self, command: str, timeout: float = 120) -> CommandResult:
        return self.ctx.probe(command, env=self.env, timeout=timeout)

    def run(self, command: str, what: str, timeout: float = 600, **kw: Any) -> CommandResult:
        res = self.ctx.run(command, env=self.env, timeout=timeout, **kw)
        if not res.ok:
            raise ModuleFailure(f"{what} failed on {self.ctx.host} (exit {res.rc}): {res.tail(5) or 'no output'}")
        return res

    def server_version(self) -> str | None:
        """The daemon's version, or None when there is no docker CLI; raises when the daemon is unusable."""
        res = self.probe("command -v docker >/dev/null 2>&1 || exit 127; docker version --format '{{.Server.Version}}'", timeout=60)
        if res.rc == 127:
            return None
        if not res.ok:
            raise ModuleFailure(
                f"docker on {self.ctx.host} cannot talk to its daemon: {res.tail(3)}",
                hint="start docker (systemctl start docker), become root or join the docker group, or set docker_host",
            )
        return res.stdout.strip()

    def image_id(self, ref: str) -> str | None:
        res = self.probe(f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)} 2>/dev/null")
        return res.stdout.strip() or None if res.ok else None

    def inspect(self, name: str) -> dict[str, Any] | None:
        """`docker container inspect NAME` with the secret key masked, or None when there is no such container."""
        q = shlex.quote(name)
        res = self.probe(
            f'out=$(docker container inspect {q} 2>&1) || {{ case "$out" in *"No such"*) exit 3;; esac; '
            'echo "$out" | tail -n 3 >&2; exit 1; }; '
            f'printf "%s\\n" "$out" | sed -E {shlex.quote(_MASK)}'
        )
        if res.rc == 3:
            return None
        if not res.ok:
            raise ModuleFailure(f"docker container inspect {name} failed: {res.tail(3)}")
        try:
            data = json.loads(res.stdout)
        except ValueError as exc:
            raise ModuleFailure(f"docker container inspect {name} printed no JSON: {exc}") from None
        return data[0] if isinstance(data, list) and data else None

    def secret_matches(self, name: str, secret_path: str) -> bool:
        """Does the container's WEBUI_SECRET_KEY equal the key file's? Compared by digest, on the host."""
        res = self.probe(
            f"want=$(grep '^{SECRET_VAR}=' {sh_path(secret_path)} | sha256sum); "
            f"have=$(docker container inspect --format '{{{{range .Config.Env}}}}{{{{println .}}}}{{{{end}}}}' {shlex.quote(name)} "
            f"| grep '^{SECRET_VAR}=' | sha256sum); [ \"$want\" = \"$have\" ] && echo same || echo differs"
        )
        return res.stdout.strip() == "same"

    def logs_tail(self, name: str, lines: int = 15) -> str:
        res = self.probe(f"docker logs --tail {lines} {shlex.quote(name)} 2>&1 | sed -E {shlex.quote(_MASK)}")
        return res.stdout.strip()

    def exec_probe(self, name: str, command: str, timeout: float = 60) -> CommandResult:
        """Run a read-only command inside the container (its network view)."""
        return self.probe(f"docker exec {shlex.quote(name)} {command}", timeout=timeout)
