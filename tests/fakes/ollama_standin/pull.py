"""Pulling a model from a registry, step for step as Ollama's PullModel/downloadBlob.

Progress statuses, error texts, the on-disk partial files (blobs/sha256-<hex>-partial
plus -partial-N JSON part records), HEAD-then-redirect-then-Range downloads,
retries with 2^n s sleeps, 5 s stall detection and resume all follow upstream,
so an interrupted pull resumes — in the same pull after a dropped connection,
or in the next one after a cancel.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import threading
import time
import urllib.parse
from typing import Any, Callable

from . import config, goish, names
from .store import Store
from .transport import Cancelled, GoError, Stalled
from .webclient import Response, request

Progress = Callable[[dict[str, Any]], None]
NUM_PARTS = 16
MIN_PART = 100 * 10**6
MAX_PART = 1000 * 10**6
MAX_RETRIES = 6
STALL_SECONDS = 5.0


class PullError(Exception):
    """A pull failure; the text is what Ollama reports."""


def _check(resp: Response) -> Response:
    """makeRequestWithRetry's status handling."""
    if resp.status == 404:
        resp.close()
        raise GoError("file does not exist")
    if resp.status >= 400:
        body = resp.read_all().decode(errors="replace")
        resp.close()
        raise GoError(f"{resp.status}: {body}")
    return resp


def _base(name: names.Name, insecure: bool) -> str:
    return f"{'http' if insecure else name.scheme}://{name.host}/v2/{name.repository()}"


def _progress_event(digest: str, total: int, completed: int) -> dict[str, Any]:
    event: dict[str, Any] = {"status": f"pulling {digest[7:19]}", "digest": digest}
    if total:
        event["total"] = total
    if completed:
        event["completed"] = completed
    return event


class _Part:
    def __init__(self, path: str, n: int, offset: int, size: int, completed: int = 0) -> None:
        self.path, self.n, self.offset, self.size, self.completed = path, n, offset, size, completed

    def save(self) -> None:
        with open(self.path, "w") as fh:
            fh.write(json.dumps({"N": self.n, "Offset": self.offset, "Size": self.size,
                                 "Completed": self.completed}, separators=(",", ":")) + "\n")


