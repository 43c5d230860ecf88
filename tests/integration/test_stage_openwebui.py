"""The Open WebUI image staged with a real Docker engine (tests/fakes/docker_engine.py): `deployer stage`
saves it from the engine the docker CLI is pointed at, a rerun does not touch docker, a pull that
cannot work says so, and doctor finds the staged image where the play looks for it and docker usable
on the host the play names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from deployer.openwebui.imagefile import read_archive
from tests.fakes import docker_engine
from tests.fakes.docker_engine import DockerEngine
from tests.fakes.openwebui.testbed import ImageFactory
from tests.fleet import Fleet
from tests.fleet.deployer_cli import CliResult

pytestmark = pytest.mark.docker
HOST = "h5"
Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def engine(fleet: Fleet) -> Iterator[DockerEngine]:
    yield from docker_engine.engine_for_tests(fleet, HOST, "stage-owui")


def test_stage_saves_the_image_and_doctor_finds_it(fleet: Fleet, engine: DockerEngine, deployer_cli: Cli, tmp_path: Path) -> None:
    ref_id = ImageFactory(engine, tmp_path / "images").archive("v-staged", keep_loaded=True)[1]
    ref = "ghcr.io/open-webui/open-webui:v-staged"
    env = {"DOCKER_HOST": f"unix://{engine.socket}"}
    out = tmp_path / "artifacts"
    res = deployer_cli("stage", "-o", out, "--open-webui-image", ref, "--json", env=env)
    assert res.rc == 0, res
    item = json.loads(res.stdout)["items"][0]
    assert (item["status"], item["file"]) == ("fetched", "open-webui-v-staged.tar")
    archive = read_archive(out / "open-webui-v-staged.tar")
    assert ref_id in archive.ids and ref in archive.tags
    entry = json.loads((out / "MANIFEST.json").read_text())["entries"][0]
    assert entry["details"]["image_id"] == ref_id and entry["kind"] == "open-webui-image"

    res = deployer_cli("stage", "-o", out, "--open-webui-image", ref, "--json", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert res.rc == 0 and json.loads(res.stdout)["items"][0]["status"] == "kept", res  # docker is not even asked

    res = deployer_cli("stage", "-o", out, "--open-webui-image", "ghcr.io/open-webui/open-webui:not-there", env=env)
    assert res.rc == 4, res
    text = " ".join(res.stderr.split())
    assert "error: docker pull ghcr.io/open-webui/open-webui:not-there failed: " in text
    assert "(is the image name right, and can dockerd reach its registry (its own HTTPS_PROXY, in its systemd unit)?)" in text

    pb = tmp_path / "ui.yml"
    pb.write_text(yaml.safe_dump([{"name": "ui", "hosts": HOST, "frontend": {"open_webui": {
        "tag": "v-staged", "image_tarball": "artifacts/open-webui-v-staged.tar", "docker_host": engine.docker_host,
        "port": 3999, "admin_email": "a@b.c", "admin_password": "x"}}}]))
    inv = fleet.write_inventory(tmp_path / "inv.ini", hosts=[HOST])
    res = deployer_cli("doctor", pb, "-i", inv, "--json")
    checks = {c["check"]: c for c in json.loads(res.stdout)["hosts"][HOST]["checks"]}
    assert checks["docker"]["status"] == "ok" and checks["docker"]["detail"].endswith(f"at {engine.docker_host}"), res
    assert checks["artefacts"] == {"check": "artefacts", "status": "ok", "detail": "1 present, 1 as staged (MANIFEST.json)", "fix": None}
    assert checks["ports"]["detail"] == "3999 free"
