"""MANIFEST.json: what an artefacts directory holds, so nobody re-hashes gigabytes to know.

    {"format": 1, "updated": "2026-01-15T10:00:00Z",
     "entries": [{"kind": "ollama-release", "name": "ollama-linux-amd64.tgz", "version": "0.5.7",
                  "arch": "amd64", "file": "ollama-0.5.7/ollama-linux-amd64.tgz",
                  "sha256": "<hex>", "size": 1717986918, "mtime_ns": ..., "source": "https://...",
                  "staged_at": "2026-01-15T10:00:00Z", "details": {}}, ...]}

``file`` is relative to the directory holding MANIFEST.json. An entry is
*fresh* when its file still has the recorded size and mtime (a file) or its
contents' recorded sizes (a directory: a bundle, a wheelhouse): that is how a
rerun of stage skips it and how doctor judges the directory complete, without
reading the data again. Written atomically; readers tolerate unknown fields.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployer.errors import InputError, Location

FILE = "MANIFEST.json"
FORMAT = 1
Kind = Literal["ollama-release", "ollama-sha256sums", "model", "open-webui-image", "open-webui-wheelhouse"]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Entry(BaseModel):
    """One staged artefact."""

    model_config = ConfigDict(extra="ignore")
    kind: Kind
    name: str
    version: str
    arch: str | None = None
    file: str = Field(description="path relative to the artefacts directory")
    sha256: str = Field(description="hex digest of the file; of the manifest for a model bundle")
    size: int
    mtime_ns: int | None = Field(None, description="of a file entry, to notice it changed without hashing it")
    source: str
    staged_at: str = Field(default_factory=now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.kind, self.name, self.version, self.arch)


class ArtifactsManifest:
    """The entries of one artefacts directory, keyed by (kind, name, version, arch)."""

    def __init__(self, root: Path, entries: list[Entry] | None = None) -> None:
        self.root = root
        self._entries: dict[tuple, Entry] = {e.key: e for e in entries or []}

    @property
    def path(self) -> Path:
        return self.root / FILE

    @classmethod
    def load(cls, root: str | Path) -> "ArtifactsManifest":
        """The manifest of `root`; an empty one when there is none yet."""
        root = Path(root)
        path = root / FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(root)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {FILE}: {exc}", Location(str(path)),
                             "remove it; the next `deployer stage` writes it anew") from None
        try:
            entries = [Entry.model_validate(e) for e in data.get("entries", [])]
        except (ValidationError, AttributeError) as exc:
            raise InputError(f"{FILE} is not valid: {str(exc).splitlines()[0]}", Location(str(path)),
                             "remove it; the next `deployer stage` writes it anew") from None
        return cls(root, entries)

    @property
    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.kind, e.name, e.version, e.arch or ""))

    def get(self, kind: str, name: str, version: str, arch: str | None = None) -> Entry | None:
        return self._entries.get((kind, name, version, arch))

    def find(self, kind: str, **match: Any) -> list[Entry]:
        """Entries of `kind` whose fields equal `match`."""
        return [e for e in self.entries if e.kind == kind and all(getattr(e, k) == v for k, v in match.items())]

    def by_file(self, path: Path) -> Entry | None:
        """The entry recorded for `path` (a file or directory under root)."""
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None
        return next((e for e in self._entries.values() if e.file == rel), None)

    def record(self, entry: Entry) -> None:
        """Add or replace an entry and write the manifest at once (a crash later loses nothing)."""
        if entry.mtime_ns is None:
            target = self.root / entry.file
            if target.is_file():
                entry = entry.model_copy(update={"mtime_ns": target.stat().st_mtime_ns})
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{FILE}.lock", "a") as lock:
            # another `deployer stage` into this directory may have recorded
            # entries since we read it: merge under the lock, never overwrite them
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                on_disk = ArtifactsManifest.load(self.root)._entries
            except InputError:
                on_disk = {}
            self._entries = {**self._entries, **on_disk, entry.key: entry}
            self.save()

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "updated": now(), "entries": [e.model_dump() for e in self.entries]}
        tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def problem(self, entry: Entry) -> str | None:
        """Why `entry` no longer describes what is on disk, or None when it is fresh (no hashing)."""
        target = self.root / entry.file
        if entry.kind == "model":
            return _bundle_problem(target, entry)
        if entry.kind == "open-webui-wheelhouse":
            for wheel in entry.details.get("files", []):
                p = target / wheel["name"]
                if not p.is_file():
                    return f"{p.name} is missing"
                if p.stat().st_size != wheel["size"]:
                    return f"{p.name} has {p.stat().st_size} bytes, {wheel['size']} when staged"
            return None
        try:
            st = target.stat()
        except FileNotFoundError:
            return f"{entry.file} is missing"
        if st.st_size != entry.size:
            return f"{entry.file} has {st.st_size} bytes, {entry.size} when staged"
        if entry.mtime_ns is not None and st.st_mtime_ns != entry.mtime_ns:
            return f"{entry.file} was modified after it was staged"
        return None


def _bundle_problem(path: Path, entry: Entry) -> str | None:
    from deployer.ollama.bundle import Bundle, BundleError  # bundle imports transfer; keep this module light

    try:
        bundle = Bundle.open(path)
    except BundleError as exc:
        return exc.message
    if bundle.manifest.digest != f"sha256:{entry.sha256}":
        return f"the bundle at {entry.file} holds manifest {bundle.manifest.digest[:19]}, not the staged sha256:{entry.sha256[:12]}"
    return None


def find_manifest(path: Path) -> ArtifactsManifest | None:
    """The manifest of the artefacts directory `path` lies in: MANIFEST.json in it or an ancestor."""
    p = path.resolve()
    candidates = [p, *p.parents] if p.is_dir() else list(p.parents)
    for d in candidates:
        if (d / FILE).is_file():
            return ArtifactsManifest.load(d)
    return None