class _Download:
    """One blob's download, shared by every pull that needs it (blobDownloadManager)."""

    def __init__(self, store: Store, digest: str) -> None:
        self.store, self.digest = store, digest
        self.final = str(store.blob_path(digest))
        self.total = 0
        self.parts: list[_Part] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.cancel = threading.Event()
        self.error: Exception | None = None
        self.refs = 0

    @property
    def completed(self) -> int:
        return sum(p.completed for p in self.parts)

    def prepare(self, blob_url: str, cancel: threading.Event) -> None:
        base = os.path.basename(self.final)
        blobs = os.path.dirname(self.final)
        for entry in sorted(os.listdir(blobs)):
            if entry.startswith(base + "-partial-"):
                with open(os.path.join(blobs, entry)) as fh:
                    rec = json.load(fh)
                self.parts.append(_Part(os.path.join(blobs, entry), rec["N"], rec["Offset"],
                                        rec["Size"], rec["Completed"]))
                self.total += rec["Size"]
        if self.parts:
            return
        resp = _check(request("HEAD", blob_url, cancel))
        resp.close()
        self.total = int(resp.headers.get("content-length", "0") or 0)
        size = min(max(self.total // NUM_PARTS, MIN_PART), MAX_PART)
        offset = 0
        while offset < self.total:
            part = _Part(f"{self.final}-partial-{len(self.parts)}", len(self.parts), offset,
                         min(size, self.total - offset))
            part.save()
            self.parts.append(part)
            offset += part.size
        goish_log(f"downloading {self.digest[7:19]} in {len(self.parts)} "
                  f"{goish.human_bytes(self.parts[0].size if self.parts else 0)} part(s)")

    def run(self, blob_url: str) -> None:
        try:
            self._run(blob_url)
        except Exception as exc:  # handed to every waiter
            self.error = exc
        finally:
            with _downloads_lock:
                _downloads.pop(self.digest, None)
            self.done.set()

    def _direct_url(self, blob_url: str) -> str:
        deadline = time.monotonic() + 30
        n = 0
        while True:
            try:
                resp = _check(request("GET", blob_url, self.cancel, same_host_redirects_only=True))
                break
            except Cancelled:
                raise
            except GoError as exc:
                goish_log(f'failed to get direct URL; backing off and retrying err="{exc}"', "WARN")
                n += 1
                delay = min(n * n * 0.01, 10.0) * (random.random() + 0.5)
                if time.monotonic() + delay > deadline:
                    raise GoError("context deadline exceeded") from None
                if self.cancel.wait(delay):
                    raise Cancelled() from None
        resp.close()
        if resp.status not in (200, 307):
            raise GoError(f"unexpected status code {resp.status}")
        location = resp.headers.get("location")
        if not location:
            raise GoError("http: no Location header in response")
        return urllib.parse.urljoin(resp.url, location)

    def _run(self, blob_url: str) -> None:
        partial = self.final + "-partial"
        fd = os.open(partial, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.ftruncate(fd, self.total)
            direct = self._direct_url(blob_url)
            threads = []
            errors: list[Exception] = []
            for part in self.parts:
                if part.completed < part.size:
                    t = threading.Thread(target=self._part_worker, args=(fd, direct, part, errors), daemon=True)
                    t.start()
                    threads.append(t)
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        finally:
            os.close(fd)
        for part in self.parts:
            os.remove(part.path)
        os.replace(partial, self.final)

    def _part_worker(self, fd: int, url: str, part: _Part, errors: list[Exception]) -> None:
        backoff = config.knob_float("FAKE_OLLAMA_RETRY_BASE_SECONDS", 1.0)
        tries = 0
        last: Exception | None = None
        while tries < MAX_RETRIES:
            try:
                self._chunk(fd, url, part)
                return
            except Cancelled as exc:
                errors.append(exc)
                return
            except Stalled:
                goish_log(f"{self.digest[7:19]} part {part.n} stalled; retrying. If this persists, press "
                          "ctrl-c to exit, then 'ollama pull' to find a faster connection.")
                continue
            except OSError as exc:
                errors.append(GoError(goish.errno_message(exc, "write")))
                return
            except GoError as exc:
                last = exc
                sleep = backoff * math.pow(2, tries)
                goish_log(f"{self.digest[7:19]} part {part.n} attempt {tries} failed: {exc}, "
                          f"retrying in {goish.duration_string(int(sleep * goish.SECOND))}")
                tries += 1
                if self.cancel.wait(sleep):
                    errors.append(Cancelled())
                    return
        errors.append(GoError(f"max retries exceeded: {last}"))

    def _chunk(self, fd: int, url: str, part: _Part) -> None:
        start, stop = part.offset + part.completed, part.offset + part.size - 1
        resp = request("GET", url, self.cancel, {"Range": f"bytes={start}-{stop}"})
        try:
            # like io.CopyN: the status is not checked, the body is copied
            while part.completed < part.size:
                data = resp.read(min(1 << 16, part.size - part.completed), stall=STALL_SECONDS)
                if not data:
                    break
                os.pwrite(fd, data, part.offset + part.completed)
                part.completed += len(data)
        finally:
            resp.close()
            part.save()


_downloads: dict[str, _Download] = {}
_downloads_lock = threading.Lock()
_log: Callable[[str, str], None] = lambda msg, level: None


def set_logger(fn: Callable[[str, str], None]) -> None:
    global _log
    _log = fn


def goish_log(msg: str, level: str = "INFO") -> None:
    _log(msg, level)


def download_blob(store: Store, name: names.Name, base: str, digest: str, progress: Progress,
                  cancel: threading.Event) -> bool:
    """Fetch one blob unless present; True on a cache hit."""
    path = store.blob_path(digest)
    if path.is_file():
        size = path.stat().st_size
        progress(_progress_event(digest, size, size))
        return True
    blob_url = f"{base}/blobs/{digest}"
    with _downloads_lock:
        dl = _downloads.get(digest)
        fresh = dl is None
        if fresh:
            dl = _downloads[digest] = _Download(store, digest)
        dl.refs += 1
    try:
        if fresh:
            try:
                dl.prepare(blob_url, cancel)
            except BaseException:
                with _downloads_lock:
                    _downloads.pop(digest, None)
                raise
            threading.Thread(target=dl.run, args=(blob_url,), daemon=True).start()
        while not dl.done.wait(0.06):
            if cancel.is_set():
                raise Cancelled()
            progress(_progress_event(digest, dl.total, dl.completed))
        if dl.error is not None:
            raise dl.error
        progress(_progress_event(digest, dl.total, dl.total))
        return False
    finally:
        with _downloads_lock:
            dl.refs -= 1
            if dl.refs == 0 and not dl.done.is_set():
                dl.cancel.set()


def _verify(store: Store, digest: str) -> None:
    path = store.blob_path(digest)
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    got = "sha256:" + sha.hexdigest()
    if got != digest:
        try:
            path.unlink()
        except OSError as exc:
            goish_log(f"couldn't remove file with digest mismatch '{path}': {exc}")
        raise PullError(f"digest mismatch, file must be downloaded again: want {digest}, got {got}")


def pull_model(store: Store, name: names.Name, insecure: bool, progress: Progress,
               cancel: threading.Event) -> None:
    """PullModel: manifest, blobs, verify, write manifest, prune what the old one used."""
    stale: set[str] = set()
    try:
        stale = {lay["digest"] for lay in store.read_manifest(name).all_layers()}
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        goish_log(f'pulling model with bad existing manifest name={name.display_shortest()} error="{exc}"', "WARN")
    if name.scheme == "http" and not insecure:
        raise PullError("insecure protocol http")
    progress({"status": "pulling manifest"})
    base = _base(name, insecure)
    try:
        resp = _check(request("GET", f"{base}/manifests/{name.tag}", cancel,
                              {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}))
        raw = resp.read_all()
        resp.close()
        manifest = json.loads(raw)
    except (GoError, ValueError) as exc:
        raise PullError(f"pull model manifest: {exc}") from None
    layers = list(manifest.get("layers") or [])
    if (manifest.get("config") or {}).get("digest"):
        layers.append(manifest["config"])
    hits: dict[str, bool] = {}
    try:
        for layer in layers:
            hit = download_blob(store, name, base, layer["digest"], progress, cancel)
            hits[layer["digest"]] = hits.get(layer["digest"], True) and hit
    except GoError as exc:
        raise PullError(str(exc)) from None
    progress({"status": "verifying sha256 digest"})
    for digest, hit in hits.items():
        if not hit:
            _verify(store, digest)
    stale -= set(hits)
    progress({"status": "writing manifest"})
    store.write_manifest_bytes(name, raw)
    if not config.flag("OLLAMA_NOPRUNE") and stale:
        progress({"status": "removing unused layers"})
        still_used = store.referenced()
        for digest in stale - still_used:
            try:
                store.blob_path(digest).unlink()
            except OSError:
                pass
    progress({"status": "success"})
