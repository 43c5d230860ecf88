"""Ollama's model names and manifests, as its registry and its model store define them.

A name is ``[host/][namespace/]model[:tag]`` (upstream types/model/name.go):
missing parts default to ``registry.ollama.ai``, ``library`` and ``latest``.
On disk a model is a manifest at ``manifests/<host>/<namespace>/<model>/<tag>``
plus the blobs it names at ``blobs/sha256-<hex>`` (``-``, not the ``:`` of the
digest). The manifest is Docker distribution v2 JSON: a ``config`` blob and
``layers`` (the GGUF, template, params, license...); the model's size is the sum
of their sizes, its ID the sha256 of the manifest's bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from deployer.errors import DeployerError

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}$")


class ManifestError(DeployerError):
    """A manifest that is not what Ollama's registry serves."""


@dataclass(frozen=True)
class ModelName:
    """A fully qualified Ollama model name."""

    model: str
    tag: str = DEFAULT_TAG
    namespace: str = DEFAULT_NAMESPACE
    host: str = DEFAULT_HOST

    @classmethod
    def parse(cls, text: str) -> "ModelName":
        """'deepseek-r1:7b', 'me/m', 'host:5000/ns/m:t'; ValueError when a part is not valid."""
        rest = text.strip()
        for scheme in ("https://", "http://"):
            rest = rest.removeprefix(scheme)
        tag = DEFAULT_TAG
        if rest.rfind(":") > rest.rfind("/"):
            rest, _, tag = rest.rpartition(":")
        parts = rest.split("/")
        if len(parts) > 3:
            raise ValueError(f"model name {text!r} has too many '/' parts (at most host/namespace/model)")
        host = parts[-3] if len(parts) == 3 else DEFAULT_HOST
        namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
        name = cls(parts[-1], tag, namespace, host)
        problem = name.problem()
        if problem:
            raise ValueError(f"model name {text!r}: {problem}")
        return name

    def problem(self) -> str | None:
        """Why this name is not valid, or None."""
        for kind, value, pattern in (("model", self.model, _PART), ("tag", self.tag, _PART),
                                     ("namespace", self.namespace, _PART), ("host", self.host, _HOST)):
            if not pattern.match(value) or ".." in value:
                return f"{kind} {value!r} is not valid (letters, digits, '_', '-', '.'; at most 80)"
        if "." in self.namespace:
            return f"namespace {self.namespace!r} may not contain '.'"
        return None

    @property
    def short(self) -> str:
        """How Ollama displays it: 'deepseek-r1:7b', 'me/m:latest', 'host/ns/m:t'."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def manifest_relpath(self) -> str:
        """The manifest's path under the models dir: manifests/registry.ollama.ai/library/m/t."""
        return f"manifests/{self.host}/{self.namespace}/{self.model}/{self.tag}"

    def same(self, other: "ModelName") -> bool:
        """Ollama compares names case-insensitively."""
        return self.short.lower() == other.short.lower()

    def __str__(self) -> str:
        return self.short


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


def blob_filename(digest: str) -> str:
    """'sha256:<hex>' -> 'sha256-<hex>' (the file name in blobs/)."""
    if not is_digest(digest):
        raise ManifestError(f"{digest!r} is not a sha256 digest ('sha256:' and 64 lowercase hex digits)")
    return digest.replace(":", "-", 1)


def digest_of_filename(name: str) -> str | None:
    """'sha256-<hex>' -> 'sha256:<hex>'; None for anything else (partial downloads, strays)."""
    digest = name.replace("-", ":", 1)
    return digest if is_digest(digest) else None


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One blob a manifest names."""

    digest: str
    size: int
    media_type: str

    @property
    def kind(self) -> str:
        """'model', 'template', 'params', 'license', ... or 'config'."""
        if self.media_type.startswith("application/vnd.ollama.image."):
            return self.media_type.rsplit(".", 1)[1]
        return "config" if "config" in self.media_type or "container.image" in self.media_type else self.media_type


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; `raw` is kept byte for byte (its sha256 is the model's ID)."""

    raw: bytes
    config: Layer
    layers: tuple[Layer, ...]

    @classmethod
    def parse(cls, raw: bytes, what: str = "manifest") -> "Manifest":
        """Parse and check a manifest; ManifestError says what is wrong with `what`."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{what} is not JSON: {exc}")
        if not isinstance(doc, dict):
            raise ManifestError(f"{what} is not a JSON object")
        if doc.get("schemaVersion") != 2:
            raise ManifestError(f"{what}: schemaVersion is {doc.get('schemaVersion')!r}, expected 2")
        media = doc.get("mediaType")
        if media is not None and media not in MANIFEST_MEDIA_TYPES:
            raise ManifestError(f"{what}: mediaType {media!r} is not an image manifest")
        config = _layer(doc.get("config"), f"{what}: config")
        raw_layers = doc.get("layers")
        if not isinstance(raw_layers, list) or not raw_layers:
            raise ManifestError(f"{what}: 'layers' must be a non-empty list")
        layers = tuple(_layer(item, f"{what}: layers[{i}]") for i, item in enumerate(raw_layers))
        return cls(raw, config, layers)

    @property
    def digest(self) -> str:
        """sha256 of the manifest's bytes (what /api/tags reports as the model's digest, without 'sha256:')."""
        return sha256_digest(self.raw)

    @property
    def blobs(self) -> tuple[Layer, ...]:
        """Every blob to move with the model, each digest once: layers, then config."""
        seen: dict[str, Layer] = {}
        for layer in (*self.layers, self.config):
            seen.setdefault(layer.digest, layer)
        return tuple(seen.values())

    @property
    def total_size(self) -> int:
        """What /api/tags reports as the model's size: layers plus config."""
        return sum(layer.size for layer in self.layers) + self.config.size

    def layer(self, kind: str) -> Layer | None:
        return next((lay for lay in self.layers if lay.kind == kind), None)


def _layer(item: object, what: str) -> Layer:
    if not isinstance(item, dict):
        raise ManifestError(f"{what} must be an object with mediaType, digest and size")
    digest, size, media = item.get("digest"), item.get("size"), item.get("mediaType")
    if not isinstance(digest, str) or not is_digest(digest):
        raise ManifestError(f"{what}: digest {digest!r} is not 'sha256:' and 64 hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{what}: size {size!r} is not a byte count")
    if not isinstance(media, str) or not media:
        raise ManifestError(f"{what}: mediaType is missing")
    return Layer(digest, size, media)


def human_size(n: int) -> str:
    """Bytes in decimal units, as `ollama list` shows them: '4.7 GB', '986 MB', '43 GB'."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if value >= 10 or unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.0f} TB" if value >= 10 else f"{value:.1f} TB"
