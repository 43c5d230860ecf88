"""The endpoints. Each takes the request handler; status codes and texts as Ollama's."""

from __future__ import annotations

import datetime as _dt
import io
import json
import threading
import time
from typing import Any, BinaryIO, Callable

from . import config, goish, names, runner
from .api import ApiError, Emit, Handler, stream_or_wait
from .create import CreateError, copy_model, create_model
from .store import InvalidDigest


def root(h: Handler) -> None:
    h._send(200, b"Ollama is running", "text/plain; charset=utf-8")


def version(h: Handler) -> None:
    h._json(200, {"version": config.version()})


def tags(h: Handler) -> None:
    store = h.api.store
    models = []
    for name, manifest in store.manifests().items():
        try:
            details = store.details(manifest)
        except (OSError, ValueError):
            continue  # "bad manifest config": skipped, as upstream
        models.append({"name": name.display_shortest(), "model": name.display_shortest(),
                       "modified_at": goish.rfc3339nano(manifest.modified), "size": manifest.size(),
                       "digest": manifest.digest, "details": details, "_t": manifest.modified})
    models.sort(key=lambda m: int(m.pop("_t").timestamp()), reverse=True)
    h._json(200, {"models": models})


def ps(h: Handler) -> None:
    h._json(200, {"models": h.api.sched.ps()})


def pull(h: Handler) -> None:
    req = h._json_body()
    name = names.parse(str(req.get("model") or req.get("name") or ""))
    if not name.valid:
        raise ApiError(400, "invalid model name")
    name = h.api.store.resolve(name)
    insecure = bool(req.get("insecure"))
    stream_or_wait(h, req.get("stream"), lambda emit, cancel: h.api.pull(name, emit, insecure, cancel))


def _keep_alive(req: dict[str, Any]) -> int | None:
    """api.Duration: seconds as a number, or a Go duration string; negative is forever."""
    value = req.get("keep_alive")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError(400, f"Unsupported type: '{type(value).__name__}'")
    if isinstance(value, str):
        try:
            ns = goish.parse_duration(value)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
    else:
        ns = int(value) * goish.SECOND
    return goish.MAX_DURATION if ns < 0 else ns


def _now() -> str:
    return goish.rfc3339nano(_dt.datetime.now(_dt.timezone.utc))


def _generation(h: Handler, req: dict[str, Any], prompt: str, chat: bool) -> None:
    model_text = str(req.get("model") or "")
    name, manifest = h.api.model(model_text)
    keep_alive = _keep_alive(req)
    done_empty: dict[str, Any] = {"model": model_text, "created_at": _now()}
    done_empty.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
    if not prompt and keep_alive == 0:
        h.api.sched.expire(name)
        h._json(200, {**done_empty, "done": True, "done_reason": "unload"})
        return
    options = dict(req.get("options") or {})
    started = time.monotonic_ns()
    try:
        run, load_ns = h.api.sched.acquire(name, manifest, options)
    except runner.RunnerError as exc:
        raise ApiError(exc.status, str(exc)) from None
    keep = config.keep_alive_ns() if keep_alive is None else keep_alive
    if not prompt:
        h.api.sched.release(run, keep)
        h._json(200, {**done_empty, "done": True, "done_reason": "load"})
        return

    def piece(text: str) -> dict[str, Any]:
        if chat:
            return {"model": model_text, "created_at": _now(), "message": {"role": "assistant", "content": text}}
        return {"model": model_text, "created_at": _now(), "response": text}

    def work(emit: Emit, cancel: threading.Event) -> None:
        try:
            for step in runner.generate(run, prompt, options, load_ns, started, cancel.is_set):
                if not step.done:
                    emit({**piece(step.text), "done": False})
                    continue
                final = piece("")
                metrics = dict(step.metrics)
                if chat:
                    metrics.pop("context")
                    final["done_reason"] = metrics.pop("done_reason")
                    final["done"] = True
                else:
                    final["done"] = True
                    final["done_reason"] = metrics.pop("done_reason")
                emit({**final, **metrics})
        finally:
            h.api.sched.release(run, keep)

    if req.get("stream") is False:
        events: list[dict[str, Any]] = []
        work(events.append, threading.Event())
        text = "".join((e["message"]["content"] if chat else e["response"]) for e in events)
        final = events[-1]
        if chat:
            final["message"]["content"] = text
        else:
            final["response"] = text
        h._json(200, final)
    else:
        h._stream(work)


def generate(h: Handler) -> None:
    req = h._json_body()
    _generation(h, req, str(req.get("prompt") or ""), chat=False)


def chat(h: Handler) -> None:
    req = h._json_body()
    messages = req.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    _generation(h, req, prompt if messages else "", chat=True)


class _BodyReader:
    """The request body as a stream (Content-Length bounded)."""

    def __init__(self, fh: BinaryIO, length: int) -> None:
        self.fh, self.left = fh, length

    def read(self, n: int) -> bytes:
        data = self.fh.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data


