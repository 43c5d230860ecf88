"""Fixtures for the benchmark's tests: an Ollama stand-in on this machine with models in its store."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.fakes.harness import StandinServer
from tests.fakes.models import make_model


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[Callable[..., StandinServer]]:
    """standin(models=("deepseek-r1:7b",), **knobs) -> a running stand-in; stopped at teardown."""
    made: list[StandinServer] = []

    def start(models: tuple[str, ...] = ("deepseek-r1:7b",), gguf_size: int = 1_000_000, **knobs: str) -> StandinServer:
        home = tmp_path / f"ollama{len(made)}"
        for name in models:
            make_model(home / "models", name, gguf_size=gguf_size)
        env = {"FAKE_OLLAMA_ENV_FILE": str(tmp_path / "no-knob-file"), "FAKE_OLLAMA_LOAD_SECONDS": "0.05", **knobs}
        server = StandinServer(home, env)
        made.append(server)
        return server.start()

    yield start
    for server in made:
        server.stop()
