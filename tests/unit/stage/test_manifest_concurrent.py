"""Two `deployer stage` runs into one directory: each keeps the other's entries."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from deployer.stage.manifest import ArtifactsManifest, Entry


def _entry(i: int) -> Entry:
    return Entry(kind="ollama-release", name=f"ollama-linux-amd64-{i}.tgz", version="0.5.7", arch="amd64",
                 file=f"ollama/{i}.tgz", sha256=f"{i:064x}", size=i, source="test")


def _stage(root: str, start: int, count: int) -> None:
    manifest = ArtifactsManifest.load(root)  # each run reads the directory once, at its start
    for i in range(start, start + count):
        manifest.record(_entry(i))


def test_concurrent_runs_lose_no_entry(tmp_path: Path) -> None:
    ArtifactsManifest.load(tmp_path).record(_entry(999))  # staged earlier
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_stage, args=(str(tmp_path), k * 20, 20)) for k in range(2)]
    threads = [threading.Thread(target=_stage, args=(str(tmp_path), 100 + k * 20, 20)) for k in range(2)]
    for w in [*procs, *threads]:
        w.start()
    for w in [*procs, *threads]:
        w.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    names = {e.name for e in ArtifactsManifest.load(tmp_path).entries}
    want = {_entry(i).name for i in [*range(40), *range(100, 140), 999]}
    assert names == want, sorted(want - names)


def test_a_rerun_replaces_its_own_entry(tmp_path: Path) -> None:
    m = ArtifactsManifest.load(tmp_path)
    m.record(_entry(1))
    m.record(_entry(1).model_copy(update={"sha256": "f" * 64}))
    (only,) = ArtifactsManifest.load(tmp_path).entries
    assert only.sha256 == "f" * 64
