"""Run the Open WebUI stand-in as a process on this machine (for its own tests and the admin module's)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fakes.harness import free_port

PACKAGE_DIR = Path(__file__).resolve().parent


class FakeWebUI:
    """`python -m open_webui.server` with a data dir and an environment; restartable."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data, self.env, self.port = data, env, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> "FakeWebUI":
        self.env.update(env)
        full = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "WEBUI_", "ENABLE_", "FAKE_OPENWEBUI_"))}
        full.update(PYTHONPATH=str(PACKAGE_DIR), DATA_DIR=str(self.data), **self.env)
        self.proc = subprocess.Popen([sys.executable, "-m", "open_webui.server", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return self
            except urllib.error.HTTPError:
                return self  # it answers, if not healthily (FAKE_OPENWEBUI_UNHEALTHY)
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the Open WebUI stand-in did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
