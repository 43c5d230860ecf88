"""Where the facts tests' captured outputs live (tests/fixtures/facts, see README.txt there)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "facts"


def read_fixture(name: str) -> str:
    """The text of tests/fixtures/facts/<name>."""
    return (FIXTURES / name).read_text(encoding="utf-8")
