"""The schema of a module case file (tests/modules/cases/<module>/<case>.yml).

A case names a module and its arguments, the state to build first (files under
a temp root; control-machine files; shell setup on a fleet host), what check
must say under --check (and that it changes nothing), what the real run must
say and leave behind, and what a second run says. Paths use placeholders:
{root} (the temp root on the host), {aux} (a scratch dir not snapshotted, for
files that appear during a wait), {local} (the playbook dir), {port} (a local
TCP port the case's listener opens or keeps closed), {id} (a name unique to
this run of the case, e.g. for a systemd unit on a shared fleet host).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CASES = Path(__file__).parent / "cases"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(Strict):
    """A path's state. In `initial`: what to create; in `final`: what to expect."""

    content: str | None = None
    size: int | None = None  # generated content of this many bytes (deterministic)
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    link: str | None = None  # symlink target
    hardlink: str | None = None  # in final: same inode as this path (relative to root)
    count: int | None = None  # in final, for a glob key: how many paths match


class Expect(Strict):
    status: Literal["ok", "changed", "failed", "invalid"]
    msg: str | None = None  # a fragment of the summary / failure / reported msg
    diff: str | None = None  # a fragment of some diff's text (before or after)
    report: dict[str, Any] = Field(default_factory=dict)  # values the module must report


class Event(Strict):
    after: float  # seconds after the phase starts
    touch: str | None = None  # write this path (with `content`)
    content: str = ""
    listen: bool | None = None  # open (true) or close (false) the case's listener


class Case(Strict):
    description: str
    module: str
    args: dict[str, Any] | str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    host: Literal["local", "systemd", "plain"] = "local"  # plain: a fleet host without systemd
    requires_root: bool = False
    local: dict[str, Entry] = Field(default_factory=dict)  # files on the control machine, under {local}
    initial: dict[str, Entry | Literal["dir"]] = Field(default_factory=dict)  # "d/" or "dir": a directory
    setup: list[str] = Field(default_factory=list)  # shell commands on the host before each case
    teardown: list[str] = Field(default_factory=list)  # shell commands on the host after the case, even a failed one
    observe: list[str] = Field(default_factory=list)  # commands whose output --check must not change
    listener: Literal["open", "closed"] | None = None
    events: list[Event] = Field(default_factory=list)
    earlier_changes_pending: bool = False
    check: Expect
    apply: Expect | None = None
    final: dict[str, Entry | Literal["absent", "dir"]] | None = None
    observed: list[str] | None = None  # after the real run: a fragment of each observe output
    rerun: Literal["ok", "changed", "failed"] | None = None
    max_memory_mb: int | None = None  # peak Python allocations during the real run


def load(path: Path) -> Case:
    return Case.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def all_cases() -> list[Path]:
    return sorted(CASES.glob("*/*.yml"))
