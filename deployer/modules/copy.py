"""copy: put a file, a directory tree or inline content on the host, as ansible.builtin.copy.

Idempotent by sha256 (on the host vs. on the control machine), atomic (a
temporary file beside dest, checked for size and digest, renamed over it) and
streamed: a local file is never read into memory whole, whatever its size.
Mode/owner/group differences on an identical file are fixed without rewriting it.
The planning here (plan_file) is shared with the template module.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Diff, Module, TaskContext
from deployer.modules.file import (
    MODE_DOC,
    AttrArgs,
    AttrChange,
    apply_attrs,
    attr_change,
    attr_commands,
    check_mode_spec,
    ensure_principals,
    resolve_mode,
    run_script,
)

#: files larger than this get no --diff (nor binary ones)
DIFF_LIMIT = 256 << 10


class WriteArgs(AttrArgs):
    """What copy and template share: where the file goes and how it is replaced."""

    dest: str = Field(description="Path on the host. A path ending in '/' or an existing directory: the file goes into it.")
    mode: str | None = Field(None, description=MODE_DOC + " 'preserve': the mode of the source file.")
    force: bool = Field(True, description="false: only write dest when it does not exist yet.")
    backup: bool = Field(False, description="Keep the replaced file as dest.<timestamp>~ (its name is reported as backup_file).")
    validate_cmd: str | None = Field(
        None,
        validation_alias="validate",
        description="Command run on the new file before it replaces dest; %s is the temporary file, e.g. 'visudo -cf %s'.",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> str | None:
        return check_mode_spec(v, allow_preserve=True)

    @field_validator("validate_cmd")
    @classmethod
    def _validate(cls, v: str | None) -> str | None:
        if v is not None and "%s" not in v:
            raise ValueError(f"validate command {v!r} has no %s: it must name the file to check, e.g. 'visudo -cf %s'")
        return v


class CopyArgs(WriteArgs):
    src: str | None = Field(
        None,
        description="File or directory on the control machine (relative: to the playbook's directory). "
        "A directory is copied recursively: 'dir/' copies its contents into dest, 'dir' the directory itself.",
    )
    content: str | None = Field(None, description="The file's content, instead of src.")
    directory_mode: str | None = Field(None, description="Mode of directories created when copying a directory (default 0755).")

    @field_validator("directory_mode", mode="before")
    @classmethod
    def _dir_mode(cls, v: Any) -> str | None:
        return check_mode_spec(v)

    @model_validator(mode="after")
    def _one_source(self) -> "CopyArgs":
        if (self.src is None) == (self.content is None):
            raise ValueError("give exactly one of 'src' (a local file) and 'content' (inline text)")
        if self.content is not None and self.dest.endswith("/"):
            raise ValueError(f"dest {self.dest!r} is a directory: with 'content', dest must name the file")
        return self


@dataclass
class FilePlan:
    """One file to put on the host, decided by check()."""

    dest: str
    source: bytes | Path
    size: int
    sha256: str
    write: bool
    mode: int | None = None
    attrs: AttrChange | None = None


def local_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return path.stat().st_size, h.hexdigest()


def _text(data: bytes | None) -> str | None:
    """Decoded text for a diff, or None for binary or large data."""
    if data is None or len(data) > DIFF_LIMIT or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _head(source: bytes | Path, size: int) -> bytes | None:
    if size > DIFF_LIMIT:
        return None
    return source if isinstance(source, bytes) else source.read_bytes()


def plan_file(
    ctx: TaskContext,
    args: WriteArgs,
    dest: str,
    source: bytes | Path,
    local_mode: int | None = None,
    st: hostfiles.FileStat | None = None,
) -> tuple[FilePlan | None, list[str], list[Diff]]:
    """Compare one wanted file with the host's: the plan (None: as wanted), notes, diffs.

    `st` is dest's stat with checksum when the caller has it already (one round trip less)."""
    size, digest = (len(source), hashlib.sha256(source).hexdigest()) if isinstance(source, bytes) else local_digest(source)
    if st is None or st.path != dest:
        st = hostfiles.stat(ctx, dest, checksum=True)
    if st.kind == "directory":
        raise ModuleFailure(f"dest {dest} is a directory", hint="name the file, or end dest with '/' to copy into it")
    if st.exists and not args.force:
        return None, [], []
    spec = f"{local_mode:04o}" if args.mode == "preserve" and local_mode is not None else args.mode
    spec = None if spec == "preserve" else spec
    if st.kind == "file" and st.sha256 == digest:
        ac = attr_change(ctx, st, spec, args.owner, args.group)
        if ac is None:
            return None, [], []
        return FilePlan(dest, source, size, digest, False, attrs=ac), ac.notes, []
    ensure_principals(ctx, args.owner, args.group)
    if not st.exists and not (ctx.check_mode and ctx.earlier_changes_pending):
        parent = posixpath.dirname(dest.rstrip("/")) or "/"
        if hostfiles.stat(ctx, parent).kind not in ("directory", "link"):
            raise ModuleFailure(f"directory {parent} (for dest {dest}) does not exist", hint="create it first (file: state=directory)")
    base = st.mode if st.kind == "file" and st.mode is not None else 0o644
    mode = resolve_mode(spec, base, False) if spec else None
    notes = [f"update {dest} (content differs)" if st.exists else f"create {dest} ({size} bytes)"]
    diffs = []
    if ctx.diff_mode:
        after = _text(_head(source, size))
        before = "" if not st.exists else _text(hostfiles.read(ctx, dest)) if (st.size or 0) <= DIFF_LIMIT else None
        if before is not None and after is not None:
            diffs.append(Diff(dest, before, after))
        else:
            notes.append("binary or larger than 256 KiB: no diff")
    return FilePlan(dest, source, size, digest, True, mode=mode), notes, diffs


