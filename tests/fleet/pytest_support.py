"""Skip-or-fail policy for tests that need the fleet (pytest-facing, kept out of Fleet)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from tests.fleet import Fleet, FleetUnavailable

#: Set to 1 (CI does) to make "this machine cannot run a fleet" a failure.
REQUIRE_FLEET_ENV = "DEPLOYER_REQUIRE_FLEET"


def fleet_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when the environment demands a fleet."""
    if os.environ.get(REQUIRE_FLEET_ENV) == "1":
        pytest.fail(f"the test fleet is required ({REQUIRE_FLEET_ENV}=1) but cannot start: {reason}", pytrace=False)
    pytest.skip(f"no test fleet on this machine: {reason}")


def start_fleet(fleet: Fleet) -> Fleet:
    """`fleet.up()`, with "this machine cannot" turned into skip (or fail, see above).
    Any other failure to start is an error of the test run."""
    try:
        return fleet.up()
    except FleetUnavailable as exc:
        fleet_unavailable(str(exc))
