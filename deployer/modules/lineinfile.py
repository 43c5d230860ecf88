"""lineinfile: make sure one line is in a file (or replace the line a regexp
matches, or remove matching lines), with ansible.builtin.lineinfile's rules:

- regexp matches: the last matching line (the first with firstmatch) is replaced;
- no match (or no regexp): nothing to do when the exact line is already there,
  else it is inserted after/before the insertafter/insertbefore match (the last
  one, the first with firstmatch), at BOF, or at the end of the file;
- backrefs: the line is built from the regexp's groups, and when nothing
  matches the file is left alone;
- state absent removes every line the regexp matches (or equal to line).

The edit is computed on the control machine from the file check() read; apply()
writes that exact text atomically.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Diff, Module, TaskContext
from deployer.modules.copy import FilePlan, apply_plan
from deployer.modules.file import AttrArgs, attr_change, ensure_principals, resolve_mode


class LineArgs(AttrArgs):
    path: str = Field(
        validation_alias=AliasChoices("path", "dest", "destfile", "name"),
        description="The file to edit (aliases: dest, destfile, name).",
    )
    line: str | None = Field(None, validation_alias=AliasChoices("line", "value"), description="The line to have in the file (alias: value).")
    regexp: str | None = Field(
        None,
        validation_alias=AliasChoices("regexp", "regex"),
        description="Python regular expression searched in every line: present replaces the last match, absent removes all matches.",
    )
    search_string: str | None = Field(None, description="Like regexp, but a literal string contained in the line.")
    state: Literal["present", "absent"] = Field("present", description="present: the line is there; absent: matching lines are removed.")
    insertafter: str | None = Field(None, description="When no line matches: insert after the last line matching this regex, or EOF / BOF.")
    insertbefore: str | None = Field(None, description="When no line matches: insert before the last line matching this regex, or BOF.")
    firstmatch: bool = Field(False, description="Use the first match of regexp / insertafter / insertbefore instead of the last.")
    backrefs: bool = Field(False, description="line may use \\1 / \\g<name> from regexp; when regexp does not match, nothing changes.")
    create: bool = Field(False, description="Create the file when it does not exist (else that is an error).")
    backup: bool = Field(False, description="Keep the previous file as path.<timestamp>~.")
    validate_cmd: str | None = Field(None, validation_alias="validate", description="Command run on the edited file before it replaces path; %s is the file.")

    @model_validator(mode="after")
    def _combination(self) -> "LineArgs":
        if self.state == "present" and self.line is None:
            raise ValueError("state present needs 'line'")
        if self.state == "absent" and self.line is None and self.regexp is None and self.search_string is None:
            raise ValueError("state absent needs 'regexp', 'search_string' or 'line' to know what to remove")
        if self.regexp is not None and self.search_string is not None:
            raise ValueError("give 'regexp' or 'search_string', not both")
        if self.insertafter is not None and self.insertbefore is not None:
            raise ValueError("give 'insertafter' or 'insertbefore', not both")
        if self.backrefs and self.regexp is None:
            raise ValueError("'backrefs' needs 'regexp'")
        if self.validate_cmd is not None and "%s" not in self.validate_cmd:
            raise ValueError(f"validate command {self.validate_cmd!r} has no %s: it must name the file to check")
        for key in ("regexp", "insertafter", "insertbefore"):
            value = getattr(self, key)
            if value is not None and value not in ("EOF", "BOF"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"{key} {value!r} is not a valid regular expression: {exc}")
        return self


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _pick(indexes: list[int], first: bool) -> int | None:
    if not indexes:
        return None
    return indexes[0] if first else indexes[-1]


def edit(lines: list[str], a: LineArgs) -> tuple[list[str], str]:
    """The file's lines (with their line ends) after the edit, and what was done ('' = nothing)."""
    lines = list(lines)
    pattern = re.compile(a.regexp) if a.regexp is not None else None

    def hit(line: str) -> re.Match | bool | None:
        if pattern is not None:
            return pattern.search(_bare(line))
        if a.search_string is not None:
            return a.search_string in line
        return None

    if a.state == "absent":
        keep = [ln for ln in lines if not (hit(ln) if (pattern or a.search_string is not None) else _bare(ln) == a.line)]
        removed = len(lines) - len(keep)
        return keep, f"{removed} line{'s' if removed != 1 else ''} removed" if removed else ""
    assert a.line is not None
    found = _pick([i for i, ln in enumerate(lines) if hit(ln)], a.firstmatch)
    if found is not None:
        match = hit(lines[found])
        new = match.expand(a.line) if a.backrefs and isinstance(match, re.Match) else a.line
        if _bare(lines[found]) == new:
            return lines, ""
        lines[found] = new + (lines[found][len(_bare(lines[found])) :] or "\n")
        return lines, "line replaced"
    if a.backrefs or any(_bare(ln) == a.line for ln in lines):
        return lines, ""
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    anchor = a.insertafter or a.insertbefore
    if anchor == "BOF":
        pos = 0
    elif anchor in (None, "EOF"):
        pos = len(lines)
    else:
        at = _pick([i for i, ln in enumerate(lines) if re.search(anchor, _bare(ln))], a.firstmatch)
        pos = len(lines) if at is None else at + (1 if a.insertafter else 0)
    lines.insert(pos, a.line + "\n")
    return lines, "line added"


@register
class LineInFileModule(Module[LineArgs]):
    """Ensure a line is in (or absent from) a text file."""

    name = "lineinfile"
    Args = LineArgs

    def check(self, ctx: TaskContext, args: LineArgs) -> Change | None:
        st = hostfiles.stat(ctx, args.path)
        if st.kind == "link":
            # edit the file the link points to (/etc/resolv.conf and friends); the link stays
            real = ctx.probe(f"readlink -f {shlex.quote(args.path)}").stdout.strip()
            st = hostfiles.stat(ctx, real or args.path)
            args = args.model_copy(update={"path": st.path})
        if st.exists and st.kind != "file":
            raise ModuleFailure(f"{args.path} is a {st.kind}, not a file")
        if not st.exists:
            if args.state == "absent":
                return None
            if not args.create and not (ctx.check_mode and ctx.earlier_changes_pending):
                raise ModuleFailure(f"{args.path} does not exist", hint="set create: true to create it")
        old = (hostfiles.read(ctx, args.path) or b"") if st.exists else b""
        text = old.decode("utf-8", "surrogateescape")
        lines, what = edit(text.splitlines(keepends=True), args)
        if not what and st.exists:
            ac = attr_change(ctx, st, args.mode, args.owner, args.group)
            if ac is None:
                return None
            return Change(", ".join(ac.notes), [ac.diff()], {"plan": FilePlan(args.path, b"", 0, "", False, attrs=ac)})
        new = "".join(lines)
        data = new.encode("utf-8", "surrogateescape")
        ensure_principals(ctx, args.owner, args.group)
        mode = resolve_mode(args.mode, st.mode or 0o644, False) if args.mode else None
        plan = FilePlan(args.path, data, len(data), hashlib.sha256(data).hexdigest(), True, mode=mode)
        summary = f"{what or 'create'} in {args.path}" if st.exists else f"create {args.path} ({what or 'empty'})"
        return Change(summary, [Diff(args.path, text if st.exists else "", new)], {"plan": plan})

    def apply(self, ctx: TaskContext, args: LineArgs, change: Change) -> None:
        backup = apply_plan(ctx, args, change.data["plan"])
        if backup:
            ctx.report(backup_file=backup)
