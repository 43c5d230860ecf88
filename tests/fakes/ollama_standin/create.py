"""POST /api/create and /api/copy: new models from uploaded GGUF blobs or from other models.

Follows Ollama >= 0.5.5's create API (``files`` / ``from``), its config blob
(model_format, model_family, model_type from general.parameter_count,
file_type from general.file_type) and its progress statuses.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from . import config, gguf, goish, names
from .store import CONFIG_MEDIA_TYPE, MODEL_MEDIA_TYPE, Manifest, Store

Emit = Callable[[dict[str, Any]], None]
_MEDIA = "application/vnd.ollama.image."


class CreateError(Exception):
    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


def _gguf_layer(store: Store, digest: str, emit: Emit) -> tuple[dict[str, Any], dict[str, Any]]:
    emit({"status": "parsing GGUF"})
    try:
        path = store.blob_path(digest)
    except ValueError as exc:
        raise CreateError(str(exc)) from None
    if not path.is_file():
        raise CreateError(f"open {path}: no such file or directory")
    if not gguf.is_gguf(path):
        raise CreateError("supplied file was not in GGUF format", 400)
    meta = gguf.read_metadata(path)
    layer = {"mediaType": MODEL_MEDIA_TYPE, "digest": digest, "size": path.stat().st_size}
    emit({"status": f"using existing layer {digest}"})
    return layer, meta


def _from_files(store: Store, files: dict[str, str], emit: Emit) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not files:
        raise CreateError("no files provided to convert", 400)
    kinds = set()
    for fname, digest in files.items():
        if fname.endswith(".safetensors"):
            kinds.add("safetensors")
        elif fname.endswith(".gguf") or gguf.is_gguf(store.blob_path(digest)):
            kinds.add("gguf")
        else:
            raise CreateError("unknown type", 400)
    if kinds != {"gguf"}:
        raise CreateError("converting safetensors is not supported by the stand-in", 400)
    layers, cfg = [], {}
    for digest in files.values():
        layer, meta = _gguf_layer(store, digest, emit)
        layers.append(layer)
        arch = str(meta.get("general.architecture", ""))
        cfg.setdefault("model_format", "gguf")
        cfg.setdefault("model_family", arch)
        cfg.setdefault("model_type", goish.human_number(int(meta.get("general.parameter_count", 0))))
        cfg.setdefault("file_type", gguf.file_type_name(int(meta.get("general.file_type", -1))))
        cfg.setdefault("model_families", []).append(arch)
    return layers, cfg


def _from_model(store: Store, source: str, emit: Emit, pull: Callable[[names.Name, Emit], None]
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    name = names.parse(source)
    if not name.valid:
        raise CreateError("invalid model name", 400)
    name = store.resolve(name)
    try:
        base = store.read_manifest(name)
    except FileNotFoundError:
        emit({"status": "pulling model"})
        pull(name, emit)
        base = store.read_manifest(name)
    cfg = store.model_config(base)
    cfg.pop("rootfs", None)
    cfg["parent_model"] = name.display_shortest()
    return base.layers, cfg


def _replace(layers: list[dict[str, Any]], kind: str, text: str, store: Store) -> list[dict[str, Any]]:
    kept = [lay for lay in layers if lay["mediaType"] != _MEDIA + kind]
    return kept + [store.layer_from_bytes(text.encode(), _MEDIA + kind)]


def create_model(store: Store, req: dict[str, Any], emit: Emit,
                 pull: Callable[[names.Name, Emit], None]) -> None:
    """Build the layers, the config blob and the manifest for ``req["model"]``."""
    name = names.parse(str(req.get("model") or req.get("name") or ""))
    if not name.valid:
        raise CreateError("invalid model name", 400)
    name = store.resolve(name)
    try:
        old: Manifest | None = store.read_manifest(name)
    except (OSError, ValueError):
        old = None
    if req.get("from"):
        layers, cfg = _from_model(store, str(req["from"]), emit, pull)
    elif req.get("files") is not None:
        layers, cfg = _from_files(store, dict(req["files"]), emit)
    else:
        raise CreateError("neither 'from' or 'files' was specified", 400)
    if req.get("template"):
        layers = _replace(layers, "template", str(req["template"]), store)
    if req.get("system"):
        layers = _replace(layers, "system", str(req["system"]), store)
    licenses = req.get("license")
    for text in ([licenses] if isinstance(licenses, str) else licenses or []):
        if text:
            layers = layers + [store.layer_from_bytes(str(text).encode(), _MEDIA + "license")]
    if req.get("parameters"):
        params: dict[str, Any] = {}
        for lay in layers:
            if lay["mediaType"] == _MEDIA + "params":
                params.update(json.loads(store.blob_path(lay["digest"]).read_bytes()))
        params.update(req["parameters"])
        layers = _replace(layers, "params", goish.dumps(params), store)
    if req.get("messages"):
        layers = _replace(layers, "messages", goish.dumps(req["messages"]), store)
    doc = {"model_format": cfg.get("model_format", ""), "model_family": cfg.get("model_family", ""),
           "model_families": cfg.get("model_families"), "model_type": cfg.get("model_type", ""),
           "file_type": cfg.get("file_type", ""), "architecture": "amd64", "os": "linux",
           "rootfs": {"type": "layers", "diff_ids": [lay["digest"] for lay in layers]}}
    config_layer = store.layer_from_bytes(goish.dumps(doc).encode(), CONFIG_MEDIA_TYPE)
    emit({"status": "writing manifest"})
    store.write_manifest(name, config_layer, layers)
    if old is not None and not config.flag("OLLAMA_NOPRUNE"):
        store.remove_layers(old)
    emit({"status": "success"})


def copy_model(store: Store, source: str, destination: str) -> None:
    src = names.parse(source)
    if not src.valid:
        raise CreateError(f'source "{source}" is invalid', 400)
    dst = names.parse(destination)
    if not dst.valid:
        raise CreateError(f'destination "{destination}" is invalid', 400)
    src, dst = store.resolve(src), store.resolve(dst)
    try:
        raw = store.manifest_path(src).read_bytes()
    except FileNotFoundError:
        raise CreateError(f'model "{source}" not found', 404) from None
    store.write_manifest_bytes(dst, raw)
