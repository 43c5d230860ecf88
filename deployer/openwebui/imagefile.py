"""What a `docker save` archive on the control machine holds: image ids and tags.

Read locally, so that a host which already has the image is never sent the
4-6 GB again. Both layouts `docker save` writes are understood:

- classic (Docker < 25): ``manifest.json`` = ``[{"Config": "<hex>.json",
  "RepoTags": [...], "Layers": [...]}]``; the image id is ``sha256:<hex>``,
  the digest of that config file.
- OCI (Docker >= 25): ``index.json`` + ``blobs/sha256/...`` and a compatible
  ``manifest.json`` whose Config is ``blobs/sha256/<hex>``. With the containerd
  image store the id a daemon reports is the manifest's digest from
  ``index.json``, so those digests count as ids too.

An uncompressed archive is read by seeking over its layers (fast); a gzip,
bzip2 or xz one has to be decompressed to find its manifest.
"""

from __future__ import annotations

import json
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import InputError, Location, NotStaged


@dataclass(frozen=True)
class ImageArchive:
    """Ids (any of which a daemon may report for the image) and tags of a saved image."""

    path: Path
    ids: frozenset[str]
    tags: tuple[str, ...]
    config_id: str

    @property
    def short(self) -> str:
        return self.config_id.removeprefix("sha256:")[:12]


_cache: dict[tuple[str, int, int], ImageArchive] = {}
_lock = threading.Lock()


def _config_id(config_path: str) -> str:
    name = config_path.rsplit("/", 1)[-1].removesuffix(".json")
    return f"sha256:{name}"


def read_archive(path: Path) -> ImageArchive:
    """Ids and tags of the (single) image in a `docker save` archive."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotStaged(f"image_tarball {path} is not there", str(path),
                        "stage it (deployer stage), or `docker save -o FILE IMAGE` on a connected machine") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
    manifest = index = None
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in ("manifest.json", "index.json") and member.isfile():
                    fh = tar.extractfile(member)
                    assert fh is not None
                    data = json.loads(fh.read())
                    if name == "manifest.json":
                        manifest = data
                    else:
                        index = data
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise InputError(f"image_tarball is not a `docker save` archive: {exc}", Location(str(path))) from None
    if not isinstance(manifest, list) or not manifest:
        raise InputError(
            "image_tarball has no manifest.json: not a `docker save` archive",
            Location(str(path)),
            "make it with `docker save -o FILE IMAGE` (an OCI archive from other tools is not loadable by docker load)",
        )
    if len(manifest) != 1:
        raise InputError(f"image_tarball holds {len(manifest)} images; deployer loads one", Location(str(path)), "save only the Open WebUI image")
    entry = manifest[0]
    config_id = _config_id(str(entry.get("Config", "")))
    ids = {config_id}
    tags = [str(t) for t in entry.get("RepoTags") or []]
    for m in (index or {}).get("manifests", []) if isinstance(index, dict) else []:
        if isinstance(m, dict) and m.get("digest"):
            ids.add(str(m["digest"]))
            ref = (m.get("annotations") or {}).get("io.containerd.image.name")
            if ref and ref not in tags:
                tags.append(str(ref))
    archive = ImageArchive(path, frozenset(ids), tuple(tags), config_id)
    with _lock:
        _cache[key] = archive
    return archive


def matching_tag(archive: ImageArchive, ref: str) -> str | None:
    """The tag of `archive` equal to `ref` (docker.io names normalized), or None."""

    def norm(r: str) -> str:
        for prefix in ("docker.io/library/", "docker.io/"):
            if r.startswith(prefix):
                return r[len(prefix) :]
        return r

    want = norm(ref)
    return next((t for t in archive.tags if norm(t) == want), None)
