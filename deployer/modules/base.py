"""The module contract: check() says what would change, apply() makes exactly that change.

A module never writes from check(): the context it gets only lets it read
(``ctx.probe``); ``ctx.run`` and every other write raises CheckModeViolation
inside check() and everywhere under --check. A dry run that mutates a host is
impossible by construction.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, ClassVar, Generic, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict

from deployer.connection import Become, CommandResult, Connection
from deployer.errors import CheckModeViolation, ModuleFailure

if TYPE_CHECKING:
    from deployer.facts.model import HostFacts


class ModuleArgs(BaseModel):
    """Base of every module's Args: unknown keys are errors; Field(description=...) is the doc."""

    model_config = ConfigDict(extra="forbid", frozen=True)


A = TypeVar("A", bound=ModuleArgs)


@dataclass(frozen=True)
class Diff:
    """Before/after of one thing (a file, a unit, a container's config) for --diff."""

    label: str
    before: str | None
    after: str | None


@dataclass
class Change:
    """What check() found to change. `data` carries what apply() needs (no re-probing)."""

    summary: str
    diffs: list[Diff] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class Module(ABC, Generic[A]):
    """A unit of desired state. Subclasses set `name` and `Args` and register themselves."""

    name: ClassVar[str]
    Args: ClassVar[type[ModuleArgs]]
    #: other YAML keys accepted for this module (e.g. "systemd" for "service")
    aliases: ClassVar[tuple[str, ...]] = ()
    #: the Args field that takes a bare string ("command: ls -l") or None
    free_form: ClassVar[str | None] = None
    #: False for modules that never touch the host (debug, set_fact, assert, fail)
    needs_connection: ClassVar[bool] = True
    #: True when check() always returns a Change (command, shell): nothing to compare
    always_changes: ClassVar[bool] = False
    #: Args fields holding bare Jinja expressions (assert's `that`, debug's `var`):
    #: checked for undefined variables before the run like templates are
    expression_fields: ClassVar[tuple[str, ...]] = ()
    #: True for modules that never change a host (debug, assert, wait_for...): under
    #: --check, when their input is not known yet, they are skipped rather than "would change"
    read_only: ClassVar[bool] = False
    #: True for modules whose check() can plan from facts alone (ctx.connection is None)
    #: when a run plans from a facts file (`deployer run --facts FILE --check`)
    plans_from_facts: ClassVar[bool] = False
    #: variable names this module sets for later tasks (set by ctx.set_vars)
    provides_vars: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def check(self, ctx: "TaskContext", args: A) -> Change | None:
        """Read-only: None when the host is already as wanted, else the Change to make."""

    def apply(self, ctx: "TaskContext", args: A, change: Change) -> None:
        """Make exactly `change`. Modules whose check() never returns a Change need not override."""
        raise NotImplementedError(f"{self.name} has nothing to apply")


class FactsProvider:
    """Per-host facts, gathered on first use and cached until a change invalidates them."""

    def __init__(self, gather: Callable[[], "HostFacts"], preset: "HostFacts | None" = None) -> None:
        self._gather = gather
        self._facts = preset
        self._preset = preset is not None
        self._lock = threading.Lock()

    def get(self) -> "HostFacts":
        with self._lock:
            if self._facts is None:
                self._facts = self._gather()
            return self._facts

    def invalidate(self) -> None:
        with self._lock:
            if not self._preset:
                self._facts = None

    @property
    def loaded(self) -> bool:
        return self._facts is not None


