"""Pieces the Open WebUI integration tests assemble on a fleet host.

- :class:`OllamaOnHost`: the Ollama stand-in serving one small model inside a
  fleet host, on the address given (loopback, the docker0 gateway, all).
- :class:`ImageFactory`: stand-in images with distinct ids, each saved to a
  `docker save` archive and removed from the engine, so that the product has
  to load it - exactly what happens on a lab node.
- :func:`playbook` / :func:`inventory`: files for `deployer run`.
"""

from __future__ import annotations

import itertools
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.fakes import models
from tests.fakes.docker_engine import DockerEngine
from tests.fakes.openwebui import image
from tests.fleet import Fleet

FAKES = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5:0.5b"
ADMIN_EMAIL = "admin@lab.example"
ADMIN_PASSWORD = "lab-admin-pass-7f3e"


class OllamaOnHost:
    """`ollama serve` (the stand-in) inside a fleet host, listening on addr:port."""

    def __init__(self, fleet: Fleet, host: str, addr: str, port: int, name: str) -> None:
        self.fleet, self.host, self.addr, self.port = fleet, host, addr, port
        self.dir = f"/opt/owui-tests/{name}"

    def start(self) -> "OllamaOnHost":
        root = self.fleet.path(self.host, self.dir)
        shutil.rmtree(root, ignore_errors=True)
        (root / "models").mkdir(parents=True)
        shutil.copy(FAKES / "ollama", root / "ollama")
        shutil.copytree(FAKES / "ollama_standin", root / "ollama_standin", ignore=shutil.ignore_patterns("__pycache__"))
        models.make_model(root / "models", MODEL, params="494M", gguf_size=50_000)
        self.fleet.exec(
            self.host,
            f"cd {self.dir} && OLLAMA_HOST={self.addr}:{self.port} OLLAMA_MODELS={self.dir}/models HOME={self.dir} "
            f"setsid python3 ollama serve > serve.log 2>&1 < /dev/null & echo $! > {self.dir}/pid",
        )
        probe = "127.0.0.1" if self.addr == "0.0.0.0" else self.addr
        self.fleet.exec(self.host, f"for i in $(seq 50); do curl -fs http://{probe}:{self.port}/ && exit 0; sleep 0.2; done; cat {self.dir}/serve.log; exit 1")
        return self

    def stop(self) -> None:
        self.fleet.exec(self.host, f"kill $(cat {self.dir}/pid) 2>/dev/null; true", check=False)


class ImageFactory:
    """Stand-in Open WebUI images, one distinct image id per tag, as `docker save` archives."""

    def __init__(self, engine: DockerEngine, workdir: Path) -> None:
        self.engine = engine
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rootfs = image.build_rootfs(workdir / "rootfs.tar")
        self._n = itertools.count()

    def archive(self, tag: str, keep_loaded: bool = False) -> tuple[Path, str]:
        """(archive path, image id) of a new image ghcr.io/open-webui/open-webui:<tag>."""
        ref = f"ghcr.io/open-webui/open-webui:{tag}"
        args = image.import_args(ref)
        unique = ["import", "-c", f"LABEL deployer.test.image={tag}-{next(self._n)}", *args[1:]]
        image_id = self.engine.import_image(self.rootfs, ref, unique)
        path = self.dir / f"open-webui-{tag}.tar"
        self.engine.docker("save", "-o", str(path), ref)
        if not keep_loaded:
            self.engine.docker("rmi", ref)
        return path, image_id


def playbook(path: Path, plays: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def inventory(fleet: Fleet, path: Path, hosts: list[str], groups: dict[str, list[str]] | None = None) -> Path:
    return fleet.write_inventory(path, hosts=hosts, group_vars={"openwebui_admin_password": ADMIN_PASSWORD}, groups=groups)


def host_curl(fleet: Fleet, host: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> subprocess.CompletedProcess:
    """curl on the fleet host (its loopback is not this machine's)."""
    parts = ["curl", "-s", "-w", "\\n%{http_code}", url]
    if body is not None:
        parts += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    if token:
        parts += ["-H", f"Authorization: Bearer {token}"]
    return fleet.exec(host, " ".join(shlex.quote(p) for p in parts), check=False)


def http_json(fleet: Fleet, host: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    """(HTTP status, parsed JSON body) of a request made on the fleet host."""
    out = host_curl(fleet, host, url, body, token).stdout
    text, _, code = out.rpartition("\n")
    try:
        return int(code or 0), json.loads(text) if text else None
    except ValueError:
        return int(code or 0), text
