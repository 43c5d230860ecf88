"""Fixtures for integration tests against real sshd hosts (see tests/fleet).

- ``fleet`` (session): 6 hosts. h1..h5 reachable directly, h6 only through
  h1 (ProxyJump); h2 and h3 "with systemd"; on every host the users deploy
  (sudo asks for "deploy-pass"), ops (passwordless sudo) and researcher (no
  sudo). The hosts and their files are shared by the whole session: write
  under paths unique to your test. Disturbances (stopped sshd, cut network,
  rate limit, wrong host key) are undone after each test.
- ``fleet_inventory``: an INI inventory of all six hosts for this test.
- ``deployer_cli``: run the CLI in-process or as the console script.

Without root, sshd or ``ip netns`` the fleet tests are skipped with the
reason; with DEPLOYER_REQUIRE_FLEET=1 (CI) they fail instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

# `tests.fleet` must import under a bare `pytest` too, not only `python -m pytest`
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.fleet import Fleet  # noqa: E402
from tests.fleet.deployer_cli import CliResult, run_deployer  # noqa: E402
from tests.fleet.pytest_support import start_fleet  # noqa: E402

_session_fleets: list[Fleet] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every test on the fleet carries the marker, so `-m "not fleet"` works
    for item in items:
        if "fleet" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.fleet)


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    f = start_fleet(Fleet(6, jump_host=True, systemd_hosts=("h2", "h3"), users=True))
    _session_fleets.append(f)
    try:
        yield f
    finally:
        _session_fleets.remove(f)
        f.down()


@pytest.fixture(autouse=True)
def _fleet_restored() -> Iterator[None]:
    yield
    for f in _session_fleets:
        f.restore()


@pytest.fixture
def fleet_inventory(fleet: Fleet, tmp_path: Path) -> Path:
    return fleet.write_inventory(tmp_path / "inventory.ini")


@pytest.fixture
def deployer_cli() -> Callable[..., CliResult]:
    """``deployer_cli("run", "pb.yml", "-i", inv, env=..., cwd=..., subprocess_=False)``."""
    return lambda *args, **kwargs: run_deployer(args, **kwargs)
