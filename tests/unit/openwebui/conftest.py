"""A running Open WebUI stand-in (tests/fakes/openwebui) on this machine, for the admin and fake tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.fakes.openwebui.harness import FakeWebUI


@pytest.fixture
def webui(tmp_path: Path) -> Iterator[Callable[..., FakeWebUI]]:
    """webui(**env) -> a started stand-in; defaults as deployer sets them (signup off, first admin allowed)."""
    made: list[FakeWebUI] = []

    def make(**env: str) -> FakeWebUI:
        base = {"WEBUI_SECRET_KEY": "k" * 64, "ENABLE_SIGNUP": "False", "ENABLE_INITIAL_ADMIN_SIGNUP": "True",
                "ENABLE_PERSISTENT_CONFIG": "False"}
        base.update(env)
        w = FakeWebUI(tmp_path / f"data{len(made)}", base)
        made.append(w)
        return w.start()

    yield make
    for w in made:
        w.stop()
