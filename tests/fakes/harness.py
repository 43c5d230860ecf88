"""Run the Ollama stand-in as a real subprocess and talk to it, for tests.

    s = StandinServer(home=tmp_path / "home", env={"FAKE_OLLAMA_REGISTRY_URL": reg.url}).start()
    s.stream("/api/pull", {"model": "deepseek-r1:7b"})     # NDJSON objects
    s.api("GET", "/api/tags")                              # (status, JSON)
    s.cli("list").stdout                                   # the CLI against this server
    log = s.stop()                                         # SIGTERM; the server's stderr

The environment is the caller's minus any OLLAMA_*/FAKE_OLLAMA_*/proxy variables,
plus HOME, OLLAMA_HOST (a free port) and OLLAMA_MODELS (HOME/models).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OLLAMA = Path(__file__).resolve().parent / "ollama"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Any = None, raw: bytes | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    """One request; returns (status, body) for error statuses too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def ndjson(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without Ollama, stand-in or proxy variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OLLAMA_", "FAKE_OLLAMA_"))
           and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(extra)
    return env


@dataclass
class StandinServer:
    """An `ollama serve` stand-in process (tests/fakes/ollama) and ways to talk to it."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: "subprocess.Popen[str] | None" = None
    logs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.env = clean_env(**{"HOME": str(self.home), "OLLAMA_HOST": f"127.0.0.1:{self.port}",
                                "OLLAMA_MODELS": str(self.home / "models"), **self.env})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def models(self) -> Path:
        return Path(self.env["OLLAMA_MODELS"])

    def start(self, **extra_env: str) -> "StandinServer":
        """Start serving (``extra_env`` is added to the environment) and wait for the port."""
        self.env.update(extra_env)
        self.proc = subprocess.Popen([str(OLLAMA), "serve"], env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stand-in exited: {self.proc.communicate()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("stand-in did not start listening")

    def stop(self) -> str:
        """SIGTERM the server; returns what it logged on stderr."""
        if self.proc is None:
            return ""
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        self.logs.append(err)
        self.proc = None
        return err

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        status, data = http(method, self.url + path, body, timeout=timeout)
        try:
            return status, json.loads(data) if data.strip() else None
        except ValueError:
            return status, data.decode()

    def stream(self, path: str, body: Any, timeout: float = 60) -> list[dict[str, Any]]:
        status, data = http("POST", self.url + path, body, timeout=timeout)
        if status != 200:
            raise AssertionError(f"POST {path}: {status} {data!r}")
        return ndjson(data)

    def cli(self, *args: str, stdin: str | None = None, **extra_env: str) -> "subprocess.CompletedProcess[str]":
        """Run the stand-in's CLI against this server (stdin: /dev/null unless given)."""
        return subprocess.run([str(OLLAMA), *args], env={**self.env, **extra_env}, capture_output=True,
                              text=True, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              timeout=60)
