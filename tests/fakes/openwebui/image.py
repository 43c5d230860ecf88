"""The stand-in Open WebUI image: a rootfs tar for `docker import`, laid out as the real one.

What the product relies on, as in the official image (its Dockerfile and
backend/start.sh):
- ENV PORT=8080, OLLAMA_BASE_URL=/ollama, WEBUI_SECRET_KEY="" (empty: start.sh
  then invents a key in /app/backend/.webui_secret_key, outside the volume -
  the reason deployer supplies one), ENV=prod; WORKDIR /app/backend;
  CMD start.sh, which serves on ${HOST:-0.0.0.0}:${PORT:-8080};
- data in /app/backend/data (the volume);
- a shell and an HTTP client for `docker exec` (the real image has curl, this
  one busybox wget), and python3.

Content: busybox (static) with its applets, this machine's /usr/bin/python3.11
with the shared libraries it links and its standard library (minus tests,
tkinter and the like), and the stand-in package (open_webui/).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.fakes.openwebui.wheel import PACKAGE

PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
BUSYBOX_APPLETS = ("sh", "wget", "cat", "ls", "env", "sleep", "head", "base64", "od", "tr", "grep", "sed",
                   "mkdir", "rm", "ps", "kill", "dirname", "echo", "printf", "test", "[", "id", "hostname", "timeout")
_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "dist-packages",
         "site-packages", "distutils", "__pycache__", "unittest", "sqlite3", "curses", "venv", "msilib",
         "config-3.11-x86_64-linux-gnu"}
#: the image's Dockerfile settings, as `docker import --change` lines
CHANGES = (
    "ENV ENV=prod",
    "ENV PORT=8080",
    "ENV OLLAMA_BASE_URL=/ollama",
    'ENV WEBUI_SECRET_KEY=""',
    "WORKDIR /app/backend",
    "EXPOSE 8080",
    'CMD ["sh", "start.sh"]',
)
START_SH = """#!/bin/sh
# as the official backend/start.sh: a key file when WEBUI_SECRET_KEY is empty, HOST/PORT
cd "$(dirname "$0")" || exit 1
KEY_FILE=.webui_secret_key
PORT="${PORT:-8080}"
HOST="${HOST:-0.0.0.0}"
if test "$WEBUI_SECRET_KEY $WEBUI_JWT_SECRET_KEY" = " "; then
  echo "Loading WEBUI_SECRET_KEY from file, not provided as an environment variable."
  if ! [ -e "$KEY_FILE" ]; then
    echo "Generating WEBUI_SECRET_KEY"
    head -c 12 /dev/urandom | base64 > "$KEY_FILE"
  fi
  WEBUI_SECRET_KEY=$(cat "$KEY_FILE")
fi
export WEBUI_SECRET_KEY
exec python3 -m open_webui.server --host "$HOST" --port "$PORT"
"""


def missing() -> str | None:
    """Why the image cannot be built on this machine, or None."""
    if not PYTHON.is_file() or not STDLIB.is_dir():
        return f"no {PYTHON} with {STDLIB} (Debian's python3.11)"
    if shutil.which("busybox") is None or not Path("/bin/busybox").is_file():
        return "no /bin/busybox (apt-get install busybox-static)"
    return None


def _linked_libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return [Path(p) for p in re.findall(r"(/\S+\.so[.\d]*)", out)]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_rootfs(dest: Path) -> Path:
    """Write the rootfs tar to `dest`."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "usr", "usr/bin", "usr/lib", "lib", "lib64", "etc", "root", "app", "app/backend", "app/backend/data", "proc", "sys", "dev"):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        tar.add("/bin/busybox", "bin/busybox", filter=_root_owned)
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        tar.add(str(PYTHON), "usr/bin/python3", filter=_root_owned)
        for lib in _linked_libraries(PYTHON):
            tar.add(str(lib.resolve()), str(lib).lstrip("/"), filter=_root_owned)
        for path in sorted(STDLIB.rglob("*")):
            rel = path.relative_to(STDLIB)
            if any(part in _SKIP for part in rel.parts) or not path.exists():
                continue
            if path.is_dir():
                _add_dir(tar, f"usr/lib/python3.11/{rel}")
            elif path.is_file():
                tar.add(str(path.resolve()), f"usr/lib/python3.11/{rel}", filter=_root_owned)
        _add_bytes(tar, "app/backend/start.sh", START_SH.encode(), 0o755)
        _add_dir(tar, "app/backend/open_webui")
        for py in sorted(PACKAGE.glob("*.py")):
            tar.add(str(py), f"app/backend/open_webui/{py.name}", filter=_root_owned)
        _add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _add_bytes(tar, "etc/group", b"root:x:0:\n")
        for name in ("hosts", "hostname", "resolv.conf"):
            _add_bytes(tar, f"etc/{name}", b"")
    return dest


def import_args(ref: str) -> list[str]:
    """`docker import` arguments (after `docker`) that make `ref` from a rootfs tar on stdin."""
    args = ["import"]
    for change in CHANGES:
        args += ["-c", change]
    return [*args, "-", ref]
