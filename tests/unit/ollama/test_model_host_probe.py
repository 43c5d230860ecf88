"""The one-round-trip look into a host's models dir, run on this machine through a local connection."""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path

from deployer.connection import LocalConnection
from deployer.modules.base import TaskContext
from deployer.ollama.models_host import probe_store
from deployer.ollama.registry import ModelName
from tests.fakes.models import make_model, model_files


def _ctx(home: Path) -> TaskContext:
    return TaskContext(host="localhost", connection=LocalConnection(), vars={}, env={"HOME": str(home)})


def test_probe_lists_blobs_with_sizes_finds_the_manifest_and_free_space(tmp_path: Path) -> None:
    models = tmp_path / "home" / ".ollama" / "models"
    make_model(models, "deepseek-r1:1.5b", gguf_size=20_000)
    (models / "blobs" / f"sha256-{'f' * 64}-partial").write_bytes(b"x")  # a pull in progress: not a blob
    files = model_files(models, "deepseek-r1:1.5b")
    store = probe_store(_ctx(tmp_path / "home"), "~/.ollama/models", ModelName.parse("deepseek-r1:1.5b"), getpass.getuser())
    assert store.models_dir == str(models) and store.exists  # ~ is the host's $HOME
    assert store.manifest_sha256 == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert store.blobs == {"sha256:" + p.name[7:]: p.stat().st_size for p in files[1:]}
    assert store.free_bytes and store.free_bytes > 0 and store.free_at == str(models)
    assert store.user_exists is True


def test_probe_of_a_models_dir_not_made_yet(tmp_path: Path) -> None:
    store = probe_store(_ctx(tmp_path), str(tmp_path / "a" / "b"), ModelName.parse("m:t"), "no-such-user-here")
    assert not store.exists and store.blobs == {} and store.manifest_sha256 is None
    assert store.free_at == str(tmp_path) and store.user_exists is False
