"""transfer.push on this machine (LocalConnection): verified, resumable, skipped
without re-hashing, refused when the disk is too small, clean when interrupted."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from deployer import transfer
from deployer.connection import LocalConnection
from deployer.errors import Interrupted, ModuleFailure
from deployer.modules.base import TaskContext


def make_ctx(progress: list | None = None) -> TaskContext:
    sink = None
    if progress is not None:
        def sink(host: str, done: int, total: int, label: str) -> None:
            progress.append((done, total))
    return TaskContext(host="local", connection=LocalConnection(), vars={}, writable=True, progress_sink=sink)


@pytest.fixture
def artefact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> transfer.LocalArtifact:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "model.bin"
    # 2.5 chunks: resuming has a chunk boundary to fall back to
    src.write_bytes(os.urandom(transfer.CHUNK * 2 + transfer.CHUNK // 2))
    return transfer.local_artifact(src)


def test_push_writes_verifies_and_skips_without_rehashing(artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    dest = tmp_path / "host" / "opt" / "model.bin"
    ctx = make_ctx()
    assert transfer.push(ctx, artefact, str(dest)) is True
    assert dest.read_bytes() == artefact.path.read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    assert not list(dest.parent.glob("*.part*")), "the .part and its companions must be gone after success"
    assert transfer.remote_state(ctx, artefact, str(dest)) == "present"

    # same size, same mtime, other bytes: only a re-hash could notice, and a rerun must not re-hash
    st = dest.stat()
    with open(dest, "r+b") as fh:
        fh.write(b"X")
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert transfer.push(ctx, artefact, str(dest)) is False
    assert dest.read_bytes()[:1] == b"X"


def test_push_resumes_resending_at_most_one_chunk(artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    dest = tmp_path / "host" / "model.bin"
    dest.parent.mkdir(exist_ok=True)
    arrived = transfer.CHUNK + 12345
    Path(f"{dest}.part").write_bytes(artefact.path.read_bytes()[:arrived])
    Path(f"{dest}.part.want").write_text(artefact.sha256 + "\n")
    assert transfer.remote_state(make_ctx(), artefact, str(dest)) == f"partial:{arrived}"
    progress: list = []
    assert transfer.push(make_ctx(progress), artefact, str(dest)) is True
    sent = max(done for done, _ in progress)
    assert sent == artefact.size - transfer.CHUNK
    assert artefact.size - arrived < sent <= artefact.size - arrived + transfer.CHUNK
    assert dest.read_bytes() == artefact.path.read_bytes()


def test_corrupt_partial_is_caught_by_the_digest_and_dropped(artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    dest = tmp_path / "host" / "model.bin"
    dest.parent.mkdir(exist_ok=True)
    bad = bytearray(artefact.path.read_bytes()[: transfer.CHUNK + 10])
    bad[100] ^= 0xFF
    Path(f"{dest}.part").write_bytes(bytes(bad))
    Path(f"{dest}.part.want").write_text(artefact.sha256 + "\n")
    with pytest.raises(ModuleFailure, match="sha256 mismatch"):
        transfer.push(make_ctx(), artefact, str(dest))
    assert not dest.exists()
    assert not Path(f"{dest}.part").exists(), "a .part that failed its digest must not be resumed again"
    assert transfer.push(make_ctx(), artefact, str(dest)) is True
    assert dest.read_bytes() == artefact.path.read_bytes()


def test_interrupted_push_leaves_nothing_at_the_final_path_and_resumes(artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    dest = tmp_path / "host" / "model.bin"
    dest.parent.mkdir(exist_ok=True)
    conn = LocalConnection()
    started = threading.Event()

    def sink(host: str, done: int, total: int, label: str) -> None:
        if done >= transfer.CHUNK + 1:
            started.set()
            conn.interrupt()

    ctx = TaskContext(host="local", connection=conn, vars={}, writable=True, progress_sink=sink)
    with pytest.raises(Interrupted):
        transfer.push(ctx, artefact, str(dest))
    assert started.is_set()
    assert not dest.exists()
    arrived = Path(f"{dest}.part").stat().st_size
    assert 0 < arrived < artefact.size
    progress: list = []
    assert transfer.push(make_ctx(progress), artefact, str(dest)) is True
    assert max(done for done, _ in progress) <= artefact.size - arrived + transfer.CHUNK
    assert dest.read_bytes() == artefact.path.read_bytes()


def test_space_check_names_the_numbers(artefact: transfer.LocalArtifact) -> None:
    st = transfer.HostState(present=False, part_size=None, free=1 << 20, free_dir="/srv", python3=True)
    with pytest.raises(ModuleFailure) as err:
        transfer.check_space(make_ctx(), artefact, "/srv/model.bin", st, 0)
    text = str(err.value)
    assert f"{artefact.size} bytes" in text and "1048576 bytes" in text and "/srv" in text and "20.0 MiB" in text
    # what already arrived counts
    st_ok = transfer.HostState(False, None, artefact.size - transfer.CHUNK, "/srv", True)
    transfer.check_space(make_ctx(), artefact, "/srv/model.bin", st_ok, transfer.CHUNK)


def test_probe_reports_free_space_of_the_nearest_existing_directory(artefact: transfer.LocalArtifact, tmp_path: Path) -> None:
    st = transfer.probe_state(make_ctx(), artefact, str(tmp_path / "not" / "yet" / "model.bin"))
    assert st.free_dir == str(tmp_path)
    assert st.free is not None and st.free > 0
    assert not st.present and st.part_size is None


class _NoHashing:
    """Stands in for hashlib in deployer.transfer: hashing a file is the failure here."""

    def sha256(self, *a: object) -> object:
        raise AssertionError("the file was hashed again")


def test_a_remembered_digest_spares_the_hashing_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    f = tmp_path / "ollama-linux-amd64.tgz"
    f.write_bytes(b"release" * 1000)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    transfer.remember({f: f"sha256:{digest}", tmp_path / "gone": "0" * 64})  # a missing file is skipped
    monkeypatch.setattr(transfer, "hashlib", _NoHashing())
    assert transfer.local_artifact(f).sha256 == digest
    f.write_bytes(b"another release" * 1000)  # another version of the file: its digest is not known
    with pytest.raises(AssertionError, match="hashed again"):
        transfer.local_artifact(f)


def test_staged_downloads_and_bundles_are_not_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import io

    from deployer.ollama.bundle import Bundle, BundleWriter
    from deployer.stage.sinks import FileSink

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = b"archive bytes" * 5000
    sink = FileSink(tmp_path / "a.tgz", "a.tgz", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    sink.write(io.BytesIO(data), resumed=False, length=len(data))
    blob, config = b"gguf weights" * 3000, b'{"model_format": "gguf"}'
    d_blob, d_config = (f"sha256:{hashlib.sha256(x).hexdigest()}" for x in (blob, config))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": d_config, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": d_blob, "size": len(blob)}],
    }).encode()
    w = BundleWriter(tmp_path / "bundles", "qwen2.5:0.5b", source="test")
    w.add_blob(d_blob, io.BytesIO(blob))
    w.add_blob(d_config, io.BytesIO(config))
    path = w.finish(manifest).path
    monkeypatch.setattr(transfer, "hashlib", _NoHashing())
    assert transfer.local_artifact(tmp_path / "a.tgz").sha256 == sink.digest
    Bundle.open(path).verify()  # every blob checked against its name, from the cache
