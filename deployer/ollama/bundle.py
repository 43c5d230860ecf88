"""Offline model bundles: one model's manifest and exactly the blobs it names, in a directory.

Layout (one directory per model tag, on the control machine)::

    <bundles>/<model>/<tag>/                      library models: deepseek-r1/7b
    <bundles>/<namespace>/<model>/<tag>/          other namespaces of registry.ollama.ai
    <bundles>/<host>/<namespace>/<model>/<tag>/   other registries
        bundle.json         {"format": 1, "name", "tag", "namespace", "registry",
                             "manifest_digest", "total_size", "blob_count", "created", "source"}
        manifest.json       the manifest, byte for byte as the registry serves it
                            (its sha256 is the model's ID, `manifest_digest`)
        blobs/sha256-<hex>  exactly the blobs the manifest names: its layers and config

Every blob is checked against its name (sha256) when it is added; ``verify()``
checks them again. A bundle is built in a work directory beside its final place
(``.<tag>.partial``) and renamed into place by ``finish()``, so a bundle
directory is always complete; blobs finished in an interrupted build are kept
and not fetched again.

Readers: ``Bundle.open(dir)`` (cheap: names and sizes, no hashing),
``.manifest``, ``.blobs``, ``.verify()``. Writers: ``BundleWriter(bundles, name,
source)`` with ``.add_blob(digest, stream)`` / ``.add_blob_file(digest, path)``
then ``.finish(manifest_bytes)`` (``deployer stage`` writes straight from the
registry; ``create_from_store`` copies from a local Ollama store).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from deployer.errors import InputError, Location
from deployer.ollama.registry import Layer, Manifest, ManifestError, ModelName, blob_filename, human_size
from deployer.transfer import local_artifact, remember

FORMAT = 1
INFO_FILE = "bundle.json"
MANIFEST_FILE = "manifest.json"
#: progress callback: (label, bytes done, bytes total)
Progress = Callable[[str, int, int], None]


class BundleError(InputError):
    """A bundle that is missing, incomplete or corrupt (on the control machine)."""


class BundleInfo(BaseModel):
    """bundle.json: what the bundle holds, where it came from."""

    model_config = ConfigDict(extra="ignore")  # a newer deployer may add fields; reading stays possible
    format: int = FORMAT
    name: str
    tag: str
    namespace: str = "library"
    registry: str = "registry.ollama.ai"
    manifest_digest: str
    total_size: int
    blob_count: int
    created: str
    source: str

    @property
    def model(self) -> ModelName:
        return ModelName(self.name, self.tag, self.namespace, self.registry)


def bundle_dir(bundles: Path, name: ModelName) -> Path:
    """Where the bundle of `name` lives under a bundles directory."""
    if name.host.lower() != "registry.ollama.ai":
        return bundles / name.host / name.namespace / name.model / name.tag
    if name.namespace.lower() != "library":
        return bundles / name.namespace / name.model / name.tag
    return bundles / name.model / name.tag


@dataclass(frozen=True)
class BundleBlob:
    """One blob of a bundle."""

    layer: Layer
    path: Path

    @property
    def digest(self) -> str:
        return self.layer.digest

    @property
    def size(self) -> int:
        return self.layer.size


@dataclass(frozen=True)
class Bundle:
    """A complete bundle directory (see the module docstring)."""

    path: Path
    info: BundleInfo
    manifest: Manifest

    @classmethod
    def open(cls, path: str | Path) -> "Bundle":
        """Read a bundle: bundle.json, the manifest, and every blob's presence and size (no hashing)."""
        root = Path(path).expanduser()
        info_path = root / INFO_FILE
        try:
            info = BundleInfo.model_validate(json.loads(info_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise BundleError("no bundle here (no bundle.json)", Location(str(root)), "create one with `deployer bundle create MODEL:TAG -o DIR`")
        except (OSError, ValueError, ValidationError) as exc:
            raise BundleError(f"bundle.json is not valid: {str(exc).splitlines()[0]}", Location(str(info_path)))
        try:
            raw = (root / MANIFEST_FILE).read_bytes()
            manifest = Manifest.parse(raw, MANIFEST_FILE)
        except FileNotFoundError:
            raise BundleError("the bundle has no manifest.json", Location(str(root)), "re-create the bundle")
        except ManifestError as exc:
            raise BundleError(exc.message, Location(str(root / MANIFEST_FILE)), "re-create the bundle")
        if manifest.digest != info.manifest_digest:
            raise BundleError(
                f"manifest.json has digest {manifest.digest}, bundle.json says {info.manifest_digest}",
                Location(str(root)), "the bundle was modified or mixed up with another: re-create it",
            )
        bundle = cls(root, info, manifest)
        problems = []
        for blob in bundle.blobs:
            try:
                size = blob.path.stat().st_size
            except FileNotFoundError:
                problems.append(f"{blob.path.name} is missing")
                continue
            if size != blob.size:
                problems.append(f"{blob.path.name} has {size} bytes, the manifest says {blob.size}")
        if problems:
            raise BundleError(f"incomplete bundle of {info.model}: " + "; ".join(problems), Location(str(root)),
                              "re-create it with `deployer bundle create` (or `deployer stage`)")
        return bundle

    @property
    def name(self) -> ModelName:
        return self.info.model

    @property
    def blobs(self) -> list[BundleBlob]:
        """The blobs the manifest names (layers then config, each once), with their files."""
        return [BundleBlob(layer, self.path / "blobs" / blob_filename(layer.digest)) for layer in self.manifest.blobs]

    @property
    def total_size(self) -> int:
        return self.manifest.total_size

    def verify_blob(self, blob: BundleBlob) -> None:
        """Check one blob's sha256 against its name (digests are cached per file version)."""
        art = local_artifact(blob.path)
        if f"sha256:{art.sha256}" != blob.digest:
            raise BundleError(
                f"blob {blob.path.name} of {self.name} is corrupt: its content hashes to sha256:{art.sha256}",
                Location(str(blob.path)), "re-create the bundle (`deployer bundle create`) and copy it again",
            )

    def verify(self, progress: Progress | None = None) -> None:
        """Check every blob's sha256; BundleError names the first corrupt one."""
        done, total = 0, self.total_size
        for blob in self.blobs:
            self.verify_blob(blob)
            done += blob.size
            if progress:
                progress(f"verify {self.name}", done, total)

    def describe(self) -> str:
        return f"{self.name} ({len(self.blobs)} blobs, {human_size(self.total_size)})"


class BundleWriter:
    """Builds a bundle: blobs first (each verified against its digest), then finish(manifest)."""

    def __init__(self, bundles: str | Path, name: str | ModelName, source: str) -> None:
        self.name = name if isinstance(name, ModelName) else ModelName.parse(name)
        self.source = source
        self.final = bundle_dir(Path(bundles).expanduser(), self.name)
        self.work = self.final.with_name(f".{self.final.name}.partial")
        self.blobs_dir = self.work / "blobs"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        return self.blobs_dir / blob_filename(digest)

    def has_blob(self, digest: str) -> bool:
        """A verified blob is already in the work directory (from an interrupted build)."""
        return self._blob_path(digest).is_file()

    def partial_size(self, digest: str) -> int:
        """Bytes of an unfinished download of `digest` kept for resuming (add_blob(resume=True))."""
        part = self._blob_path(digest).with_suffix(".part")
        return part.stat().st_size if part.is_file() else 0

    def add_blob(self, digest: str, stream: BinaryIO, size: int | None = None, resume: bool = False) -> Path:
        """Write a blob from `stream`, checking its sha256 (and `size`) before it gets its name.

        With `resume`, bytes already in the partial file are kept and `stream`
        continues after them (a ranged download); otherwise it starts over.
        """
        final = self._blob_path(digest)
        part = final.with_suffix(".part")
        sha = hashlib.sha256()
        if resume and part.is_file():
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(4 << 20), b""):
                    sha.update(block)
            mode = "ab"
        else:
            mode = "wb"
        with open(part, mode) as out:
            for block in iter(lambda: stream.read(4 << 20), b""):
                sha.update(block)
                out.write(block)
        got = part.stat().st_size
        if size is not None and got != size:
            raise BundleError(f"blob {digest} has {got} bytes, expected {size}", Location(str(part)),
                              "the download was cut short: try again (it resumes)")
        if f"sha256:{sha.hexdigest()}" != digest:
            part.unlink()
            raise BundleError(f"blob {digest}: the data hashes to sha256:{sha.hexdigest()}", Location(str(part)),
                              "the source is corrupt: fetch it again")
        os.replace(part, final)
        return final

    def add_blob_file(self, digest: str, path: Path) -> Path:
        """Take a blob from a local file (an Ollama store): verified, then hard-linked or copied."""
        art = local_artifact(path)
        if f"sha256:{art.sha256}" != digest:
            raise BundleError(f"{path.name} is corrupt: its content hashes to sha256:{art.sha256}", Location(str(path)),
                              "pull the model again on this machine (`ollama pull`) before bundling it")
        final = self._blob_path(digest)
        if final.is_file() and final.stat().st_size == art.size:
            return final
        part = final.with_suffix(".part")
        part.unlink(missing_ok=True)
        try:
            os.link(path, part)  # same filesystem: no second copy of gigabytes
        except OSError:
            shutil.copyfile(path, part)
        if part.stat().st_size != art.size:
            raise BundleError(f"copy of {path.name} is short", Location(str(part)), "check free space and try again")
        os.replace(part, final)
        return final

    def finish(self, manifest_raw: bytes, created: datetime | None = None) -> Bundle:
        """Write manifest.json and bundle.json, drop stray files, and move the bundle into place."""
        manifest = Manifest.parse(manifest_raw, f"manifest of {self.name}")
        missing = [layer.digest for layer in manifest.blobs if not self.has_blob(layer.digest)]
        if missing:
            raise BundleError(f"bundle of {self.name} lacks blobs the manifest names: {', '.join(missing)}",
                              Location(str(self.work)), "add them before finish()")
        wanted = {blob_filename(layer.digest) for layer in manifest.blobs}
        for entry in self.blobs_dir.iterdir():
            if entry.name not in wanted:
                entry.unlink()
        (self.work / MANIFEST_FILE).write_bytes(manifest_raw)
        info = BundleInfo(
            name=self.name.model, tag=self.name.tag, namespace=self.name.namespace, registry=self.name.host,
            manifest_digest=manifest.digest, total_size=manifest.total_size, blob_count=len(manifest.blobs),
            created=(created or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"), source=self.source,
        )
        (self.work / INFO_FILE).write_text(json.dumps(info.model_dump(), indent=2) + "\n", encoding="utf-8")
        old = self.final.with_name(f".{self.final.name}.old-{os.getpid()}")
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.work, self.final)
        shutil.rmtree(old, ignore_errors=True)
        # every blob was checked against its digest on the way in: pushes need not hash them again
        remember({self.final / "blobs" / blob_filename(layer.digest): layer.digest for layer in manifest.blobs})
        return Bundle.open(self.final)

    def abort(self) -> None:
        """Throw the work directory away (finished blobs included)."""
        shutil.rmtree(self.work, ignore_errors=True)


def default_models_dir(environ: dict[str, str]) -> Path:
    """Where a local Ollama keeps its models: OLLAMA_MODELS, else ~/.ollama/models."""
    value = environ.get("OLLAMA_MODELS", "").strip()
    return Path(value).expanduser() if value else Path("~/.ollama/models").expanduser()


def store_models(models_dir: Path) -> list[ModelName]:
    """The models of an Ollama store (its manifests), for hints."""
    root = models_dir / "manifests"
    names = []
    for path in sorted(root.glob("*/*/*/*")):
        if path.is_file():
            host, namespace, model, tag = path.relative_to(root).parts
            names.append(ModelName(model, tag, namespace, host))
    return names


def create_from_store(models_dir: str | Path, name: str | ModelName, bundles: str | Path,
                      progress: Progress | None = None) -> Bundle:
    """Bundle a model of a local Ollama store (`deployer bundle create`), every blob verified."""
    store = Path(models_dir).expanduser()
    model = name if isinstance(name, ModelName) else ModelName.parse(name)
    manifest_path = store / model.manifest_relpath
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        have = ", ".join(n.short for n in store_models(store)) or "none"
        raise BundleError(
            f"model {model} is not in the Ollama store at {store} (it has: {have})", Location(str(manifest_path)),
            f"`ollama pull {model}` first, or point --models-dir at the store that has it "
            "(a system service keeps models in /usr/share/ollama/.ollama/models)",
        )
    except PermissionError:
        raise BundleError(f"cannot read {manifest_path}: permission denied", Location(str(manifest_path)),
                          "run as a user who can read the store (the service's store belongs to 'ollama')")
    try:
        manifest = Manifest.parse(raw, f"manifest of {model}")
    except ManifestError as exc:
        raise BundleError(exc.message, Location(str(manifest_path)))
    writer = BundleWriter(bundles, model, source=f"ollama store {store}")
    done = 0
    for layer in manifest.blobs:
        path = store / "blobs" / blob_filename(layer.digest)
        if not path.is_file():
            raise BundleError(f"the store lacks blob {path.name} of {model}", Location(str(path)),
                              f"`ollama pull {model}` again to repair the store")
        if not writer.has_blob(layer.digest):
            writer.add_blob_file(layer.digest, path)
        done += layer.size
        if progress:
            progress(f"bundle {model}", done, manifest.total_size)
    return writer.finish(raw)


def find_bundles(path: str | Path) -> list[Path]:
    """Bundle directories at or below `path` (work directories of unfinished builds skipped)."""
    root = Path(path).expanduser()
    if (root / INFO_FILE).is_file():
        return [root]
    found = [p.parent for p in root.rglob(INFO_FILE)]
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts))
