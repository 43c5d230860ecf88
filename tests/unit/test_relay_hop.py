"""The relay hop's two scripts (deployer.relay._SERVE and _FETCH), run for real
with python3 on this machine: a source serving a finished file, a .part still
growing, a file that is gone, and a receiver with the wrong token."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

from deployer import relay
from deployer.transfer import marker_path

TOKEN = "0123456789abcdef"


def serve(dest: Path, data: bytes, idle: float = 10, appear: float = 10) -> int:
    """Start the source script (it goes to the background); its port."""
    sha = hashlib.sha256(data).hexdigest()
    out = subprocess.run(
        [sys.executable, "-c", relay._SERVE, f"{dest}.part", str(dest), marker_path(str(dest)), sha,
         str(len(data)), TOKEN, str(idle), str(appear)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    return int(out.strip())


def fetch(port: int, offset: int = 0, token: str = TOKEN) -> bytes:
    return subprocess.run(
        [sys.executable, "-c", relay._FETCH, "127.0.0.1", str(port), token, str(offset), "10"],
        capture_output=True, timeout=60, check=True,
    ).stdout


def finished(dest: Path, data: bytes) -> None:
    dest.write_bytes(data)
    st = dest.stat()
    Path(marker_path(str(dest))).write_text(f"{hashlib.sha256(data).hexdigest()} {len(data)} {int(st.st_mtime)}\n")


def test_a_finished_file_is_served_from_the_offset_asked(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096
    dest = tmp_path / "a.tgz"
    finished(dest, data)
    assert fetch(serve(dest, data), offset=1000) == data[1000:]


def test_a_growing_part_is_followed_until_it_is_whole(tmp_path: Path) -> None:
    data = b"x" * 300_000 + b"y" * 300_000
    dest = tmp_path / "b.tgz"
    part = Path(f"{dest}.part")
    part.write_bytes(b"")
    port = serve(dest, data)

    def grow() -> None:
        with part.open("ab") as f:
            for i in range(0, len(data), 100_000):
                f.write(data[i:i + 100_000])
                f.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=grow)
    writer.start()
    got = fetch(port)
    writer.join()
    assert got == data


def test_a_file_that_is_gone_ends_the_hop_soon(tmp_path: Path) -> None:
    data = b"z" * 1000
    port = serve(tmp_path / "gone.tgz", data, idle=30, appear=0.5)
    started = time.monotonic()
    assert fetch(port) == b""  # the receiver sees a short transfer and takes another source
    assert time.monotonic() - started < 10  # not the 30 s idle wait


def test_the_wrong_token_gets_nothing(tmp_path: Path) -> None:
    data = b"secret-ish release bytes" * 100
    dest = tmp_path / "c.tgz"
    finished(dest, data)
    port = serve(dest, data, idle=2)
    assert fetch(port, token="f" * 16) == b""