@dataclass
class TaskContext:
    """What a module sees of the run: one host, one task, read or write access."""

    host: str
    connection: Connection | None
    vars: Mapping[str, Any]
    check_mode: bool = False
    diff_mode: bool = False
    become: Become | None = None
    task_name: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    facts_provider: FactsProvider | None = None
    #: True when an earlier task on this host would have changed something under --check:
    #: a module may then report "would change" instead of failing on a missing prerequisite.
    earlier_changes_pending: bool = False
    #: renders a template text with this host's variables (set by the executor)
    renderer: Callable[[str, Mapping[str, Any]], str] | None = None
    #: receives progress events (bytes done, bytes total, label); never prints
    progress_sink: Callable[[str, int, int, str], None] | None = None
    #: environment variables for every command of this task (play/task `environment:`)
    env: dict[str, str] = field(default_factory=dict)
    #: opens (or reuses) the run's connection to another inventory host (set by the executor)
    peers: Callable[[str], Connection] | None = None
    #: takes work to run once every host of this task is done (set by the executor)
    after_task: Callable[[Callable[[], None]], None] | None = None
    writable: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    new_vars: dict[str, Any] = field(default_factory=dict)

    # -- running commands -------------------------------------------------
    def _conn(self) -> Connection:
        if self.connection is None:
            raise RuntimeError("this module declared needs_connection = False")
        return self.connection

    def probe(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        become: Become | None | bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = 300,
    ) -> CommandResult:
        """Run a read-only command (allowed in check() and under --check)."""
        return self._conn().run(
            command, stdin=stdin, become=self._become(become), env=self._env(env), cwd=cwd, timeout=timeout
        )

    def run(
        self,
        command: str,
        *,
        stdin: bytes | BinaryIO | None = None,
        become: Become | None | bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = 3600,
        progress_label: str | None = None,
        progress_total: int = 0,
    ) -> CommandResult:
        """Run a command that may change the host. Raises CheckModeViolation when not allowed."""
        self.require_writable(command)
        progress = None
        if progress_label and self.progress_sink:
            sink = self.progress_sink

            def progress(done: int) -> None:
                sink(self.host, done, progress_total, progress_label)  # type: ignore[arg-type]

        return self._conn().run(
            command,
            stdin=stdin,
            become=self._become(become),
            env=self._env(env),
            cwd=cwd,
            timeout=timeout,
            progress=progress,
        )

    def _env(self, env: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if not self.env:
            return env
        return {**self.env, **(env or {})}

    def require_writable(self, what: str) -> None:
        if not self.writable:
            where = "under --check" if self.check_mode else "inside check()"
            raise CheckModeViolation(f"refusing to change {self.host} {where}: {what[:120]}")

    def _become(self, become: Become | None | bool) -> Become | None:
        if become is True:
            return self.become
        if become is False:
            return None
        return become

    def peer(self, host: str) -> Connection:
        """The run's connection to another inventory host, for modules that
        must act on two hosts (a front door authorizing its key on its
        backends). Commands on it run as that host's login user; writes are
        for apply() only (call require_writable first)."""
        if self.peers is None:
            raise ModuleFailure(f"{self.host}: other hosts cannot be reached from this task")
        return self.peers(host)

    def defer(self, work: Callable[[], None]) -> None:
        """Run `work` (commands on this host) once every host of this task is
        done, e.g. removing a file other hosts may still be copying from this
        one. Best effort: a failure there becomes a notice, not a task result.
        Outside an executor (a module driven directly) it runs at once."""
        self.require_writable("deferred work")  # granted by apply(), and kept for the work
        if self.after_task is None:
            work()
            return

        def granted() -> None:
            self.writable = True
            try:
                work()
            finally:
                self.writable = False

        self.after_task(granted)

    def tunnel(self, host: str, port: int) -> tuple[str, int]:
        """An address on the control machine that reaches host:port as the target sees it."""
        return self._conn().open_tunnel(host, port)

    # -- facts, results, messages ----------------------------------------
    def facts(self) -> "HostFacts":
        if self.facts_provider is None:
            raise RuntimeError("no facts provider for this context")
        return self.facts_provider.get()

    def invalidate_facts(self) -> None:
        if self.facts_provider is not None:
            self.facts_provider.invalidate()

    def report(self, **data: Any) -> None:
        """Add values to the task's result (shown with -v, kept by `register`)."""
        self.result.update(data)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def set_vars(self, **values: Any) -> None:
        """Set host variables for later tasks (set_fact)."""
        self.new_vars.update(values)

    def render(self, text: str, extra: Mapping[str, Any] | None = None) -> str:
        if self.renderer is None:
            raise RuntimeError("no renderer in this context")
        return self.renderer(text, extra or {})

    def local_path(self, path: str | Path) -> Path:
        """A control-machine path, relative paths taken from the playbook's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def execute(module: Module, ctx: TaskContext, args: ModuleArgs) -> Change | None:
    """check(), then apply() unless --check. The only place that grants write access."""
    ctx.writable = False
    change = module.check(ctx, args)
    if change is None or ctx.check_mode:
        return change
    ctx.writable = True
    try:
        module.apply(ctx, args, change)
    finally:
        ctx.writable = False
        ctx.invalidate_facts()
    return change
