"""Ollama release archives and their sha256sum.txt, from GitHub's release downloads (or a mirror).

Upstream's paths are ``<base>/v<version>/<file>`` (deployer.ollama.download.release_url);
every archive is checked against the release's own sha256sum.txt while it is
written, and only a verified archive gets its final name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import InputError
from deployer.ollama.download import release_url
from deployer.ollama.release import parse_sha256sums
from deployer.stage import layout
from deployer.stage.http import Http, HttpStatus, StageError
from deployer.stage.manifest import ArtifactsManifest, Entry
from deployer.stage.sinks import FileSink

DEFAULT_URL = "https://github.com/ollama/ollama/releases/download"
RELEASES_PAGE = "https://github.com/ollama/ollama/releases"
SUMS = "sha256sum.txt"


@dataclass(frozen=True)
class ReleaseItem:
    """One archive of one Ollama release."""

    version: str  # normalized, no 'v'
    name: str  # upstream's file name, e.g. ollama-linux-amd64-rocm.tgz
    arch: str
    variant: str = ""


def sums(http: Http, root: Path, manifest: ArtifactsManifest, version: str, base: str) -> tuple[dict[str, str], int | None]:
    """The release's checksums (staged once, then read from disk) and the bytes fetched (None: kept)."""
    path = layout.sums_file(root, version)
    entry = manifest.get("ollama-sha256sums", SUMS, version)
    if entry is not None and manifest.problem(entry) is None:
        return _parse(path.read_text(encoding="utf-8"), str(path)), None
    url = release_url(base, version, SUMS)
    try:
        data, _ = http.get_bytes(url)
    except HttpStatus as exc:
        if exc.status == 404:
            raise StageError(f"Ollama {version}: {url} answered 404: is {version} a release?",
                             f"the versions are listed at {RELEASES_PAGE}") from None
        raise
    parsed = _parse(data.decode("utf-8", "replace"), url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    manifest.record(Entry(kind="ollama-sha256sums", name=SUMS, version=version, file=layout.relative(root, path),
                          sha256=hashlib.sha256(data).hexdigest(), size=len(data), source=url))
    return parsed, len(data)


def _parse(text: str, source: str) -> dict[str, str]:
    try:
        return parse_sha256sums(text, source)
    except InputError as exc:
        raise StageError(f"{source} is not a sha256sum.txt: {exc.message}", "is the release URL (--release-url) right?") from None


def stage_archive(http: Http, root: Path, manifest: ArtifactsManifest, item: ReleaseItem, base: str,
                  checksums: dict[str, str]) -> tuple[Entry, int | None]:
    """Download one archive unless it is staged and unchanged; (its entry, bytes fetched or None)."""
    want = checksums.get(item.name)
    if want is None:
        listed = ", ".join(sorted(n for n in checksums if n.startswith("ollama-linux"))) or "no Linux archives"
        raise StageError(f"the sha256sum.txt of Ollama {item.version} lists no {item.name} (it lists: {listed})",
                         f"Ollama {item.version} was not built for {item.arch}{' with ' + item.variant if item.variant else ''}: "
                         "pick another version")
    entry = manifest.get("ollama-release", item.name, item.version, item.arch)
    if entry is not None and entry.sha256 == want and manifest.problem(entry) is None:
        return entry, None
    dest = layout.release_file(root, item.version, item.name)
    url = release_url(base, item.version, item.name)
    sink = FileSink(dest, f"{item.name} (Ollama {item.version})", sha256=want)
    try:
        moved = http.download(url, sink, f"{item.name} {item.version}")
    except HttpStatus as exc:
        if exc.status == 404:
            raise StageError(f"Ollama {item.version} has no {item.name}: {url} answered 404",
                             f"the files of each release are listed at {RELEASES_PAGE}") from None
        raise
    entry = Entry(kind="ollama-release", name=item.name, version=item.version, arch=item.arch,
                  file=layout.relative(root, dest), sha256=want, size=dest.stat().st_size, source=url,
                  details={"variant": item.variant} if item.variant else {})
    manifest.record(entry)
    return entry, moved
