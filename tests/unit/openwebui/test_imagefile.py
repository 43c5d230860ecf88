"""Image ids and tags read from `docker save` archives, both layouts, plain and gzip'd.

The archives are written here in the documented layouts: classic (what
Docker < 25 writes, as the engine in the integration tests does:
manifest.json with Config "<hex>.json", plus `repositories`) and OCI (Docker
>= 25: index.json, blobs/sha256/..., and a manifest.json naming blobs).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Literal

import pytest

from deployer.errors import InputError, NotStaged
from deployer.openwebui.imagefile import matching_tag, read_archive

CONFIG = "2d35e290b3040613d5a7077f23d3e7beebe54821975e1116afda768639d24925"
LAYER = "3435d093226152c792e89f996ec9c521f095c6b0d401fd0a4208332249198332"
INDEX_DIGEST = "sha256:" + "ab" * 32


def archive(path: Path, files: dict[str, bytes], mode: Literal["w", "w:gz"] = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def classic(tags: list[str]) -> dict[str, bytes]:
    return {
        f"{LAYER}/layer.tar": b"\0" * 4096,
        f"{CONFIG}.json": b"{}",
        "manifest.json": json.dumps([{"Config": f"{CONFIG}.json", "RepoTags": tags, "Layers": [f"{LAYER}/layer.tar"]}]).encode(),
        "repositories": b"{}",
    }


def oci(tags: list[str]) -> dict[str, bytes]:
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": INDEX_DIGEST,
                                                 "annotations": {"io.containerd.image.name": "ghcr.io/open-webui/open-webui:v0.6.5"}}]}
    return {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        f"blobs/sha256/{CONFIG}": b"{}",
        "index.json": json.dumps(index).encode(),
        "manifest.json": json.dumps([{"Config": f"blobs/sha256/{CONFIG}", "RepoTags": tags, "Layers": []}]).encode(),
    }


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_classic_layout(tmp_path: Path, mode: Literal["w", "w:gz"]) -> None:
    a = read_archive(archive(tmp_path / "ow.tar", classic(["ghcr.io/open-webui/open-webui:main"]), mode))
    assert a.config_id == f"sha256:{CONFIG}" and a.ids == {f"sha256:{CONFIG}"}
    assert a.tags == ("ghcr.io/open-webui/open-webui:main",) and a.short == CONFIG[:12]
    assert matching_tag(a, "ghcr.io/open-webui/open-webui:main") and not matching_tag(a, "ghcr.io/open-webui/open-webui:dev")


def test_oci_layout_counts_the_manifest_digest_as_an_id(tmp_path: Path) -> None:
    a = read_archive(archive(tmp_path / "ow.tar", oci(["ghcr.io/open-webui/open-webui:main"])))
    assert a.ids == {f"sha256:{CONFIG}", INDEX_DIGEST}
    assert set(a.tags) == {"ghcr.io/open-webui/open-webui:main", "ghcr.io/open-webui/open-webui:v0.6.5"}


def test_docker_hub_names_match_in_either_spelling(tmp_path: Path) -> None:
    a = read_archive(archive(tmp_path / "b.tar", classic(["busybox:1"])))
    assert matching_tag(a, "docker.io/library/busybox:1") == "busybox:1"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.txt": b"x"}, "has no manifest.json"),
        ({"manifest.json": json.dumps([{"Config": "a.json"}, {"Config": "b.json"}]).encode()}, "holds 2 images"),
        ({"manifest.json": b"{not json"}, "is not a `docker save` archive"),
    ],
)
def test_not_an_image_archive(tmp_path: Path, files: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_archive(archive(tmp_path / "x.tar", files))


def test_missing_or_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(NotStaged, match=r"image_tarball .*nope\.tar is not there"):
        read_archive(tmp_path / "nope.tar")
    (tmp_path / "text.tar").write_text("hello")
    with pytest.raises(InputError, match="is not a `docker save` archive"):
        read_archive(tmp_path / "text.tar")
