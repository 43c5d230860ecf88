"""Pull failures: what Ollama's error texts mean, what deployer says about them, what it retries.

The retry tests pull through a real Ollama stand-in process from the registry
stand-in, switched to the fault at hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from deployer.ollama.api import OllamaAPI
from deployer.ollama.models_pull import PullFailed, PullProgress, classify, explain, pull
from tests.fakes.harness import StandinServer
from tests.fakes.registry import RegistryServer, make_model

SEED = ('pull model manifest: Get "https://registry.ollama.ai/v2/library/deepseek-r1/manifests/1.5b": '
        "dial tcp 104.21.75.227:443: i/o timeout")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SEED, "unreachable"),
        ('pull model manifest: Get "https://registry.ollama.ai/v2/library/m/manifests/t": dial tcp: lookup '
         "registry.ollama.ai on 127.0.0.53:53: no such host", "unreachable"),
        ('Get "https://registry.ollama.ai/v2/": dial tcp 104.21.75.227:443: connect: connection refused', "unreachable"),
        ('Get "https://registry.ollama.ai/v2/": net/http: TLS handshake timeout', "unreachable"),
        ('Get "https://registry.ollama.ai/v2/": dial tcp 104.21.75.227:443: connect: network is unreachable', "unreachable"),
        ('Get "https://registry.ollama.ai/v2/library/m/manifests/t": proxyconnect tcp: dial tcp 10.0.0.1:3128: '
         "connect: connection refused", "proxy"),
        ('Get "https://registry.ollama.ai/v2/": tls: failed to verify certificate: x509: certificate signed by '
         "unknown authority", "tls"),
        ("pull model manifest: file does not exist", "not_found"),
        ("write /usr/share/ollama/.ollama/models/blobs/sha256-1-partial: no space left on device", "disk"),
        ("digest mismatch, file must be downloaded again: want sha256:1, got sha256:2", "digest"),
        ("something new", "other"),
    ],
)
def test_error_texts_are_classified(text: str, kind: str) -> None:
    assert classify(text) == kind


def test_the_seeds_failure_says_unreachable_from_that_host_and_both_fixes() -> None:
    exc = explain("deepseek-r1:1.5b", "node7", SEED, "unreachable", 4, None)
    text = str(exc)
    assert exc.offline and exc.kind == "unreachable"
    assert "the registry registry.ollama.ai is unreachable from node7" in text
    assert SEED in text and "(tried 4 times)" in text
    assert "https_proxy" in text and "`ollama:` key" in text
    assert "deployer bundle create deepseek-r1:1.5b" in text and "source: bundle" in text and "fallback_to_bundle" in text
    with_proxy = str(explain("m:t", "node7", SEED, "unreachable", 1, "http://proxy:3128"))
    assert "through the proxy http://proxy:3128" in with_proxy and "(tried 1 time)" in with_proxy


def test_a_missing_tag_is_not_an_offline_problem() -> None:
    exc = explain("deepseek-r1:9b", "node7", "pull model manifest: file does not exist", "not_found", 1, None)
    assert not exc.offline and "has no such model or tag" in str(exc)


def test_progress_sums_blobs_and_reports_complete_once() -> None:
    seen: list[tuple[int, int]] = []
    p = PullProgress(lambda d, t: seen.append((d, t)))
    for event in [
        {"status": "pulling manifest"},
        {"status": "pulling aaa", "digest": "sha256:a", "total": 100, "completed": 50},
        {"status": "pulling aaa", "digest": "sha256:a", "total": 100, "completed": 100},
        {"status": "pulling bbb", "digest": "sha256:b", "total": 10, "completed": 5},
        {"status": "pulling bbb", "digest": "sha256:b", "total": 10, "completed": 10},
        {"status": "verifying sha256 digest"},
        {"status": "success"},
    ]:
        p(event)
    assert seen == [(50, 100), (105, 110), (110, 110)]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    reg = RegistryServer(tmp_path / "registry")
    make_model(reg.root, "deepseek-r1:1.5b", params="1.8B", gguf_size=50_000)
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture
def ollama(tmp_path: Path, registry: RegistryServer) -> Iterator[StandinServer]:
    s = StandinServer(tmp_path / "home", {"FAKE_OLLAMA_REGISTRY_URL": registry.url, "FAKE_OLLAMA_DIAL_TIMEOUT": "0.5",
                                          "FAKE_OLLAMA_ENV_FILE": str(tmp_path / "no-knobs")}).start()
    yield s
    s.stop()


def test_an_unreachable_registry_is_retried_with_backoff_then_explained(ollama: StandinServer, registry: RegistryServer) -> None:
    registry.set_mode("blackhole")
    sleeps: list[float] = []
    with pytest.raises(PullFailed) as exc:
        pull(OllamaAPI(ollama.url), "deepseek-r1:1.5b", "h9", retries=2, backoff=1.5, sleep=sleeps.append)
    assert sleeps == [1.5, 3.0]
    assert exc.value.kind == "unreachable" and exc.value.data["attempts"] == 3
    assert "i/o timeout" in str(exc.value) and "unreachable from h9" in str(exc.value)


def test_a_registry_that_comes_back_is_pulled_from(ollama: StandinServer, registry: RegistryServer) -> None:
    registry.set_mode("refuse")
    sleeps: list[float] = []
    api = OllamaAPI(ollama.url)

    def back_up(seconds: float) -> None:
        sleeps.append(seconds)
        registry.set_mode("up")

    assert pull(api, "deepseek-r1:1.5b", "h9", retries=3, backoff=0.5, sleep=back_up) == 2
    assert sleeps == [0.5]
    assert [m["name"] for m in api.tags()] == ["deepseek-r1:1.5b"]


def test_a_tag_the_registry_does_not_have_is_not_retried(ollama: StandinServer) -> None:
    sleeps: list[float] = []
    with pytest.raises(PullFailed) as exc:
        pull(OllamaAPI(ollama.url), "deepseek-r1:9b", "h9", retries=3, sleep=sleeps.append)
    assert exc.value.kind == "not_found" and sleeps == []
