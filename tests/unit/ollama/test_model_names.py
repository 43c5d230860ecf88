"""Model names and manifests as Ollama's store and registry define them."""

from __future__ import annotations

import json

import pytest

from deployer.ollama.registry import Manifest, ManifestError, ModelName, blob_filename, digest_of_filename, human_size
from tests.fakes.ollama_standin import names as standin_names

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "short", "relpath"),
    [
        ("deepseek-r1:7b", "deepseek-r1:7b", "manifests/registry.ollama.ai/library/deepseek-r1/7b"),
        ("deepseek-r1", "deepseek-r1:latest", "manifests/registry.ollama.ai/library/deepseek-r1/latest"),
        ("qwen2.5:0.5b", "qwen2.5:0.5b", "manifests/registry.ollama.ai/library/qwen2.5/0.5b"),
        ("me/mine:v1", "me/mine:v1", "manifests/registry.ollama.ai/me/mine/v1"),
        ("hf.co/org/model:Q4_K_M", "hf.co/org/model:Q4_K_M", "manifests/hf.co/org/model/Q4_K_M"),
        ("localhost:5000/ns/m:t", "localhost:5000/ns/m:t", "manifests/localhost:5000/ns/m/t"),
        ("https://registry.ollama.ai/library/x:1", "x:1", "manifests/registry.ollama.ai/library/x/1"),
    ],
)
def test_names_parse_like_ollama(text: str, short: str, relpath: str) -> None:
    name = ModelName.parse(text)
    assert (name.short, name.manifest_relpath) == (short, relpath)
    theirs = standin_names.parse(text)  # the stand-in follows types/model/name.go
    assert f"manifests/{theirs.filepath()}" == relpath


@pytest.mark.parametrize("text", ["", "a/b/c/d", "bad name", "m:t:x", "ns.x/m", "m:..", "-m"])
def test_bad_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ModelName.parse(text)


def test_names_compare_without_case() -> None:
    assert ModelName.parse("DeepSeek-R1:7B").same(ModelName.parse("deepseek-r1:7b"))
    assert not ModelName.parse("deepseek-r1:7b").same(ModelName.parse("deepseek-r1:8b"))


def test_blob_file_names_use_a_dash() -> None:
    assert blob_filename(f"sha256:{HEX}") == f"sha256-{HEX}"
    assert digest_of_filename(f"sha256-{HEX}") == f"sha256:{HEX}"
    assert digest_of_filename(f"sha256-{HEX}-partial") is None
    assert digest_of_filename(f"sha256-{HEX}-partial-0") is None
    with pytest.raises(ManifestError):
        blob_filename("sha256:xyz")


def _manifest(**over: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": f"sha256:{'c' * 64}", "size": 487},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{'1' * 64}", "size": 4683073184},
            {"mediaType": "application/vnd.ollama.image.template", "digest": f"sha256:{'2' * 64}", "size": 387},
            {"mediaType": "application/vnd.ollama.image.license", "digest": f"sha256:{'3' * 64}", "size": 1065},
            {"mediaType": "application/vnd.ollama.image.params", "digest": f"sha256:{'4' * 64}", "size": 148},
        ],
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_a_manifest_is_kept_byte_for_byte_and_sized_like_api_tags() -> None:
    raw = _manifest()
    m = Manifest.parse(raw)
    assert m.raw == raw and m.digest.startswith("sha256:")
    assert m.total_size == 4683073184 + 387 + 1065 + 148 + 487  # deepseek-r1:7b's 4,683,075,271 bytes
    assert [b.kind for b in m.blobs] == ["model", "template", "license", "params", "config"]
    assert m.layer("model") is not None and m.layer("projector") is None


def test_a_digest_named_twice_is_one_blob() -> None:
    layer = {"mediaType": "application/vnd.ollama.image.license", "digest": f"sha256:{'3' * 64}", "size": 10}
    m = Manifest.parse(_manifest(layers=[layer, dict(layer)]))
    assert len(m.blobs) == 2  # the license once, and the config


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"schemaVersion": 1}, "schemaVersion"),
        ({"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json"}, "not an image manifest"),
        ({"layers": []}, "non-empty list"),
        ({"config": {"mediaType": "x", "digest": "sha256:12", "size": 1}}, "64 hex digits"),
        ({"layers": [{"mediaType": "x", "digest": f"sha256:{HEX}", "size": -1}]}, "not a byte count"),
    ],
)
def test_bad_manifests_say_what_is_wrong(over: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.parse(_manifest(**over))
    with pytest.raises(ManifestError, match="not JSON"):
        Manifest.parse(b"<html>")


def test_sizes_read_like_ollama_list() -> None:
    assert human_size(4683075271) == "4.7 GB"
    assert human_size(986_000_000) == "986 MB"
    assert human_size(42520397704) == "43 GB"
    assert human_size(112) == "112 B"
