"""Verdicts: one per check and host, each saying what was found and, when not ok, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from deployer.errors import ExitStatus

Status = Literal["ok", "warn", "fail", "skip"]
ORDER = ("reachable", "host key", "sudo", "arch/glibc", "systemd", "disk", "gpu", "ROCR_VISIBLE_DEVICES", "docker",
         "ports", "registry", "artefacts")


@dataclass(frozen=True)
class Verdict:
    """ok: fine. warn: the rollout works, but look. fail: blocks the rollout. skip: not needed here."""

    check: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict:
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


def ok(check: str, detail: str) -> Verdict:
    return Verdict(check, "ok", detail)


def warn(check: str, detail: str, fix: str | None = None) -> Verdict:
    return Verdict(check, "warn", detail, fix)


def fail(check: str, detail: str, fix: str | None = None) -> Verdict:
    return Verdict(check, "fail", detail, fix)


def skip(check: str, detail: str) -> Verdict:
    return Verdict(check, "skip", detail)


@dataclass
class HostReport:
    """All verdicts of one host."""

    host: str
    reachable: bool = True
    verdicts: list[Verdict] = field(default_factory=list)

    def add(self, *verdicts: Verdict) -> None:
        self.verdicts.extend(verdicts)

    def ordered(self) -> list[Verdict]:
        rank = {name: i for i, name in enumerate(ORDER)}
        return sorted(self.verdicts, key=lambda v: rank.get(v.check, len(ORDER)))

    @property
    def failed(self) -> bool:
        return any(v.status == "fail" for v in self.verdicts)

    @property
    def worst(self) -> Status:
        for status in ("fail", "warn", "ok"):
            if any(v.status == status for v in self.verdicts):
                return status  # type: ignore[return-value]
        return "skip"

    def to_json(self) -> dict:
        return {"reachable": self.reachable, "status": self.worst, "checks": [v.to_json() for v in self.ordered()]}


def exit_status(reports: list[HostReport]) -> ExitStatus:
    """4 when something blocks the rollout on a reachable host, else 5 when hosts are unreachable, else 0."""
    if any(r.reachable and r.failed for r in reports):
        return ExitStatus.HOST_FAILED
    if any(not r.reachable for r in reports):
        return ExitStatus.UNREACHABLE
    return ExitStatus.OK
