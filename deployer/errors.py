"""The one exception hierarchy of deployer, and the exit statuses the CLI maps it to.

Library code raises these and never prints or exits; `deployer.cli` is the only
place that turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitStatus(IntEnum):
    """Distinct exit codes, one per kind of outcome."""

    OK = 0
    ERROR = 1  # an internal error: a bug, please report it
    USAGE = 2  # bad command line
    BAD_INPUT = 3  # bad playbook/inventory/vars, found before any host is touched
    HOST_FAILED = 4  # at least one host failed a task
    UNREACHABLE = 5  # hosts unreachable and none failed
    INTERRUPTED = 130  # Ctrl-C


@dataclass(frozen=True)
class Location:
    """Where in an input file something is: 1-based line and column."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col or 1}"
        return self.path

    @classmethod
    def of_file(cls, path: str | Path) -> "Location":
        return cls(str(path))


class DeployerError(Exception):
    """Base of every error deployer raises on purpose."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(DeployerError):
    """The command line itself is wrong."""

    exit_status = ExitStatus.USAGE


class InputError(DeployerError):
    """Bad input (playbook, inventory, vars, catalogue, facts file).

    Always found before any host is touched; rendered as
    ``path:line:col: message (hint)``.
    """

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.location = location

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.location}: {text}" if self.location else text


class InputErrors(InputError):
    """Several input errors found in one pass, reported together."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class HostError(DeployerError):
    """Something failed on one host; other hosts carry on."""

    exit_status = ExitStatus.HOST_FAILED


class ModuleFailure(HostError):
    """A module could not do what was asked (the task is marked failed)."""

    def __init__(self, message: str, hint: str | None = None, data: dict | None = None) -> None:
        super().__init__(message, hint)
        self.data = data or {}


class NotStaged(ModuleFailure):
    """A local artefact a task needs (release archive, model bundle, image) is not on the
    control machine yet. A real run fails before sending anything; under --check the
    task is reported as the change it would make, with a warning."""

    def __init__(self, message: str, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint or "stage it first: deployer stage PLAYBOOK -i INVENTORY -o artifacts/")
        self.path = path


class CommandFailed(ModuleFailure):
    """A command on a host exited non-zero where success was required."""


class Unreachable(HostError):
    """The host cannot be reached or authenticated; it leaves the play."""

    exit_status = ExitStatus.UNREACHABLE


class CheckModeViolation(DeployerError):
    """A write was attempted where writing is impossible by construction:
    inside check(), or anywhere under --check. Always a bug in a module."""


class Interrupted(DeployerError):
    """The run was interrupted (Ctrl-C)."""

    exit_status = ExitStatus.INTERRUPTED


def did_you_mean(word: str, choices: "list[str] | set[str] | tuple[str, ...]") -> str | None:
    """A hint naming the closest of `choices` to `word`, or None."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not close:
        return None
    if len(close) == 1:
        return f"did you mean '{close[0]}'?"
    return "did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"
