"""Pulls that go wrong: unreachable registry, missing tag, bad bytes, dropped connections, proxies."""

from __future__ import annotations

import json
import threading
import time

from tests.fakes.models import make_model
from tests.fakes.proxy import ConnectProxy
from tests.fakes.harness import http, ndjson

SEED_URL = 'Get "https://registry.ollama.ai/v2/library/deepseek-r1/manifests/1.5b"'


def test_unreachable_registry_fails_like_the_seed(make_standin, registry):
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_DIAL_TIMEOUT="0.5")
    registry.set_mode("blackhole")
    started = time.monotonic()
    events = s.stream("/api/pull", {"model": "deepseek-r1:1.5b"})
    assert time.monotonic() - started >= 0.5
    assert events == [{"status": "pulling manifest"},
                      {"error": f"pull model manifest: {SEED_URL}: dial tcp 127.0.0.1:{registry.port}: i/o timeout"}]


def test_no_registry_knob_means_air_gapped(make_standin):
    s = make_standin(FAKE_OLLAMA_DIAL_TIMEOUT="0.3")
    status, body = s.api("POST", "/api/pull", {"model": "deepseek-r1:1.5b", "stream": False})
    assert status == 500
    assert body == {"error": f"pull model manifest: {SEED_URL}: dial tcp 104.21.75.227:443: i/o timeout"}


def test_refused_and_silent_registries(make_standin, registry):
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_TLS_HANDSHAKE_TIMEOUT="0.3")
    registry.set_mode("refuse")
    events = s.stream("/api/pull", {"model": "deepseek-r1:1.5b"})
    assert events[-1]["error"].endswith(f"dial tcp 127.0.0.1:{registry.port}: connect: connection refused")
    registry.set_mode("hang")
    events = s.stream("/api/pull", {"model": "deepseek-r1:1.5b"})
    assert events[-1] == {"error": f"pull model manifest: {SEED_URL}: net/http: TLS handshake timeout"}


def test_missing_tag(make_standin, registry):
    make_model(registry.root, "deepseek-r1:7b", gguf_size=50_000)
    registry.hide("deepseek-r1:7b")
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    assert s.stream("/api/pull", {"model": "deepseek-r1:7b"})[-1] == \
        {"error": "pull model manifest: file does not exist"}
    assert s.api("POST", "/api/pull", {"model": "bad name!"}) == (400, {"error": "invalid model name"})


def test_corrupt_blob_is_rejected_and_removed(make_standin, registry):
    manifest = make_model(registry.root, "tiny:1b", gguf_size=80_000)
    digest = manifest["layers"][0]["digest"]
    registry.corrupt_blob(digest)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    last = s.stream("/api/pull", {"model": "tiny:1b"})[-1]
    assert last["error"].startswith(f"digest mismatch, file must be downloaded again: want {digest}, got sha256:")
    assert not (s.models / "blobs" / digest.replace(":", "-")).exists()
    assert not (s.models / "manifests").exists()


def test_dropped_connection_resumes_with_a_range_request(make_standin, registry):
    manifest = make_model(registry.root, "tiny:1b", gguf_size=200_000)
    digest = manifest["layers"][0]["digest"]
    registry.drop_blob(digest, after_bytes=70_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, FAKE_OLLAMA_RETRY_BASE_SECONDS="0.1")
    assert s.stream("/api/pull", {"model": "tiny:1b"})[-1] == {"status": "success"}
    data = [h for h in registry.hits("blob-data") if h.digest == digest and h.method == "GET"]
    assert [(h.range, h.sent) for h in data] == [("bytes=0-199999", 70_000), ("bytes=70000-199999", 130_000)]
    assert "part 0 attempt 0 failed: unexpected EOF" in s.stop()


def test_second_pull_fetches_only_the_manifest(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    s.stream("/api/pull", {"model": "tiny:1b"})
    assert len(set(registry.fetched_blobs())) == 5
    registry.clear_log()
    events = s.stream("/api/pull", {"model": "tiny:1b"})
    assert events[-1] == {"status": "success"}
    assert registry.fetched_blobs() == []
    assert [h.kind for h in registry.hits()] == ["manifest"]


def test_cancelled_pull_resumes_from_partial_files(make_standin, registry):
    manifest = make_model(registry.root, "tiny:1b", gguf_size=400_000)
    digest = manifest["layers"][0]["digest"]
    registry.bytes_per_second = 400_000
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url)
    done = threading.Event()

    def pull_then_hang_up() -> None:
        import socket
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            body = json.dumps({"model": "tiny:1b"}).encode()
            sock.sendall(b"POST /api/pull HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.4)
        done.set()

    threading.Thread(target=pull_then_hang_up).start()
    assert done.wait(5)
    part = s.models / "blobs" / (digest.replace(":", "-") + "-partial-0")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and json.loads(part.read_text() or "{}").get("Completed", 0) == 0:
        time.sleep(0.05)
    saved = json.loads(part.read_text())
    assert 0 < saved["Completed"] < 400_000 and saved["Size"] == 400_000
    registry.bytes_per_second = 0
    registry.clear_log()
    assert s.stream("/api/pull", {"model": "tiny:1b"})[-1] == {"status": "success"}
    (resumed,) = [h for h in registry.hits("blob-data") if h.digest == digest and h.method == "GET"]
    assert resumed.range == f"bytes={saved['Completed']}-399999"
    assert not part.exists()


def test_pull_through_https_proxy(make_standin, registry):
    make_model(registry.root, "tiny:1b", gguf_size=50_000)
    with ConnectProxy() as proxy:
        s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, HTTPS_PROXY=proxy.url)
        assert s.stream("/api/pull", {"model": "tiny:1b"})[-1] == {"status": "success"}
        assert set(proxy.log) == {f"CONNECT 127.0.0.1:{registry.port}"}
    with ConnectProxy(deny=True) as proxy:
        s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, HTTPS_PROXY=proxy.url)
        assert s.stream("/api/pull", {"model": "tiny:2b"})[-1] == \
            {"error": 'pull model manifest: Get "https://registry.ollama.ai/v2/library/tiny/manifests/2b": Forbidden'}
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, HTTPS_PROXY="127.0.0.1:9",
                     NO_PROXY="example.com")
    assert s.stream("/api/pull", {"model": "tiny:1b"})[-1]["error"].endswith(
        ": proxyconnect tcp: dial tcp 127.0.0.1:9: connect: connection refused")
    s = make_standin(FAKE_OLLAMA_REGISTRY_URL=registry.url, HTTPS_PROXY="127.0.0.1:9",
                     NO_PROXY=".ollama.ai,.cloudflarestorage.com")
    assert s.stream("/api/pull", {"model": "tiny:1b"})[-1] == {"status": "success"}


def test_plain_registry_without_redirect_fails_like_real_ollama(make_standin, tmp_path):
    from tests.fakes.registry import RegistryServer
    root = tmp_path / "plain"
    make_model(root, "tiny:1b", gguf_size=50_000)
    with RegistryServer(root, redirect="none") as plain:
        s = make_standin(FAKE_OLLAMA_REGISTRY_URL=plain.url)
        status, data = http("POST", s.url + "/api/pull", {"model": "tiny:1b"})
        assert ndjson(data)[-1] == {"error": "http: no Location header in response"}
