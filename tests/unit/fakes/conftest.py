"""Fixtures for the stand-ins' own tests: a running Ollama stand-in and a registry."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.fakes.harness import StandinServer
from tests.fakes.registry import RegistryServer


@pytest.fixture
def make_standin(tmp_path: Path) -> Iterator[Callable[..., StandinServer]]:
    """Factory: make_standin(start=True, **env) -> a StandinServer, stopped at teardown."""
    made: list[StandinServer] = []

    def make(start: bool = True, **env: str) -> StandinServer:
        env.setdefault("FAKE_OLLAMA_ENV_FILE", str(tmp_path / "no-knob-file"))
        env.setdefault("FAKE_OLLAMA_LOAD_SECONDS", "0.01")
        standin = StandinServer(tmp_path / f"home{len(made)}", env)
        made.append(standin)
        return standin.start() if start else standin

    yield make
    for standin in made:
        standin.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    reg = RegistryServer(tmp_path / "registry", releases=tmp_path / "releases")
    reg.start()
    yield reg
    reg.stop()
