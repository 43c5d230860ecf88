"""``ollama serve``: key pair, listener, startup prune, logs, and the HTTP server until SIGTERM."""

from __future__ import annotations

import base64
import errno
import os
import signal
import socket
import struct
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from . import config, goish, logs, pull
from .api import Api, Handler
from .store import Store


class ServeError(Exception):
    pass


def _ssh_string(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def init_keypair() -> None:
    """~/.ollama/id_ed25519(.pub), created on first start as Ollama does (random, not a usable key)."""
    home = Path.home()
    priv = home / ".ollama" / "id_ed25519"
    if priv.exists():
        return
    print(f"Couldn't find '{priv}'. Generating new private key.", flush=True)
    pub_raw = os.urandom(32)
    pub_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(pub_raw)
    check = os.urandom(4)
    section = (check + check + pub_blob + _ssh_string(os.urandom(32) + pub_raw) + _ssh_string(b""))
    section += bytes(range(1, 1 + (-len(section) % 8)))
    body = (b"openssh-key-v1\0" + _ssh_string(b"none") + _ssh_string(b"none") + _ssh_string(b"")
            + struct.pack(">I", 1) + _ssh_string(pub_blob) + _ssh_string(section))
    encoded = base64.b64encode(body).decode()
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    pem += "\n".join(encoded[i:i + 70] for i in range(0, len(encoded), 70))
    pem += "\n-----END OPENSSH PRIVATE KEY-----\n"
    try:
        priv.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise ServeError(f"could not create directory {goish.errno_message(exc, 'mkdir')}") from None
    try:
        fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pem)
        public = f"ssh-ed25519 {base64.b64encode(pub_blob).decode()}\n"
        (home / ".ollama" / "id_ed25519.pub").write_text(public)
    except OSError as exc:
        raise ServeError(goish.errno_message(exc)) from None
    print(f"Your new public key is: \n\n{public}", flush=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def listen(handler: type[Handler]) -> _Server:
    """Bind OLLAMA_HOST; an empty host (":11434") means every address, IPv6 too where there is IPv6."""
    where = config.host()
    attempts = [(socket.AF_INET6 if ":" in where.host else socket.AF_INET, where.host)]
    if where.host == "":
        attempts = [(socket.AF_INET6, "::"), (socket.AF_INET, "")] if socket.has_ipv6 else [(socket.AF_INET, "")]
    for i, (family, bind_host) in enumerate(attempts):
        server_cls = type("Server", (_Server,), {"address_family": family})
        try:
            return server_cls((bind_host, where.port), handler)
        except OSError as exc:
            if i + 1 < len(attempts) and exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                continue
            reason = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied",
                      errno.EADDRNOTAVAIL: "cannot assign requested address"}.get(
                exc.errno or 0, goish.errno_message(exc))
            raise ServeError(f"listen tcp {where.hostport}: bind: {reason}") from None
    raise ServeError(f"listen tcp {where.hostport}: no usable address")


def _addr(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _log_compute() -> None:
    logs.slog("INFO", "gpu", "looking for compatible GPUs")
    vram = config.vram_bytes()
    if vram:
        vendor = config.knob("FAKE_OLLAMA_GPU_VENDOR", "nvidia").lower()
        library = "cuda" if vendor == "nvidia" else "rocm"
        logs.slog("INFO", "compute", "inference compute", id="GPU-00000000-fake", library=library,
                  variant="v12", compute="8.6", driver="12.4", name=f"{vendor.upper()} stand-in GPU",
                  total=f"{vram / 2**30:.1f} GiB", available=f"{vram / 2**30:.1f} GiB")
    else:
        logs.slog("INFO", "nogpu", "no compatible GPUs were discovered")
        logs.slog("INFO", "compute", "inference compute", id="0", library="cpu", variant="avx2",
                  compute="", driver="0.0", name="", total="15.5 GiB", available="13.9 GiB")


def _prepare_store(store: Store) -> None:
    try:
        store.ensure_dirs()
    except OSError as exc:
        raise ServeError(goish.errno_message(exc, "mkdir")) from None
    store.fix_blobs()
    if config.flag("OLLAMA_NOPRUNE"):
        return
    try:
        store.manifests(continue_on_error=False)
    except (OSError, ValueError) as exc:
        logs.slog("WARN", "images", "corrupt manifests detected, skipping prune operation.  "
                  "Re-pull or delete to clear", error=str(exc))
        return
    store.prune(lambda msg: logs.slog("INFO", "prune", msg))
    if store.manifests_dir.is_dir():
        store.prune_directory(store.manifests_dir)


def serve() -> None:
    """Run until SIGTERM/SIGINT; errors raise ServeError with Ollama's text."""
    init_keypair()
    api = Api(Store(config.models_dir()))
    handler = type("BoundHandler", (Handler,), {"api": api})
    server = listen(handler)
    logs.std("INFO", "config", f'server config env="{logs.go_map(config.server_config_env())}"')
    try:
        _prepare_store(api.store)
    except BaseException:
        server.server_close()
        raise
    pull.set_logger(lambda msg, level: logs.slog(level, "download", msg))
    logs.slog("INFO", "listen", f"Listening on {_addr(server)} (version {config.version()})")
    _log_compute()

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        sys.stderr.flush()
