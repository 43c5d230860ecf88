"""Ollama's model store on disk: manifests/<host>/<ns>/<model>/<tag> and blobs/sha256-<hex>.

Same layout, same JSON, same pruning rules as the real server, so a store
written by the stand-in can be read by Ollama and the other way round.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable

from . import config, gguf, names

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
_DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
PRUNE_GRACE_SECONDS = 3600  # Ollama >= 0.21 spares blobs touched in the last hour


class InvalidDigest(ValueError):
    def __init__(self) -> None:
        super().__init__("invalid digest format")


@dataclass
class Manifest:
    """A parsed manifest file; ``digest`` is the sha256 of its bytes (the model's ID)."""

    name: names.Name
    path: Path
    data: dict[str, Any]
    digest: str
    modified: _dt.datetime

    @property
    def config(self) -> dict[str, Any]:
        return self.data.get("config") or {}

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.data.get("layers") or [])

    def all_layers(self) -> list[dict[str, Any]]:
        return self.layers + ([self.config] if self.config.get("digest") else [])

    def size(self) -> int:
        return sum(int(layer.get("size", 0)) for layer in self.layers + [self.config])

    def layer(self, media_type: str) -> dict[str, Any] | None:
        return next((lay for lay in self.layers if lay.get("mediaType") == media_type), None)


