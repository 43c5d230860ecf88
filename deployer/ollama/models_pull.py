"""Pulling a model through a host's Ollama API: retries with backoff, progress, and what a failure means.

Ollama reports a failed pull with Go's error text, e.g. the classic of an
offline compute node::

    pull model manifest: Get "https://registry.ollama.ai/v2/library/deepseek-r1/manifests/7b":
    dial tcp 104.21.75.227:443: i/o timeout

:func:`classify` sorts such texts into kinds so the message can say what is
wrong *from that host* and how to fix it (a proxy, or an offline bundle),
and so that only failures that may pass are retried.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from deployer.errors import ModuleFailure
from deployer.ollama.api import OllamaAPI, OllamaError, OllamaUnavailable

#: (kind, pattern) in order: the first match wins
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("proxy", re.compile(r"proxyconnect|invalid proxy address|Proxy Authentication Required", re.I)),
    ("tls", re.compile(r"x509:|certificate signed by unknown authority|certificate is not valid", re.I)),
    ("unreachable", re.compile(
        r"i/o timeout|no such host|connection refused|TLS handshake timeout|network is unreachable|"
        r"no route to host|server misbehaving|temporary failure in name resolution|"
        r"context deadline exceeded|Client\.Timeout exceeded|connection reset by peer|dial tcp",
        re.I,
    )),
    ("not_found", re.compile(r"file does not exist|manifest unknown|not found|\b404\b", re.I)),
    ("disk", re.compile(r"no space left on device|disk quota exceeded|insufficient space", re.I)),
    ("digest", re.compile(r"digest mismatch", re.I)),
)
#: kinds worth another try: the network may come back, a torn download resumes
RETRYABLE = {"unreachable", "digest", "other", "server"}
#: kinds that mean "this host cannot reach the registry" (a bundle is the way out)
OFFLINE = {"unreachable", "proxy", "tls"}


def classify(text: str) -> str:
    """The kind of a pull failure: unreachable, proxy, tls, not_found, disk, digest or other."""
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return "other"


def _registry_of(text: str) -> str:
    m = re.search(r'"https?://([^/"]+)/', text)
    return m.group(1) if m else "registry.ollama.ai"


class PullFailed(ModuleFailure):
    """A pull that did not succeed; `kind` is what :func:`classify` made of the error."""

    def __init__(self, message: str, kind: str, hint: str | None = None, data: dict | None = None) -> None:
        super().__init__(message, hint, data)
        self.kind = kind

    @property
    def offline(self) -> bool:
        return self.kind in OFFLINE


def explain(model: str, host: str, error: str, kind: str, attempts: int, proxy: str | None) -> PullFailed:
    """The failure of pulling `model` on `host` as a message that says why and what to do."""
    tries = f" (tried {attempts} time{'s' if attempts != 1 else ''})"
    bundle_fix = (f"or ship the model offline: `deployer bundle create {model} -o artifacts/bundles` on a machine "
                  "that has it, then `source: bundle` (or `fallback_to_bundle: true`) for this model")
    registry = _registry_of(error)
    data = {"pull_error": error, "error_kind": kind, "attempts": attempts}
    if kind == "unreachable":
        via = f" through the proxy {proxy}" if proxy else ""
        fix = (f"check that {proxy} lets {registry}:443 through, " if proxy else
               "give Ollama a proxy: `https_proxy: http://proxy:3128` in the play's `ollama:` key "
               "(HTTPS_PROXY in the service's environment), ")
        return PullFailed(f"cannot pull {model}: the registry {registry} is unreachable from {host}{via}: {error}{tries}",
                          kind, fix + bundle_fix, data)
    if kind == "proxy":
        return PullFailed(f"cannot pull {model}: the proxy Ollama uses on {host} does not work: {error}{tries}",
                          kind, "fix `https_proxy` in the play's `ollama:` key (HTTPS_PROXY of the service), " + bundle_fix,
                          data)
    if kind == "tls":
        return PullFailed(f"cannot pull {model}: {host} does not trust the certificate {registry} presents "
                          f"(an intercepting proxy?): {error}{tries}", kind,
                          "install the proxy's CA certificate on the host, " + bundle_fix, data)
    if kind == "not_found":
        return PullFailed(f"cannot pull {model}: {registry} has no such model or tag: {error}", kind,
                          "check the name and tag on https://ollama.com/library", data)
    if kind == "disk":
        return PullFailed(f"cannot pull {model}: the models directory on {host} is full: {error}", kind,
                          "free space there, or move it (`models_dir` in the play's `ollama:` key)", data)
    return PullFailed(f"cannot pull {model} on {host}: {error}{tries}", kind, None, data)


@dataclass
class PullProgress:
    """Sums Ollama's per-blob progress events into one (done, total) for a progress sink."""

    report: Callable[[int, int], None]

    def __post_init__(self) -> None:
        self.blobs: dict[str, tuple[int, int]] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        digest = event.get("digest")
        if digest and event.get("total"):
            self.blobs[digest] = (int(event.get("completed") or 0), int(event["total"]))
        done, total = sum(d for d, _ in self.blobs.values()), sum(t for _, t in self.blobs.values())
        # "complete" only once, at the end: each finished blob would otherwise look like the whole pull
        if (done < total and digest) or (event.get("status") == "success" and total):
            self.report(done, total)


def pull(
    api: OllamaAPI,
    model: str,
    host: str,
    *,
    retries: int = 3,
    backoff: float = 2.0,
    proxy: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Pull `model`, retrying failures that may pass with backoff, 2x, 4x ...; returns the attempts used.

    Raises PullFailed (with the kind of failure) after the last attempt, or at
    once for failures another try cannot fix (no such model, disk full).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            api.pull(model, on_progress=PullProgress(progress) if progress else None)
            return attempt
        except OllamaUnavailable as exc:
            text, kind = str(exc), "server"
        except OllamaError as exc:
            text = exc.message
            kind = classify(text)
        if kind == "server":
            failure = PullFailed(f"cannot pull {model}: Ollama on {host} stopped answering: {text}", kind,
                                 "check the service (journalctl -u ollama) and rerun: the pull resumes",
                                 {"pull_error": text, "error_kind": kind, "attempts": attempt})
        else:
            failure = explain(model, host, text, kind, attempt, proxy)
        if kind not in RETRYABLE or attempt > retries:
            raise failure
        sleep(backoff * (2 ** (attempt - 1)))