def _digest_param(h: Handler) -> str:
    digest = h.path.split("?", 1)[0].rsplit("/", 1)[-1]
    try:
        h.api.store.blob_path(digest)
    except InvalidDigest as exc:
        raise ApiError(400, str(exc)) from None
    return digest


def head_blob(h: Handler) -> None:
    digest = _digest_param(h)
    if not h.api.store.has_blob(digest):
        raise ApiError(404, f'blob "{digest}" not found')
    h._send(200, b"", "text/plain")


def create_blob(h: Handler) -> None:
    digest = _digest_param(h)
    length = int(h.headers.get("Content-Length") or 0)
    if h.api.store.has_blob(digest):
        _BodyReader(h.rfile, length).read(length)
        h._send(200, b"", "text/plain")
        return
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body: Any = io.BytesIO(h._body())
    else:
        body = _BodyReader(h.rfile, length)
    layer = h.api.store.new_layer(body, "")
    if layer["digest"] != digest:
        raise ApiError(400, f'digest mismatch, expected "{digest}", got "{layer["digest"]}"')
    h._send(201, b"", "text/plain")


def create(h: Handler) -> None:
    req = h._json_body()
    if not names.parse(str(req.get("model") or req.get("name") or "")).valid:
        raise ApiError(400, "invalid model name")
    stream_or_wait(h, req.get("stream"),
                   lambda emit, cancel: create_model(h.api.store, req, emit, lambda n, e: h.api.pull(n, e)))


def copy(h: Handler) -> None:
    req = h._json_body()
    try:
        copy_model(h.api.store, str(req.get("source") or ""), str(req.get("destination") or ""))
    except CreateError as exc:
        raise ApiError(exc.status, str(exc)) from None
    h._send(200, b"", "text/plain")


def delete(h: Handler) -> None:
    req = h._json_body()
    text = str(req.get("model") or req.get("name") or "")
    name = names.parse(text)
    if not name.valid:
        raise ApiError(400, f'name "{text}" is invalid')
    store = h.api.store
    name = store.resolve(name)
    try:
        manifest = store.read_manifest(name)
    except FileNotFoundError:
        raise ApiError(404, f"model '{text}' not found") from None
    store.remove_manifest(manifest)
    store.remove_layers(manifest)
    h._send(200, b"", "text/plain")


def show(h: Handler) -> None:
    req = h._json_body()
    text = str(req.get("model") or req.get("name") or "")
    if not text:
        raise ApiError(400, "model is required")
    name, manifest = h.api.model(text)
    store = h.api.store
    params_layer = manifest.layer("application/vnd.ollama.image.params")
    params = json.loads(store.blob_path(params_layer["digest"]).read_bytes()) if params_layer else {}
    param_lines, modelfile_params = [], []
    for key in sorted(params):
        for value in params[key] if isinstance(params[key], list) else [params[key]]:
            param_lines.append(f"{key:<30} {json.dumps(value, ensure_ascii=False)}")
            modelfile_params.append(f"PARAMETER {key} {value}")
    model_layer = manifest.layer("application/vnd.ollama.image.model")
    template = store.text_layer(manifest, "template")
    system = store.text_layer(manifest, "system")
    modelfile = ['# Modelfile generated by "ollama show"',
                 "# To build a new Modelfile based on this, replace FROM with:",
                 f"# FROM {name.display_shortest()}", ""]
    if model_layer:
        modelfile.append(f"FROM {store.blob_path(model_layer['digest'])}")
    if template:
        modelfile.append(f'TEMPLATE """{template}"""')
    if system:
        modelfile.append(f'SYSTEM """{system}"""')
    modelfile += modelfile_params
    resp: dict[str, Any] = {}
    license_text = store.text_layer(manifest, "license")
    if license_text:
        resp["license"] = license_text
    resp.update({"modelfile": "\n".join(modelfile) + "\n", "parameters": "\n".join(param_lines),
                 "template": template})
    if system:
        resp["system"] = system
    resp.update({"details": store.details(manifest), "model_info": store.model_info(manifest),
                 "modified_at": goish.rfc3339nano(manifest.modified)})
    h._json(200, resp)


ROUTES: dict[tuple[str, str], Callable[[Handler], None]] = {
    ("GET", "/"): root, ("HEAD", "/"): root,
    ("GET", "/api/version"): version, ("HEAD", "/api/version"): version,
    ("GET", "/api/tags"): tags, ("HEAD", "/api/tags"): tags,
    ("GET", "/api/ps"): ps,
    ("POST", "/api/pull"): pull,
    ("POST", "/api/generate"): generate,
    ("POST", "/api/chat"): chat,
    ("POST", "/api/create"): create,
    ("POST", "/api/copy"): copy,
    ("DELETE", "/api/delete"): delete,
    ("POST", "/api/show"): show,
    ("HEAD", "/api/blobs/:digest"): head_blob,
    ("POST", "/api/blobs/:digest"): create_blob,
}
