"""Build models in Ollama's on-disk layout, for the registry stand-in or a host's OLLAMA_MODELS.

A model is what the real registry serves: a GGUF blob (small, but a valid
GGUF whose metadata claims the parameter count and quantization asked for),
template/license/params blobs, a config blob (model_format, model_family,
model_type, file_type) and a Docker v2 manifest naming them all.

    make_model(root, "deepseek-r1:7b", params="7.6B", quant="Q4_K_M",
               family="qwen2", gguf_size=2_000_000)  -> manifest dict
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from tests.fakes.ollama_standin import gguf, goish, names

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MEDIA = "application/vnd.ollama.image."
DEFAULT_TEMPLATE = ("{{- if .System }}{{ .System }}{{ end }}{{- range .Messages }}"
                    "<|{{ .Role }}|>{{ .Content }}{{ end }}<|Assistant|>")
DEFAULT_PARAMS = {"stop": ["<|begin▁of▁sentence|>", "<|end▁of▁sentence|>"]}
DEFAULT_LICENSE = "MIT License\n\nCopyright (c) 2023 DeepSeek\n"


def parameter_count(params: str | int) -> int:
    """ "7.6B" -> 7_600_000_000, "494M" -> 494_000_000, or an int as is."""
    if isinstance(params, int):
        return params
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMBT]?)\s*", params.upper())
    if not m:
        raise ValueError(f"params={params!r}: write it like 7.6B, 494M or 1000000")
    scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[m.group(2)]
    return int(round(float(m.group(1)) * scale))


def gguf_metadata(params: str | int = "7.6B", quant: str = "Q4_K_M", family: str = "qwen2",
                  context_length: int = 131072, embedding_length: int = 3584, block_count: int = 28,
                  head_count: int = 28, head_count_kv: int = 4,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata Ollama reads from a GGUF (defaults: deepseek-r1:7b's qwen2 shape)."""
    meta: dict[str, Any] = {
        "general.architecture": family,
        "general.name": family,
        "general.parameter_count": parameter_count(params),
        "general.file_type": gguf.file_type_code(quant),
        "general.quantization_version": 2,
        f"{family}.context_length": context_length,
        f"{family}.embedding_length": embedding_length,
        f"{family}.block_count": block_count,
        f"{family}.attention.head_count": head_count,
        f"{family}.attention.head_count_kv": head_count_kv,
    }
    meta.update(extra or {})
    return meta


def make_gguf(path: Path | str, *, size: int = 1_000_000, seed: str = "", **metadata: Any) -> str:
    """Write a GGUF file of exactly ``size`` bytes; returns its "sha256:<hex>" digest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gguf.write(path, gguf_metadata(**metadata), size, seed or str(path.name))
    return digest_of(path)


def digest_of(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def blob_path(root: Path | str, digest: str) -> Path:
    """root/blobs/sha256-<hex> (the file name uses "-", the digest ":")."""
    return Path(root) / "blobs" / digest.replace(":", "-")


def manifest_path(root: Path | str, name: str) -> Path:
    """root/manifests/registry.ollama.ai/library/<model>/<tag> for "model:tag"."""
    return Path(root) / "manifests" / str(names.parse(name).filepath())


def _blob(root: Path, raw: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    path = blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(raw)
    return {"mediaType": media_type, "digest": digest, "size": len(raw)}


def make_model(root: Path | str, name: str, *, params: str | int = "7.6B", quant: str = "Q4_K_M",
               family: str = "qwen2", gguf_size: int = 1_000_000, template: str | None = DEFAULT_TEMPLATE,
               license: str | None = DEFAULT_LICENSE, parameters: dict[str, Any] | None = None,
               system: str | None = None, context_length: int = 131072, seed: str = "",
               **kv: Any) -> dict[str, Any]:
    """Write a model (blobs + manifest) under ``root`` in Ollama's layout; return the manifest.

    ``params``/``quant``/``family`` are what /api/tags and /api/show will claim;
    ``gguf_size`` is the real size of the model blob. Extra keyword arguments
    (embedding_length, block_count, head_count, head_count_kv) shape the GGUF
    metadata. The same name and arguments give the same digests.
    """
    root = Path(root)
    parsed = names.parse(name)
    if not parsed.valid:
        raise ValueError(f"model name {name!r} is not valid")
    gguf_file = blob_path(root, "sha256:" + "0" * 64).with_name(f".building-{parsed.model}-{parsed.tag}")
    gguf_file.parent.mkdir(parents=True, exist_ok=True)
    make_gguf(gguf_file, size=gguf_size, seed=seed or parsed.display_shortest(), params=params,
              quant=quant, family=family, context_length=context_length, **kv)
    digest = digest_of(gguf_file)
    final = blob_path(root, digest)
    gguf_file.replace(final)
    layers = [{"mediaType": MEDIA + "model", "digest": digest, "size": final.stat().st_size}]
    if template is not None:
        layers.append(_blob(root, template.encode(), MEDIA + "template"))
    if license is not None:
        layers.append(_blob(root, license.encode(), MEDIA + "license"))
    if system is not None:
        layers.append(_blob(root, system.encode(), MEDIA + "system"))
    params_doc = DEFAULT_PARAMS if parameters is None else parameters
    if params_doc:
        layers.append(_blob(root, json.dumps(params_doc, separators=(",", ":")).encode(), MEDIA + "params"))
    model_type = params.strip().upper() if isinstance(params, str) else goish.human_number(params)
    config = {"model_format": "gguf", "model_family": family, "model_families": [family],
              "model_type": model_type, "file_type": quant.upper(),
              "architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}}
    config_layer = _blob(root, json.dumps(config, separators=(",", ":")).encode(), CONFIG_MEDIA_TYPE)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": config_layer, "layers": layers}
    path = manifest_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(json.dumps(manifest, separators=(",", ":")).encode())
    return manifest


def model_files(root: Path | str, name: str) -> list[Path]:
    """The manifest and exactly the blobs it names: what moving a model means."""
    path = manifest_path(root, name)
    manifest = json.loads(path.read_bytes())
    digests = [layer["digest"] for layer in manifest["layers"]] + [manifest["config"]["digest"]]
    return [path] + [blob_path(root, d) for d in dict.fromkeys(digests)]


def model_size(manifest: dict[str, Any]) -> int:
    """What /api/tags reports as size: layers plus config."""
    return sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
