"""Upstream stand-ins on this machine for the stage tests (see servers.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterator

import pytest

from deployer.cli import Env, main
from tests.unit.stage.servers import Upstream

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("upstream")).start()
    yield up
    up.stop()


@pytest.fixture
def fresh(upstream: Upstream) -> Upstream:
    """The upstream with no faults and an empty request log."""
    upstream.reset()
    return upstream


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """cli(*argv, environ=...) -> (rc, stdout, stderr): the CLI in-process, its environment given."""

    def run(*argv: str | Path, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), **(environ or {})}
        rc = main([str(a) for a in argv], Env(stdout=out, stderr=err, environ=env, color=False))
        return int(rc), out.getvalue(), err.getvalue()

    return run
