"""Offline bundles on the control machine: made from an Ollama store, read, verified, refused when corrupt."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from deployer.ollama.bundle import Bundle, BundleError, BundleWriter, bundle_dir, create_from_store, find_bundles
from deployer.ollama.registry import ModelName
from tests.fakes.models import make_model, model_files


@pytest.fixture(autouse=True)
def _own_digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    make_model(root, "deepseek-r1:7b", gguf_size=200_000)
    make_model(root, "qwen2.5:0.5b", params="494M", gguf_size=50_000)
    return root


def test_a_bundle_holds_the_manifest_as_is_and_exactly_its_blobs(store: Path, tmp_path: Path) -> None:
    b = create_from_store(store, "deepseek-r1:7b", tmp_path / "bundles")
    assert b.path == tmp_path / "bundles" / "deepseek-r1" / "7b"
    files = model_files(store, "deepseek-r1:7b")
    assert (b.path / "manifest.json").read_bytes() == files[0].read_bytes()
    assert sorted(p.name for p in (b.path / "blobs").iterdir()) == sorted(p.name for p in files[1:])
    for src in files[1:]:
        assert (b.path / "blobs" / src.name).read_bytes() == src.read_bytes()
    info = json.loads((b.path / "bundle.json").read_text())
    assert (info["name"], info["tag"], info["blob_count"]) == ("deepseek-r1", "7b", 5)
    assert info["manifest_digest"] == b.manifest.digest and info["source"] == f"ollama store {store}"
    assert info["total_size"] == sum(p.stat().st_size for p in files[1:])
    assert info["created"].endswith("Z")
    again = Bundle.open(b.path)
    again.verify()
    assert again.name.short == "deepseek-r1:7b" and [x.layer.kind for x in again.blobs][0] == "model"
    assert not any(p.name.startswith(".") for p in b.path.parent.iterdir()), "work directory left behind"


def test_a_model_the_store_lacks_names_what_it_has(store: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError) as exc:
        create_from_store(store, "deepseek-r1:8b", tmp_path / "bundles")
    assert "deepseek-r1:8b is not in the Ollama store" in str(exc.value)
    assert "deepseek-r1:7b, qwen2.5:0.5b" in str(exc.value) and "--models-dir" in str(exc.value)


def test_a_corrupt_store_blob_is_not_bundled(store: Path, tmp_path: Path) -> None:
    blob = model_files(store, "qwen2.5:0.5b")[1]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="is corrupt"):
        create_from_store(store, "qwen2.5:0.5b", tmp_path / "bundles")
    assert not bundle_dir(tmp_path / "bundles", ModelName.parse("qwen2.5:0.5b")).exists()


def test_verify_names_a_corrupt_blob_and_open_an_incomplete_bundle(store: Path, tmp_path: Path) -> None:
    b = create_from_store(store, "deepseek-r1:7b", tmp_path / "bundles")
    b.verify()  # digests now cached: a same-size change must still be seen (new mtime)
    victim = b.blobs[0].path
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.unlink()  # the store's blob is a hard link: replace, never edit in place
    victim.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"blob {victim.name} of deepseek-r1:7b is corrupt"):
        Bundle.open(b.path).verify()
    victim.write_bytes(bytes(data[:-5]))
    with pytest.raises(BundleError, match="has 199995 bytes, the manifest says 200000"):
        Bundle.open(b.path)
    b.blobs[1].path.unlink()
    with pytest.raises(BundleError, match=f"{b.blobs[1].path.name} is missing"):
        Bundle.open(b.path)


def test_open_refuses_a_manifest_that_is_not_the_one_recorded(store: Path, tmp_path: Path) -> None:
    b = create_from_store(store, "deepseek-r1:7b", tmp_path / "bundles")
    (b.path / "manifest.json").write_bytes((b.path / "manifest.json").read_bytes() + b"\n")
    with pytest.raises(BundleError, match="bundle.json says"):
        Bundle.open(b.path)
    with pytest.raises(BundleError, match="no bundle here"):
        Bundle.open(tmp_path)


def test_writer_checks_streams_resumes_and_replaces(store: Path, tmp_path: Path) -> None:
    """The API `deployer stage` writes through: blobs from streams, then the manifest."""
    files = model_files(store, "qwen2.5:0.5b")
    manifest = json.loads(files[0].read_bytes())
    digests = [lay["digest"] for lay in manifest["layers"]] + [manifest["config"]["digest"]]
    w = BundleWriter(tmp_path / "b", "qwen2.5:0.5b", source="registry https://registry.ollama.ai")
    model = files[1].read_bytes()
    with pytest.raises(BundleError, match="hashes to"):
        w.add_blob(digests[0], io.BytesIO(model[:-1] + b"x"))
    assert not w.has_blob(digests[0]) and w.partial_size(digests[0]) == 0
    with pytest.raises(BundleError, match="cut short"):
        w.add_blob(digests[0], io.BytesIO(model[:1000]), size=len(model))
    assert w.partial_size(digests[0]) == 1000
    w.add_blob(digests[0], io.BytesIO(model[1000:]), size=len(model), resume=True)
    assert w.has_blob(digests[0])
    with pytest.raises(BundleError, match="lacks blobs"):
        w.finish(files[0].read_bytes())
    for digest, path in zip(digests[1:], files[2:]):
        w.add_blob(digest, io.BytesIO(path.read_bytes()))
    (w.blobs_dir / "sha256-stray").write_text("left over")
    b = w.finish(files[0].read_bytes())
    assert sorted(p.name for p in (b.path / "blobs").iterdir()) == sorted(p.name for p in files[1:])
    assert b.info.source == "registry https://registry.ollama.ai"
    b.verify()
    again = create_from_store(store, "qwen2.5:0.5b", tmp_path / "b")  # replaces the bundle in place
    assert again.path == b.path and again.info.source.startswith("ollama store")
    assert find_bundles(tmp_path / "b") == [b.path]


def test_bundle_paths_of_other_namespaces_and_registries(tmp_path: Path) -> None:
    assert bundle_dir(tmp_path, ModelName.parse("me/mine:v1")) == tmp_path / "me" / "mine" / "v1"
    assert bundle_dir(tmp_path, ModelName.parse("hf.co/org/m:Q4_K_M")) == tmp_path / "hf.co" / "org" / "m" / "Q4_K_M"


def test_an_aborted_build_leaves_nothing(store: Path, tmp_path: Path) -> None:
    files = model_files(store, "qwen2.5:0.5b")
    digest = json.loads(files[0].read_bytes())["layers"][0]["digest"]
    w = BundleWriter(tmp_path / "b", "qwen2.5:0.5b", source="test")
    w.add_blob_file(digest, files[1])
    assert w.has_blob(digest)
    w.abort()
    assert not w.work.exists() and not w.final.exists() and find_bundles(tmp_path / "b") == []
