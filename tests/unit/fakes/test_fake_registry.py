"""The registry stand-in over plain HTTP: manifests, redirects, ranges, faults, modes, releases."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time

import pytest

from tests.fakes.models import blob_path, make_model, manifest_path
from tests.fakes.registry import CDN_HOST, RegistryServer
from tests.fakes.release import build_release_set


def _get(reg: RegistryServer, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_manifest_with_digest_header(registry):
    manifest = make_model(registry.root, "deepseek-r1:7b", gguf_size=20_000)
    resp, body = _get(registry, "/v2/library/deepseek-r1/manifests/7b")
    assert resp.status == 200 and json.loads(body) == manifest
    assert resp.getheader("Docker-Content-Digest") == "sha256:" + hashlib.sha256(body).hexdigest()
    assert resp.getheader("Content-Type") == "application/vnd.docker.distribution.manifest.v2+json"
    assert body == manifest_path(registry.root, "deepseek-r1:7b").read_bytes()
    assert _get(registry, "/v2/library/deepseek-r1/manifests/70b")[0].status == 404
    registry.hide("deepseek-r1:7b")
    assert _get(registry, "/v2/library/deepseek-r1/manifests/7b")[0].status == 404


def test_blob_redirects_to_cdn_which_serves_ranges(registry):
    manifest = make_model(registry.root, "m:1", gguf_size=20_000)
    digest = manifest["layers"][0]["digest"]
    resp, _ = _get(registry, f"/v2/library/m/blobs/{digest}")
    assert resp.status == 307
    location = resp.getheader("Location")
    assert location.startswith(f"https://{CDN_HOST}/ollama/docker/registry/v2/blobs/sha256/{digest[7:9]}/")
    path = location.split(CDN_HOST, 1)[1]
    whole = blob_path(registry.root, digest).read_bytes()
    resp, body = _get(registry, path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and body == whole[100:200]
    assert resp.getheader("Content-Range") == "bytes 100-199/20000"
    assert resp.getheader("Docker-Content-Digest") == digest
    resp, body = _get(registry, path, "HEAD")
    assert resp.status == 200 and resp.getheader("Content-Length") == "20000" and body == b""
    assert _get(registry, path, headers={"Range": "bytes=20000-"})[0].status == 416
    assert registry.fetched_blobs() == [digest]


def test_corrupt_and_dropped_blobs(registry):
    manifest = make_model(registry.root, "m:1", gguf_size=20_000)
    digest = manifest["layers"][0]["digest"]
    path = f"/ollama/docker/registry/v2/blobs/sha256/{digest[7:9]}/{digest[7:]}/data"
    whole = blob_path(registry.root, digest).read_bytes()
    registry.corrupt_blob(digest)
    body = _get(registry, path)[1]
    assert len(body) == len(whole) and body != whole and body[:-1] == whole[:-1]
    registry.heal()
    registry.drop_blob(digest, after_bytes=5000)
    with pytest.raises(http.client.IncompleteRead) as exc:
        _get(registry, path)
    assert len(exc.value.partial) == 5000
    assert _get(registry, path)[1] == whole  # only once
    assert [h.sent for h in registry.hits("blob-data")] == [20_000, 5000, 20_000]


def test_modes_refuse_hang_blackhole(tmp_path):
    with RegistryServer(tmp_path) as reg:
        reg.set_mode("refuse")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", reg.port), timeout=1)
        reg.set_mode("hang")
        with socket.create_connection(("127.0.0.1", reg.port), timeout=1) as sock:
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(0.3)
            with pytest.raises(socket.timeout):
                sock.recv(1)
        reg.set_mode("blackhole")
        started = time.monotonic()
        with pytest.raises((socket.timeout, TimeoutError)):
            socket.create_connection(("127.0.0.1", reg.port), timeout=0.5)
        assert time.monotonic() - started >= 0.45
        reg.set_mode("up")
        assert _get(reg, "/v2/")[0].status == 200


def test_release_downloads_like_github(registry):
    outdir = build_release_set(registry.releases, "0.5.7")
    resp, _ = _get(registry, "/ollama/ollama/releases/download/v0.5.7/ollama-linux-amd64.tgz")
    assert resp.status == 302
    asset = resp.getheader("Location")
    resp, body = _get(registry, asset)
    assert body == (outdir / "ollama-linux-amd64.tgz").read_bytes()
    resp, body = _get(registry, asset, headers={"Range": "bytes=10-"})
    assert resp.status == 206 and body == (outdir / "ollama-linux-amd64.tgz").read_bytes()[10:]
    sums = _get(registry, "/github-production-release-asset/v0.5.7/sha256sum.txt")[1]
    assert sums == (outdir / "sha256sum.txt").read_bytes()
    build_release_set(registry.releases, "0.14.2")
    latest = _get(registry, "/ollama/ollama/releases/latest/download/ollama-linux-amd64.tar.zst")[0]
    assert latest.getheader("Location") == "/github-production-release-asset/v0.14.2/ollama-linux-amd64.tar.zst"
    pinned = _get(registry, "/download/ollama-linux-amd64.tgz?version=0.5.7")[0]
    assert pinned.getheader("Location") == "/ollama/ollama/releases/download/v0.5.7/ollama-linux-amd64.tgz"
    assert _get(registry, "/github-production-release-asset/v9.9.9/x.tgz")[0].status == 404
