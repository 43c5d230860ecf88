"""Model tags straight from the Ollama registry into bundles: no Ollama on the staging machine.

The registry is a Docker distribution v2 registry without authentication for
pulls: ``GET /v2/<namespace>/<model>/manifests/<tag>`` gives the manifest,
``GET /v2/<namespace>/<model>/blobs/<digest>`` each blob (registry.ollama.ai
answers that with a 307 to its CDN). Blobs go into a bundle under construction
(deployer.ollama.bundle.BundleWriter): each one is verified against its digest
before it gets its name, interrupted blobs resume, finished ones are kept, and
the bundle appears at its final path only when complete.
"""

from __future__ import annotations

from pathlib import Path

from deployer.ollama.bundle import BundleWriter, bundle_dir
from deployer.ollama.registry import DEFAULT_HOST, MANIFEST_MEDIA_TYPES, Manifest, ManifestError, ModelName, human_size, sha256_digest
from deployer.stage import layout
from deployer.stage.http import Http, HttpStatus, StageError
from deployer.stage.manifest import ArtifactsManifest, Entry
from deployer.stage.sinks import BlobSink

DEFAULT_URL = "https://registry.ollama.ai"
ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)


def registry_base(name: ModelName, override: str | None) -> str:
    """Where `name` is pulled from: --registry-url for registry.ollama.ai's models, else its own host."""
    if name.host.lower() == DEFAULT_HOST:
        return (override or DEFAULT_URL).rstrip("/")
    return f"https://{name.host}"


def manifest_url(base: str, name: ModelName) -> str:
    return f"{base}/v2/{name.namespace}/{name.model}/manifests/{name.tag}"


def blob_url(base: str, name: ModelName, digest: str) -> str:
    return f"{base}/v2/{name.namespace}/{name.model}/blobs/{digest}"


def fetch_manifest(http: Http, base: str, name: ModelName) -> Manifest:
    """The tag's manifest, checked (JSON, layers, and the digest the registry states)."""
    url = manifest_url(base, name)
    try:
        raw, headers = http.get_bytes(url, {"Accept": ACCEPT})
    except HttpStatus as exc:
        if exc.status == 404:
            library = f"https://ollama.com/library/{name.model}/tags" if name.namespace == "library" else f"https://ollama.com/{name.namespace}/{name.model}/tags"
            raise StageError(f"model {name}: the registry has no such tag ({url} answered 404)",
                             f"check the name and tag at {library}; the catalogue may name a tag the registry does not have") from None
        raise StageError(f"model {name}: {exc.message}", "is --registry-url right?") from None
    try:
        manifest = Manifest.parse(raw, f"manifest of {name} from {url}")
    except ManifestError as exc:
        raise StageError(exc.message, "is --registry-url an Ollama registry?") from None
    stated = headers.get("Docker-Content-Digest")
    if stated and stated != sha256_digest(raw):
        raise StageError(f"model {name}: the manifest from {url} hashes to {sha256_digest(raw)}, "
                         f"the registry says {stated}", "a proxy on the way altered it: rerun, or stage from another network")
    return manifest


def staged(manifest: ArtifactsManifest, name: ModelName) -> Entry | None:
    """The entry of a complete, unchanged bundle of `name`, if one was staged."""
    entry = manifest.get("model", name.short, name.tag)
    return entry if entry is not None and manifest.problem(entry) is None else None


def stage_model(http: Http, root: Path, manifest: ArtifactsManifest, name: ModelName,
                registry_url: str | None = None, refresh: bool = False) -> tuple[Entry, int | None]:
    """Bundle `name` from the registry unless staged; (its entry, bytes fetched or None when kept).

    With `refresh` the registry's manifest is read again, and a tag that now
    points elsewhere is staged anew (blobs it shares with the old one included).
    """
    entry = staged(manifest, name)
    if entry is not None and not refresh:
        return entry, None
    base = registry_base(name, registry_url)
    remote = fetch_manifest(http, base, name)
    if entry is not None and f"sha256:{entry.sha256}" == remote.digest:
        return entry, None
    writer = BundleWriter(layout.bundles_dir(root), name, source=manifest_url(base, name))
    moved = 0
    failed: list[StageError] = []
    for layer in remote.blobs:
        if writer.has_blob(layer.digest):
            continue
        label = f"model {name}: blob {layer.digest[:19]} ({layer.kind}, {human_size(layer.size)})"
        try:
            moved += http.download(blob_url(base, name, layer.digest), BlobSink(writer, layer, label), label, layer.size)
        except StageError as exc:
            failed.append(exc)  # the other blobs are still fetched: the rerun needs only this one
    if failed:
        more = f" ({len(failed) - 1} more blobs failed too)" if len(failed) > 1 else ""
        raise StageError(failed[0].message + more, failed[0].hint)
    bundle = writer.finish(remote.raw)
    path = bundle_dir(layout.bundles_dir(root), name)
    entry = Entry(kind="model", name=name.short, version=name.tag, file=layout.relative(root, path),
                  sha256=remote.digest.removeprefix("sha256:"), size=bundle.total_size, source=manifest_url(base, name),
                  details={"blobs": len(bundle.blobs), "registry": name.host})
    manifest.record(entry)
    return entry, moved