@dataclass
class Store:
    root: Path = field(default_factory=config.models_dir)

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    def ensure_dirs(self) -> None:
        """Create blobs/ and manifests/ as the server does at start (errors like Go's)."""
        for path in (self.blobs_dir, self.manifests_dir):
            path.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        if not _DIGEST_RE.match(digest):
            raise InvalidDigest()
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        return self.blobs_dir / digest.replace(":", "-")

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    # -- manifests -----------------------------------------------------------------

    def manifest_path(self, name: names.Name) -> Path:
        return self.manifests_dir / name.filepath()

    def read_manifest(self, name: names.Name) -> Manifest:
        path = self.manifest_path(name)
        raw = path.read_bytes()
        return Manifest(name, path, json.loads(raw), hashlib.sha256(raw).hexdigest(),
                        _dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone())

    def manifests(self, continue_on_error: bool = True) -> dict[names.Name, Manifest]:
        found: dict[names.Name, Manifest] = {}
        if not self.manifests_dir.is_dir():
            return found
        for path in sorted(self.manifests_dir.glob("*/*/*/*")):
            if path.is_dir():
                continue
            name = names.from_filepath(PurePosixPath(path.relative_to(self.manifests_dir).as_posix()))
            try:
                if name is None:
                    raise ValueError(f"bad manifest name {path}")
                found[name] = self.read_manifest(name)
            except (OSError, ValueError):
                if not continue_on_error:
                    raise
        return found

    def resolve(self, name: names.Name) -> names.Name:
        """getExistingName: take the casing of an existing model's parts."""
        host, ns, model, tag = name.host, name.namespace, name.model, name.tag
        for existing in self.manifests():
            if existing.host.lower() == host.lower():
                host = existing.host
            if existing.namespace.lower() == ns.lower():
                ns = existing.namespace
            if existing.model.lower() == model.lower():
                model = existing.model
            if existing.tag.lower() == tag.lower():
                tag = existing.tag
        return names.Name(host, ns, model, tag, name.scheme)

    def write_manifest(self, name: names.Name, config_layer: dict[str, Any],
                       layers: list[dict[str, Any]]) -> Path:
        doc = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
               "config": config_layer, "layers": layers}
        return self.write_manifest_bytes(name, (json.dumps(doc, separators=(",", ":")) + "\n").encode())

    def write_manifest_bytes(self, name: names.Name, raw: bytes) -> Path:
        path = self.manifest_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        return path

    def remove_manifest(self, manifest: Manifest) -> None:
        manifest.path.unlink()
        self.prune_directory(self.manifests_dir)

    def prune_directory(self, path: Path) -> None:
        """Remove empty directories bottom-up (PruneDirectory), the root included."""
        if path.is_symlink() or not path.is_dir():
            return
        for child in list(path.iterdir()):
            self.prune_directory(child)
        if not any(path.iterdir()):
            path.rmdir()

    # -- blobs ---------------------------------------------------------------------

    def new_layer(self, stream: BinaryIO, media_type: str) -> dict[str, Any]:
        """Copy a stream into the store under its sha256 (NewLayer)."""
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        sha = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(prefix="sha256-", dir=self.blobs_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(1 << 20)
                    if not chunk:
                        break
                    sha.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + sha.hexdigest()
            final = self.blob_path(digest)
            if final.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o644)
                os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return {"mediaType": media_type, "digest": digest, "size": size}

    def layer_from_bytes(self, raw: bytes, media_type: str) -> dict[str, Any]:
        import io
        return self.new_layer(io.BytesIO(raw), media_type)

    def referenced(self) -> set[str]:
        refs: set[str] = set()
        for manifest in self.manifests().values():
            refs.update(layer["digest"] for layer in manifest.all_layers())
        return refs

    def remove_layers(self, manifest: Manifest) -> None:
        """Delete the manifest's blobs that no other manifest uses."""
        still_used = self.referenced()
        for layer in manifest.all_layers():
            if layer["digest"] not in still_used:
                try:
                    self.blob_path(layer["digest"]).unlink()
                except FileNotFoundError:
                    pass

    def fix_blobs(self) -> None:
        """Rename blobs written as sha256:<hex> (old Ollama) to sha256-<hex>."""
        if not self.blobs_dir.is_dir():
            return
        for path in self.blobs_dir.iterdir():
            if path.name.startswith("sha256:"):
                path.rename(path.with_name(path.name.replace(":", "-", 1)))

    def prune(self, log: Callable[[str], None]) -> None:
        """Startup prune: drop partial downloads and blobs no manifest references."""
        grace = PRUNE_GRACE_SECONDS if config.at_least("0.21.0") else 0
        candidates: set[str] = set()
        now = time.time()
        for path in self.blobs_dir.iterdir():
            if path.is_dir():
                continue
            if grace and now - path.stat().st_mtime < grace:
                continue
            digest = path.name.replace("-", ":")
            if not _DIGEST_RE.match(digest):
                path.unlink()  # partial downloads and strays
                continue
            candidates.add(digest)
        log(f"total blobs: {len(candidates)}")
        unused = candidates - self.referenced()
        for digest in unused:
            try:
                self.blob_path(digest).unlink()
            except OSError:
                pass
        log(f"total unused blobs removed: {len(unused)}")

    # -- model metadata ------------------------------------------------------------

    def model_config(self, manifest: Manifest) -> dict[str, Any]:
        digest = manifest.config.get("digest")
        if not digest:
            return {}
        return json.loads(self.blob_path(digest).read_bytes())

    def details(self, manifest: Manifest) -> dict[str, Any]:
        """The "details" object of /api/tags, /api/ps and /api/show."""
        cfg = self.model_config(manifest)
        return {"parent_model": "", "format": cfg.get("model_format", ""),
                "family": cfg.get("model_family", ""), "families": cfg.get("model_families"),
                "parameter_size": cfg.get("model_type", ""),
                "quantization_level": cfg.get("file_type", "")}

    def model_info(self, manifest: Manifest) -> dict[str, Any]:
        layer = manifest.layer(MODEL_MEDIA_TYPE)
        if layer is None:
            return {}
        path = self.blob_path(layer["digest"])
        if not gguf.is_gguf(path):
            return {}
        meta = gguf.read_metadata(path)
        meta.pop("general.name", None)
        meta.pop("tokenizer.chat_template", None)
        return meta

    def text_layer(self, manifest: Manifest, kind: str) -> str:
        layer = manifest.layer(f"application/vnd.ollama.image.{kind}")
        if layer is None:
            return ""
        return self.blob_path(layer["digest"]).read_text(errors="replace")
