"""Stand-in for the `open-webui` package's command line (upstream: backend/open_webui/__init__.py).

    open-webui serve [--host 0.0.0.0] [--port 8080]

As upstream: without WEBUI_SECRET_KEY in the environment, a key is generated
into ./.webui_secret_key (in the working directory) and reused; FROM_INIT_PY
is set, which puts the default DATA_DIR inside the package.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path


def app(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="open-webui")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ["FROM_INIT_PY"] = "true"
    if os.getenv("WEBUI_SECRET_KEY") is None:
        key_file = Path.cwd() / ".webui_secret_key"
        print("Loading WEBUI_SECRET_KEY from file, not provided as an environment variable.")
        if not key_file.exists():
            print(f"Generating a new secret key and saving it to {key_file}")
            key_file.write_bytes(base64.b64encode(os.urandom(12)))
        os.environ["WEBUI_SECRET_KEY"] = key_file.read_text()
    from open_webui.server import run

    run(ns.host, ns.port)
