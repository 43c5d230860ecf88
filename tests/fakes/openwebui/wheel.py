"""Build the stand-in `open-webui` wheel (pip mode's wheelhouse).

The wheel holds the package in open_webui/ and declares the console script
``open-webui = open_webui:app`` as upstream's pyproject does. Unlike the real
package (Requires-Python >=3.11, <3.13 and ~150 dependencies) it needs only
the standard library, so `pip install --no-index --find-links` works offline.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "open_webui"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest_dir: Path, version: str = "0.6.5") -> Path:
    """Write open_webui-<version>-py3-none-any.whl into dest_dir; returns its path."""
    dist = f"open_webui-{version}.dist-info"
    files: dict[str, bytes] = {f"open_webui/{p.name}": p.read_bytes() for p in sorted(PACKAGE.glob("*.py"))}
    server = files["open_webui/server.py"].replace(b'VERSION = "0.6.5"', f'VERSION = "{version}"'.encode())
    files["open_webui/server.py"] = server
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: open-webui\nVersion: {version}\nRequires-Python: >=3.9\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: deployer-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist}/entry_points.txt"] = b"[console_scripts]\nopen-webui = open_webui:app\n"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items()) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"open_webui-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path
