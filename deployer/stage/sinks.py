"""Where downloads land: a file beside its final path, or a blob of a bundle being built.

Both keep an interrupted download as ``.part`` (resumed by the next attempt or
run) and give data its final name only after its size and sha256 matched.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import BinaryIO

from deployer import transfer
from deployer.ollama.bundle import BundleError, BundleWriter
from deployer.ollama.registry import Layer
from deployer.stage.http import Corrupt, Cut

BLOCK = 1 << 20


class FileSink:
    """``dest.part`` -> ``dest``, checked against `sha256` (hex) and `size` when known."""

    def __init__(self, dest: Path, label: str, sha256: str | None = None, size: int | None = None) -> None:
        self.dest, self.label, self.sha256, self.size = dest, label, sha256, size
        self.part = dest.with_name(dest.name + ".part")
        self.digest: str | None = None

    def offset(self) -> int:
        try:
            have = self.part.stat().st_size
        except FileNotFoundError:
            return 0
        if self.size is not None and have > self.size:
            self.part.unlink()  # not a prefix of what we want: start over
            return 0
        return have

    def write(self, stream: BinaryIO, resumed: bool, length: int | None) -> None:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        sha = hashlib.sha256()
        start = 0
        if resumed and self.part.is_file():
            with open(self.part, "rb") as fh:
                for block in iter(lambda: fh.read(BLOCK), b""):
                    sha.update(block)
                    start += len(block)
        received = 0
        with open(self.part, "ab" if resumed else "wb") as out:
            for block in iter(lambda: stream.read(BLOCK), b""):
                sha.update(block)
                out.write(block)
                received += len(block)
        got = start + received
        if length is not None and received < length:
            raise Cut(f"the connection ended after {got} bytes ({length - received} missing)")
        if self.size is not None and got != self.size:
            if got < self.size:
                raise Cut(f"the connection ended after {got} of {self.size} bytes")
            self.part.unlink()
            raise Corrupt(f"{self.label}: {got} bytes arrived, {self.size} were expected; deleted")
        digest = sha.hexdigest()
        if self.sha256 is not None and digest != self.sha256:
            self.part.unlink()
            raise Corrupt(f"{self.label}: the downloaded data hashes to sha256:{digest}, not sha256:{self.sha256}; deleted")
        os.replace(self.part, self.dest)
        self.digest = digest
        transfer.remember({self.dest: digest})  # the push will not hash it again


class BlobSink:
    """One blob of a bundle under construction (BundleWriter keeps the partial file)."""

    def __init__(self, writer: BundleWriter, layer: Layer, label: str) -> None:
        self.writer, self.layer, self.label = writer, layer, label

    def offset(self) -> int:
        have = self.writer.partial_size(self.layer.digest)
        return 0 if have > self.layer.size else have  # 0: add_blob(resume=False) overwrites it

    def write(self, stream: BinaryIO, resumed: bool, length: int | None) -> None:
        start = self.writer.partial_size(self.layer.digest) if resumed else 0
        counted = _Count(stream)
        try:
            self.writer.add_blob(self.layer.digest, counted, size=self.layer.size, resume=resumed)
        except BundleError as exc:
            got = start + counted.count
            if got < self.layer.size:
                raise Cut(f"the connection ended after {got} of {self.layer.size} bytes") from None
            m = re.search(r"hashes to (sha256:[0-9a-f]{64})", exc.message)
            if m is None:
                raise Corrupt(f"{self.label}: {exc.message}; deleted") from None
            raise Corrupt(f"{self.label}: the downloaded data hashes to {m.group(1)}, not to the blob's digest; deleted") from None


class _Count:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data
