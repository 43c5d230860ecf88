"""Upstream for stage tests: the registry stand-in (which also serves GitHub's release paths) and
the HTTPS hop its blob redirects need.

registry.ollama.ai answers a blob GET with a 307 to ``https://<bucket>.r2.cloudflarestorage.com/...``
(tests/fakes/registry.py does the same). :class:`InspectingProxy` makes that
hop real without the internet: an HTTPS proxy (CONNECT), as labs run, that
terminates TLS for the CDN's host name with its own CA and forwards the
plain request to the registry stand-in, which serves the CDN paths with Range
support. The client under test trusts that CA through SSL_CERT_FILE and finds
the proxy through HTTPS_PROXY - both from the environment it is given.
Only the CDN's name is served; a CONNECT anywhere else gets 502.

:class:`Upstream` starts both with models and releases built in.
"""

from __future__ import annotations

import datetime
import select
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.models import make_model
from tests.fakes.registry import CDN_HOST, RegistryServer
from tests.fakes.release import build_release_set

#: small models, real layout: (params, gguf bytes)
MODELS = {"deepseek-r1:1.5b": ("1.8B", 60_000), "qwen2.5:0.5b": ("494M", 300_000)}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certs(workdir: Path, host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a CA, and a server certificate for `host` it signed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("deployer test proxy CA")).issuer_name(_name("deployer test proxy CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"
    rbufsize = 0

    def handle(self) -> None:
        owner = self.server.owner
        head = self.rfile.readline().decode(errors="replace").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        target = head[1] if len(head) > 1 else ""
        owner.log.append(f"{head[0] if head else '?'} {target}")
        if not head or head[0] != "CONNECT" or target != f"{owner.host}:443":
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = owner.context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client did not trust us: it says so on its side
        with tls, socket.create_connection((owner.upstream_host, owner.upstream_port), timeout=30) as up:
            _pipe(tls, up)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    while True:
        pending = a.pending() if isinstance(a, ssl.SSLSocket) else 0
        ready = [a] if pending else select.select(socks, [], [], 30)[0]
        if not ready:
            return
        for s in ready:
            try:
                data = s.recv(1 << 16)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            (b if s is a else a).sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "InspectingProxy"


class InspectingProxy:
    """HTTPS proxy that serves `host` (the CDN) itself, from the registry stand-in; see the module docstring."""

    def __init__(self, registry: RegistryServer, workdir: Path, host: str = CDN_HOST) -> None:
        self.host = host
        self.upstream_host, self.upstream_port = registry.host, registry.port
        self.ca, cert, key = make_certs(workdir, host)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.log: list[str] = []
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """What the stage client needs: the proxy for https URLs, and trust in its CA."""
        return {"HTTPS_PROXY": self.url, "SSL_CERT_FILE": str(self.ca)}

    def start(self) -> "InspectingProxy":
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Upstream:
    """The registry (models + GitHub release paths) and its CDN hop, for one test module."""

    workdir: Path
    bind: str = "127.0.0.1"
    versions: tuple[str, ...] = ("0.5.7",)
    registry: RegistryServer = field(init=False)
    proxy: InspectingProxy = field(init=False)
    manifests: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)

    def start(self) -> "Upstream":
        models, releases = self.workdir / "registry", self.workdir / "releases"
        for name, (params, size) in MODELS.items():
            self.manifests[name] = make_model(models, name, params=params, gguf_size=size)
        for version in self.versions:
            build_release_set(releases, version, archs=("amd64", "arm64"), variants=("", "rocm"))
        self.registry = RegistryServer(models, host=self.bind, releases=releases)
        self.registry.start()
        self.proxy = InspectingProxy(self.registry, self.workdir / "tls").start()
        return self

    def stop(self) -> None:
        self.proxy.stop()
        self.registry.stop()

    @property
    def env(self) -> dict[str, str]:
        return self.proxy.env

    @property
    def args(self) -> list[str]:
        """--release-url and --registry-url pointing at the stand-in."""
        return ["--release-url", f"{self.registry.url}/ollama/ollama/releases/download", "--registry-url", self.registry.url]

    def blob(self, name: str, kind: str = "model") -> str:
        """The digest of a model's layer of `kind` (model = the GGUF)."""
        return next(layer["digest"] for layer in self.manifests[name]["layers"] if layer["mediaType"].endswith("." + kind))

    def reset(self) -> None:
        self.registry.set_mode("up")
        self.registry.heal()
        self.registry.clear_log()
        self.proxy.log.clear()
