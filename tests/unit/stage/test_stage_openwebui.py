"""The Open WebUI artefacts: a pip wheelhouse (real `pip download`, from a local directory of wheels),
and the docker side's refusals when this machine has no usable docker (the image itself is staged
with a real engine in tests/integration/test_stage_openwebui.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deployer.errors import ExitStatus
from deployer.stage.manifest import ArtifactsManifest
from deployer.stage.openwebui import platforms
from tests.fakes.openwebui.wheel import build_wheel
from tests.unit.stage.conftest import Cli


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    src = tmp_path / "index"
    build_wheel(src, "0.6.5")
    build_wheel(src, "0.6.9")
    return src


def test_a_wheelhouse_per_platform_and_the_rerun_needs_no_index(wheels: Path, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    argv = ("stage", "-o", out, "--open-webui-wheels", "0.6.5", "--arch", "amd64", "--arch", "arm64",
            "--pip-find-links", wheels, "--json")
    rc, stdout, err = cli(*argv)
    assert rc == 0, err
    items = json.loads(stdout)["items"]
    assert [(i["arch"], i["status"], i["file"]) for i in items] == [
        ("x86_64", "fetched", "wheelhouse"), ("aarch64", "fetched", "wheelhouse")]
    assert sorted(p.name for p in (out / "wheelhouse").iterdir()) == ["open_webui-0.6.5-py3-none-any.whl"]
    entry = ArtifactsManifest.load(out).get("open-webui-wheelhouse", "open-webui", "0.6.5", "aarch64")
    assert entry is not None and entry.details["open_webui_version"] == "0.6.5" and entry.details["python"] == "3.11"
    assert entry.source == f"pip download --no-index --find-links {wheels}"

    shutil.rmtree(wheels)  # staged already: pip is not asked again
    rc, stdout, err = cli(*argv)
    assert rc == 0, err
    assert {i["status"] for i in json.loads(stdout)["items"]} == {"kept"}


def test_a_version_the_index_does_not_have(wheels: Path, cli: Cli, tmp_path: Path) -> None:
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--open-webui-wheels", "9.9.9", "--pip-find-links", wheels)
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    assert "error: pip download open-webui==9.9.9 for x86_64, Python 3.11 failed: " in text
    assert "No matching distribution found for open-webui==9.9.9" in text
    assert "(a dependency without a binary wheel for that platform cannot be staged; check --pip-index-url / --pip-find-links)" in text


def test_platforms_follow_the_hosts_glibc() -> None:
    assert platforms("arm64", "2.19") == ["manylinux_2_19_aarch64", "manylinux_2_18_aarch64", "manylinux_2_17_aarch64",
                                          "manylinux2014_aarch64", "linux_aarch64"]
    assert platforms("amd64", None)[0] == "manylinux_2_17_x86_64"
    assert platforms("amd64", "2.36")[0] == "manylinux_2_36_x86_64"


def test_no_docker_cli_and_no_docker_daemon(cli: Cli, tmp_path: Path) -> None:
    ref = "ghcr.io/open-webui/open-webui:v0.6.5"
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--open-webui-image", ref, environ={"PATH": str(tmp_path)})
    assert rc == ExitStatus.HOST_FAILED
    assert ("error: there is no docker CLI on this machine, which the Open WebUI image is staged with (install docker here, "
            "stage on a machine that has it, or use frontend.open_webui mode: pip)") in " ".join(err.split())
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI here to point at a daemon that is not there")
    sock = tmp_path / "no-daemon.sock"
    rc, _, err = cli("stage", "-o", tmp_path / "a", "--open-webui-image", ref,
                     environ={"PATH": "/usr/local/bin:/usr/bin:/bin", "DOCKER_HOST": f"unix://{sock}"})
    assert rc == ExitStatus.HOST_FAILED
    text = " ".join(err.split())
    assert f"error: docker is not usable on this machine: Cannot connect to the Docker daemon at unix://{sock}." in text
    assert (f"on a machine with docker: docker pull {ref} && docker save -o {tmp_path}/a/open-webui-v0.6.5.tar {ref}; "
            "or use mode: pip") in text
    rc, _, err = cli("stage", "--open-webui-image", "ghcr.io/open-webui/open-webui")
    assert rc == ExitStatus.USAGE and "give the tag too" in err
