"""What happened: a TaskResult per host and task, recap counters, the JSON report.

Secrets never leave through here: every text is passed through the run's
:class:`Redactor`, which knows the become passwords and every variable whose
name says it is secret, and ``no_log`` results keep only their status.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal

from deployer.modules.base import Diff

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]
NO_LOG_TEXT = "the output has been hidden due to no_log: true"
_SECRET_NAME = re.compile(r"(passw|secret|token|api_?key|private_key)", re.I)


def is_secret_name(name: object) -> bool:
    """A variable or key whose name says it holds a secret (password, secret, token, api key...)."""
    return isinstance(name, str) and bool(_SECRET_NAME.search(name))


class Redactor:
    """Replaces known secret values with ******** in any text or data."""

    MASK = "********"

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= 3:
            with self._lock:
                self._secrets.add(value)

    def add_vars(self, variables: dict[str, Any]) -> None:
        """Register the values of variables whose names say they are secret."""
        for k, v in variables.items():
            if is_secret_name(k):
                if isinstance(v, str):
                    self.add(v)
            if isinstance(v, dict):
                self.add_vars(v)

    def text(self, value: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            if s in value:
                value = value.replace(s, self.MASK)
        return value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: (self.MASK if is_secret_name(k) and isinstance(v, str) and v else self.data(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


@dataclass
class TaskResult:
    """The outcome of one task on one host (all loop items together)."""

    host: str
    task: str
    action: str
    status: Status
    msg: str = ""
    diffs: list[Diff] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    items: list["TaskResult"] = field(default_factory=list)
    ignored: bool = False
    duration: float = 0.0
    no_log: bool = False
    play: str = ""

    @property
    def changed(self) -> bool:
        return self.status == "changed"

    @property
    def failed(self) -> bool:
        return self.status == "failed" and not self.ignored

    def registered(self) -> dict[str, Any]:
        """The value `register:` stores, shaped like Ansible's."""
        out: dict[str, Any] = dict(self.data)
        out.update(
            changed=self.status == "changed",
            failed=self.status == "failed",
            skipped=self.status == "skipped",
            msg=self.msg,
        )
        if self.status == "unreachable":
            out["unreachable"] = True
        if self.items:
            out["results"] = [i.registered() for i in self.items]
        return out

    def to_json(self, redactor: Redactor) -> dict[str, Any]:
        if self.no_log:
            return {"host": self.host, "task": self.task, "action": self.action, "status": self.status, "msg": NO_LOG_TEXT}
        out = {
            "host": self.host,
            "task": self.task,
            "action": self.action,
            "status": self.status,
            "msg": redactor.text(self.msg),
            "duration": round(self.duration, 3),
        }
        if self.ignored:
            out["ignored"] = True
        if self.data:
            out["data"] = redactor.data(self.data)
        if self.warnings:
            out["warnings"] = [redactor.text(w) for w in self.warnings]
        if self.diffs:
            out["diff"] = [redactor.data(asdict(d)) for d in self.diffs]
        if self.items:
            out["items"] = [i.to_json(redactor) for i in self.items]
        return out


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    ignored: int = 0

    def add(self, r: TaskResult) -> None:
        if r.status == "failed" and r.ignored:
            self.ignored += 1
        elif r.status == "changed":
            self.changed += 1
            self.ok += 1  # Ansible counts a changed task as ok too
        else:
            setattr(self, r.status, getattr(self, r.status) + 1)


@dataclass
class RunReport:
    """Everything a run produced; `--json` prints to_json()."""

    check_mode: bool
    results: list[TaskResult] = field(default_factory=list)
    stats: dict[str, HostStats] = field(default_factory=dict)
    interrupted: bool = False
    aborted: list[str] = field(default_factory=list)  # why plays stopped early
    extra: dict[str, Any] = field(default_factory=dict)  # per-host summaries from modules (chosen model, ...)

    def add(self, r: TaskResult) -> None:
        self.results.append(r)
        self.stats.setdefault(r.host, HostStats()).add(r)

    def ensure_host(self, host: str) -> None:
        self.stats.setdefault(host, HostStats())

    @property
    def failed_hosts(self) -> list[str]:
        return [h for h, s in self.stats.items() if s.failed]

    @property
    def unreachable_hosts(self) -> list[str]:
        return [h for h, s in self.stats.items() if s.unreachable and not s.failed]

    def to_json(self, redactor: Redactor) -> dict[str, Any]:
        return {
            "check_mode": self.check_mode,
            "interrupted": self.interrupted,
            "aborted": self.aborted,
            "stats": {h: asdict(s) for h, s in self.stats.items()},
            "results": [r.to_json(redactor) for r in self.results],
            "hosts": redactor.data(self.extra),
        }


def summarize(results: Iterable[TaskResult]) -> Status:
    """The status of a looped task from its items: failed > unreachable > changed > ok > skipped."""
    statuses = [r.status for r in results if not (r.status == "failed" and r.ignored)]
    for s in ("failed", "unreachable", "changed", "ok"):
        if s in statuses:
            return s  # type: ignore[return-value]
    return "skipped"