def apply_plan(ctx: TaskContext, args: AttrArgs, plan: FilePlan) -> str | None:
    """Make one file as planned; returns the backup's name, if one was made.

    `args` gives owner/group and, where the module has them, validate and backup.
    """
    if not plan.write:
        assert plan.attrs is not None
        apply_attrs(ctx, plan.attrs)
        return None
    options: dict[str, Any] = dict(
        mode=plan.mode,
        owner=args.owner,
        group=args.group,
        validate=getattr(args, "validate_cmd", None),
        backup=getattr(args, "backup", False),
    )
    if isinstance(plan.source, bytes):
        return hostfiles.write_stream(ctx, plan.dest, plan.source, plan.size, plan.sha256, **options)
    with plan.source.open("rb") as f:
        return hostfiles.write_stream(ctx, plan.dest, f, plan.size, plan.sha256, label=plan.dest, **options)


def into_dir(ctx: TaskContext, dest: str, name: str) -> tuple[str, hostfiles.FileStat | None]:
    """dest itself, or dest/name when dest ends in '/' or is a directory on the host;
    with dest's stat (checksum included) when it was read, for plan_file."""
    if dest.endswith("/"):
        return posixpath.join(dest, name), None
    st = hostfiles.stat(ctx, dest, checksum=True)
    if st.kind == "directory":
        return posixpath.join(dest, name), None
    return dest, st


@register
class CopyModule(Module[CopyArgs]):
    """Copy a local file or directory, or inline content, to the host."""

    name = "copy"
    Args = CopyArgs

    def check(self, ctx: TaskContext, args: CopyArgs) -> Change | None:
        if args.content is not None:
            plan, notes, diffs = plan_file(ctx, args, args.dest, args.content.encode("utf-8"))
            return Change("; ".join(notes), diffs, {"mkdirs": [], "files": [plan]}) if plan else None
        src = ctx.local_path(args.src or "")
        if not src.exists():
            raise ModuleFailure(f"src {args.src!r} not found on the control machine (looked at {src})")
        if src.is_dir():
            return self._check_tree(ctx, args, src)
        dest, st = into_dir(ctx, args.dest, src.name)
        plan, notes, diffs = plan_file(ctx, args, dest, src, local_mode=src.stat().st_mode & 0o7777, st=st)
        return Change("; ".join(notes), diffs, {"mkdirs": [], "files": [plan]}) if plan else None

    def _check_tree(self, ctx: TaskContext, args: CopyArgs, src: Path) -> Change | None:
        root = args.dest if (args.src or "").endswith("/") else posixpath.join(args.dest, src.name)
        dir_mode = resolve_mode(args.directory_mode, 0o755, True) if args.directory_mode else 0o755
        mkdirs: list[str] = []
        plans: list[FilePlan] = []
        notes: list[str] = []
        diffs: list[Diff] = []
        for here, dirnames, filenames in os.walk(src):
            dirnames.sort()
            rel = os.path.relpath(here, src)
            target = root if rel == "." else posixpath.join(root, rel)
            kind = "absent" if any(target.startswith(m + "/") for m in mkdirs) else hostfiles.stat(ctx, target).kind
            if kind == "absent":
                mkdirs.append(target)
            elif kind != "directory":
                raise ModuleFailure(f"{target} exists and is a {kind}, not a directory")
            for name in sorted(filenames):
                path = Path(here) / name
                plan, file_notes, file_diffs = self._plan_new_or(ctx, args, posixpath.join(target, name), path, target in mkdirs)
                if plan:
                    plans.append(plan)
                    notes += file_notes
                    diffs += file_diffs
        if not plans and not mkdirs:
            return None
        summary = f"copy {src} to {root}: " + "; ".join([f"create directory {d}" for d in mkdirs] + notes)
        return Change(summary, diffs, {"mkdirs": mkdirs, "dir_mode": dir_mode, "files": plans})

    def _plan_new_or(self, ctx: TaskContext, args: CopyArgs, dest: str, path: Path, parent_new: bool):
        if not parent_new:
            return plan_file(ctx, args, dest, path, local_mode=path.stat().st_mode & 0o7777)
        # a file in a directory that does not exist yet: nothing on the host to compare
        size, digest = local_digest(path)
        spec = f"{path.stat().st_mode & 0o7777:04o}" if args.mode == "preserve" else args.mode
        mode = resolve_mode(spec, 0o644, False) if spec else None
        diffs = [Diff(dest, "", text)] if ctx.diff_mode and (text := _text(_head(path, size))) is not None else []
        return FilePlan(dest, path, size, digest, True, mode=mode), [f"create {dest} ({size} bytes)"], diffs

    def apply(self, ctx: TaskContext, args: CopyArgs, change: Change) -> None:
        if change.data["mkdirs"]:
            steps = []
            for d in change.data["mkdirs"]:
                steps.append(f"mkdir -p -- {shlex.quote(d)}")
                steps += attr_commands(AttrChange(d, change.data["dir_mode"], args.owner, args.group))
            run_script(ctx, steps, f"create {', '.join(change.data['mkdirs'])}")
        backups = [b for plan in change.data["files"] if (b := apply_plan(ctx, args, plan))]
        files = change.data["files"]
        ctx.report(dest=files[0].dest if len(files) == 1 else args.dest)
        if len(files) == 1:
            ctx.report(checksum=files[0].sha256, size=files[0].size)
        if backups:
            ctx.report(backup_file=backups[0] if len(backups) == 1 else backups)
