"""file: a path's kind (file, directory, link, hard link, absent, touched) and its
mode/owner/group, as ansible.builtin.file.

The attribute handling here (``mode``/``owner``/``group`` arguments, octal and
symbolic modes, the check and apply of attribute changes) is shared by every
module that writes files: copy, template, lineinfile.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from deployer import hostfiles
from deployer.errors import ModuleFailure
from deployer.hostfiles import FileStat
from deployer.modules import register
from deployer.modules.base import Change, Diff, Module, ModuleArgs, TaskContext

# -- modes -------------------------------------------------------------------------

_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)")
_ACTION = re.compile(r"([-+=])([rwxXst]*|[ugo])")
_SHIFT = {"u": 6, "g": 3, "o": 0}
_SPECIAL = {"u": 0o4000, "g": 0o2000, "o": 0o1000}


def _plausible(mode: int) -> bool:
    """A mode people write: no special bits, each class empty or readable, u >= g >= o."""
    if mode >= 0o1000:
        return False
    u, g, o = (mode >> 6) & 7, (mode >> 3) & 7, mode & 7
    if any(c and not c & 4 for c in (u, g, o)):
        return False
    return (u | g) == u and (g | o) == g


def check_mode_spec(value: Any, allow_preserve: bool = False) -> str | None:
    """Validate a mode argument; returns it as a string ('0644' or a symbolic mode).

    YAML reads ``0644`` as the octal number 420 (fine) but ``644`` as the decimal
    number 644, which as a mode is 0o1204: an int whose decimal digits look like
    a mode the writer meant is refused with the fix (quote it).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"mode {value!r} is not a mode: write it as a quoted octal string like '0644'")
    if isinstance(value, int):
        digits = str(value)
        if len(digits) >= 3 and set(digits) <= set("01234567") and _plausible(int(digits, 8)):
            raise ValueError(
                f"mode {value} is read by YAML as the decimal number {value} (octal {value:#o}), "
                f"not as 0{digits}: quote it, e.g. mode: '0{digits}'"
            )
        if not 0 <= value <= 0o7777:
            raise ValueError(f"mode {value} is out of range: write it as a quoted octal string like '0644'")
        return f"{value:04o}"
    text = str(value).strip()
    if allow_preserve and text == "preserve":
        return text
    if re.fullmatch(r"0?[0-7]{3,4}|0o[0-7]{3,4}", text):
        number = int(text.removeprefix("0o"), 8)
        if number > 0o7777:
            raise ValueError(f"mode '{text}' is out of range (at most 07777)")
        return f"{number:04o}"
    if all(_CLAUSE.fullmatch(c) for c in text.split(",")):
        return text
    extra = " or 'preserve'" if allow_preserve else ""
    raise ValueError(f"mode '{text}' is neither octal ('0644') nor symbolic ('u=rw,g=r,o=r', 'u+x'){extra}")


def _perm_bits(perms: str, who: str, mode: int, is_dir: bool) -> int:
    if perms in ("u", "g", "o"):  # copy another class's bits: g=u
        base = (mode >> _SHIFT[perms]) & 7
        return sum(base << _SHIFT[w] for w in who)
    bits = 0
    for w in who:
        for p in perms:
            if p in "rwxX":
                value = {"r": 4, "w": 2, "x": 1}.get(p, 1 if is_dir or mode & 0o111 else 0)
                bits |= value << _SHIFT[w]
            elif p == "s" and w in "ug" or p == "t" and w == "o":
                bits |= _SPECIAL[w]
    return bits


def resolve_mode(spec: str, current: int, is_dir: bool) -> int:
    """The mode `spec` gives a path whose mode is `current` (chmod's rules; no who = a, no umask)."""
    if re.fullmatch(r"[0-7]{4}", spec):
        return int(spec, 8)
    mode = current & 0o7777
    for clause in spec.split(","):
        m = _CLAUSE.fullmatch(clause)
        assert m is not None, spec  # check_mode_spec validated it
        who = m.group(1).replace("a", "ugo") or "ugo"
        mask = sum((7 << _SHIFT[w]) | _SPECIAL[w] for w in set(who))
        for op, perms in _ACTION.findall(m.group(2)):
            bits = _perm_bits(perms, who, mode, is_dir)
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~mask) | bits
    return mode


def chmod_spec(spec: str) -> str:
    """`spec` for chmod -R: a clause without who gets 'a' (chmod would apply the umask)."""
    if re.fullmatch(r"[0-7]{4}", spec):
        return spec
    return ",".join(c if c[0] in "ugoa" else "a" + c for c in spec.split(","))


# -- attributes shared by file-writing modules ----------------------------------------

MODE_DOC = (
    "Permissions: a quoted octal string ('0644') or a symbolic mode ('u=rw,g=r,o=r', 'u+x'). "
    "An unquoted 644 is refused: YAML reads it as a decimal number."
)


class AttrArgs(ModuleArgs):
    """mode/owner/group, as Ansible's files fragment."""

    mode: str | None = Field(None, description=MODE_DOC)
    owner: str | None = Field(None, description="User that should own the path: a name or a numeric uid.")
    group: str | None = Field(None, description="Group that should own the path: a name or a numeric gid.")

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> str | None:
        return check_mode_spec(v)

    @field_validator("owner", "group", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


@dataclass
class AttrChange:
    """Attribute fixes for one existing path: found by attr_change(), made by apply_attrs()."""

    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    notes: list[str] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)

    def note(self, key: str, old: str, new: str) -> None:
        self.notes.append(f"{key} {old} -> {new}")
        self.before[key], self.after[key] = old, new

    def diff(self) -> Diff:
        return Diff(self.path, _lines(self.before), _lines(self.after))

    def to_change(self) -> Change:
        """This attribute fix as a module's Change (apply runs data["steps"])."""
        return Change(", ".join(self.notes), [self.diff()], {"steps": attr_commands(self)})


def _lines(values: dict[str, str]) -> str:
    return "".join(f"{k}: {v}\n" for k, v in values.items())


def ensure_principals(ctx: TaskContext, owner: str | None, group: str | None) -> None:
    """Fail in check() when the owner or group does not exist on the host.

    Under --check an earlier task may be about to create them: no failure then.
    """
    tests = []
    if owner and not owner.isdigit():
        tests.append(f"getent passwd {shlex.quote(owner)} >/dev/null || echo user {shlex.quote(owner)}")
    if group and not group.isdigit():
        tests.append(f"getent group {shlex.quote(group)} >/dev/null || echo group {shlex.quote(group)}")
    if not tests:
        return
    missing = ctx.probe("; ".join(tests)).stdout.split()
    if missing and not (ctx.check_mode and ctx.earlier_changes_pending):
        kind, name = missing[0], missing[1]
        raise ModuleFailure(
            f"{'owner' if kind == 'user' else 'group'} '{name}': no such {kind} on {ctx.host}",
            hint=f"create the {kind} first or fix the name",
        )


def attr_change(ctx: TaskContext, st: FileStat, mode: str | None, owner: str | None, group: str | None) -> AttrChange | None:
    """What to change on the existing path `st` for these attributes (None: nothing)."""
    ensure_principals(ctx, owner, group)
    ac = AttrChange(st.path)
    if mode is not None and st.mode is not None:
        want = resolve_mode(mode, st.mode, st.kind == "directory")
        if want != st.mode:
            ac.mode = want
            ac.note("mode", f"{st.mode:04o}", f"{want:04o}")
    uid = gid = ""
    if (owner or "").isdigit() or (group or "").isdigit():
        uid, _, gid = ctx.probe(f"stat -c '%u %g' {shlex.quote(st.path)}").stdout.strip().partition(" ")
    if owner and owner not in (st.owner, uid):
        ac.owner = owner
        ac.note("owner", str(st.owner), owner)
    if group and group not in (st.group, gid):
        ac.group = group
        ac.note("group", str(st.group), group)
    return ac if ac.notes else None


def chown_spec(owner: str | None, group: str | None) -> str:
    return (owner or "") + (f":{group}" if group else "")


def attr_commands(ac: AttrChange) -> list[str]:
    """The shell commands that make `ac`."""
    q = shlex.quote(ac.path)
    steps = []
    if ac.mode is not None:
        steps.append(f"chmod {ac.mode:04o} {q}")
    if ac.owner or ac.group:
        steps.append(f"chown -h {shlex.quote(chown_spec(ac.owner, ac.group))} {q}")
    return steps


def run_script(ctx: TaskContext, steps: list[str], what: str) -> None:
    """Run the commands check() planned, stopping at the first failure."""
    res = ctx.run(" && ".join(steps))
    if not res.ok:
        raise ModuleFailure(f"cannot {what}: {res.tail(3)}", data={"rc": res.rc, "stderr": res.stderr})


def apply_attrs(ctx: TaskContext, ac: AttrChange) -> None:
    """Make the attribute change attr_change() found."""
    run_script(ctx, attr_commands(ac), f"set {', '.join(ac.notes)} on {ac.path}")


# -- the file module ------------------------------------------------------------------

FileState = Literal["file", "directory", "link", "hard", "absent", "touch"]


class FileArgs(AttrArgs):
    path: str = Field(
        validation_alias=AliasChoices("path", "dest", "name"),
        description="Path on the host to manage (aliases: dest, name).",
    )
    state: FileState | None = Field(
        None,
        description="file: must exist (only attributes change); directory: created with parents; "
        "link / hard: a symbolic / hard link to src; absent: removed (directories recursively); "
        "touch: created empty if missing, else its times updated (always a change). "
        "Default: the path's current kind, else file.",
    )
    src: str | None = Field(None, description="Target of the link (state link or hard); relative to the link's directory for symbolic links.")
    recurse: bool = Field(False, description="With state directory: set mode/owner/group on everything below path too.")
    force: bool = Field(False, description="state link/hard: replace an existing file, or link to a src that does not exist yet.")

    @model_validator(mode="after")
    def _combination(self) -> "FileArgs":
        if self.state in ("link", "hard") and not self.src:
            raise ValueError(f"state {self.state} needs 'src' (what the link points to)")
        if self.src and self.state not in ("link", "hard"):
            raise ValueError("'src' is only for state link or hard: set state too")
        if self.recurse and self.state not in ("directory", None):
            raise ValueError("'recurse' is only for state directory")
        return self


@register
class FileModule(Module[FileArgs]):
    """Make a path a file, directory or link with the given attributes, or remove it."""

    name = "file"
    Args = FileArgs

    def check(self, ctx: TaskContext, args: FileArgs) -> Change | None:
        st = hostfiles.stat(ctx, args.path)
        state = args.state or ("directory" if args.recurse else {"directory": "directory", "link": "link"}.get(st.kind, "file"))
        q = shlex.quote(args.path)
        if state == "absent":
            if not st.exists:
                return None
            return self._change(f"remove {st.kind} {args.path}", [f"rm -rf -- {q}"], args.path, {"state": st.kind}, {"state": "absent"})
        if state in ("link", "hard"):
            return self._link(ctx, args, st, state)
        if state == "file":
            if not st.exists:
                raise ModuleFailure(
                    f"file {args.path} does not exist; state file only changes an existing file's attributes",
                    hint="use state: touch to create an empty file, or copy/template to write one",
                )
            if st.kind != "file":
                raise ModuleFailure(f"{args.path} is a {st.kind}, not a file", hint="use the state that matches it, or remove it first")
        if state == "directory":
            if st.exists and st.kind != "directory":
                raise ModuleFailure(f"{args.path} exists and is a {st.kind}, not a directory", hint="remove it first (state: absent)")
            if not st.exists:
                return self._mkdirs(ctx, args)
            if args.recurse and (args.mode or args.owner or args.group):
                return self._recurse(ctx, args)
        if state == "touch" and not st.exists:
            mode = resolve_mode(args.mode, 0o644, False) if args.mode else None
            steps = [f"touch -- {q}"] + (attr_commands(AttrChange(args.path, mode, args.owner, args.group)) if args.mode or args.owner or args.group else [])
            ensure_principals(ctx, args.owner, args.group)
            return self._change(f"create empty file {args.path}", steps, args.path, {"state": "absent"}, {"state": "file"})
        ac = attr_change(ctx, st, args.mode, args.owner, args.group)
        steps = attr_commands(ac) if ac else []
        if state == "touch":
            return self._change(
                f"touch {args.path}" + (f" ({', '.join(ac.notes)})" if ac else ""),
                [f"touch -- {q}", *steps], args.path, ac.before if ac else {}, ac.after if ac else {},
            )  # fmt: skip
        return ac.to_change() if ac else None

    def _change(self, summary: str, steps: list[str], path: str, before: dict[str, str], after: dict[str, str]) -> Change:
        return Change(summary, [Diff(path, _lines(before), _lines(after))], {"steps": steps})

    def _mkdirs(self, ctx: TaskContext, args: FileArgs) -> Change:
        """Create the directory and its missing parents; each new one gets the attributes."""
        ensure_principals(ctx, args.owner, args.group)
        res = ctx.probe(f'p={shlex.quote(args.path)}; while [ ! -e "$p" ] && [ ! -L "$p" ]; do echo "$p"; p=$(dirname "$p"); done; echo "$p"')
        lines = res.stdout.splitlines()
        missing, existing = lines[-2::-1], lines[-1]
        if not (ctx.check_mode and ctx.earlier_changes_pending) and hostfiles.stat(ctx, existing).kind not in ("directory", "link"):
            raise ModuleFailure(f"cannot create directory {args.path}: {existing} is not a directory")
        mode = resolve_mode(args.mode, 0o755, True) if args.mode else None
        steps = []
        for d in missing:
            steps.append(f"mkdir -- {shlex.quote(d)}")
            if mode is not None or args.owner or args.group:
                steps += attr_commands(AttrChange(d, mode, args.owner, args.group))
        return self._change(f"create directory {args.path}", steps, args.path, {"state": "absent"}, {"state": "directory"})

    def _recurse(self, ctx: TaskContext, args: FileArgs) -> Change | None:
        """Attributes for a whole tree, compared per distinct (kind, mode, owner, group)."""
        ensure_principals(ctx, args.owner, args.group)
        res = ctx.probe(f"find {shlex.quote(args.path)} ! -type l -printf '%y %m %u %U %g %G\\n' | sort | uniq -c")
        if not res.ok:
            raise ModuleFailure(f"cannot list {args.path}: {res.tail(3)}")
        counts = {"mode": 0, "owner": 0, "group": 0}
        for line in res.stdout.splitlines():
            n, kind, mode, user, uid, group, gid = line.split()
            if args.mode and resolve_mode(args.mode, int(mode, 8), kind == "d") != int(mode, 8):
                counts["mode"] += int(n)
            if args.owner and args.owner not in (user, uid):
                counts["owner"] += int(n)
            if args.group and args.group not in (group, gid):
                counts["group"] += int(n)
        if not any(counts.values()):
            return None
        q = shlex.quote(args.path)
        steps, notes = [], []
        if counts["mode"]:
            steps.append(f"chmod -R {shlex.quote(chmod_spec(args.mode))} {q}")  # type: ignore[arg-type]
            notes.append(f"mode {args.mode} on {counts['mode']} entries")
        if counts["owner"] or counts["group"]:
            steps.append(f"chown -R -h {shlex.quote(chown_spec(args.owner, args.group))} {q}")
            notes += [f"{k} {getattr(args, k)} on {n} entries" for k, n in counts.items() if k != "mode" and n]
        return Change(f"set {', '.join(notes)} under {args.path}", data={"steps": steps})

    def _link(self, ctx: TaskContext, args: FileArgs, st: FileStat, state: str) -> Change | None:
        src = args.src or ""
        q, qs = shlex.quote(args.path), shlex.quote(src)
        if state == "link":
            if st.kind == "link" and st.link_target == src:
                return self._link_owner(ctx, args, st)
            base = posixpath.dirname(args.path) or "."
            resolved = src if src.startswith("/") else posixpath.join(base, src)
            src_exists = hostfiles.stat(ctx, resolved).exists
        else:
            same = ctx.probe(f"[ {q} -ef {qs} ]").ok
            if same:
                return self._link_owner(ctx, args, st)
            src_exists = hostfiles.stat(ctx, src).exists
        pending = ctx.check_mode and ctx.earlier_changes_pending
        if not src_exists and not pending and (state == "hard" or not args.force):
            raise ModuleFailure(
                f"src {src} does not exist",
                hint="create it first" + (", or set force: true for a dangling link" if state == "link" else ""),
            )
        if st.kind == "directory":
            raise ModuleFailure(f"{args.path} is a directory; not replacing it with a link", hint="remove it first (state: absent)")
        if st.exists and st.kind != "link" and not args.force:
            raise ModuleFailure(f"{args.path} exists and is a {st.kind}; not replacing it with a link", hint="set force: true to replace it")
        steps = [f"ln {'-s ' if state == 'link' else ''}-f -n -- {qs} {q}"]
        if args.owner or args.group:
            steps.append(f"chown -h {shlex.quote(chown_spec(args.owner, args.group))} {q}")
        before = {"state": st.kind} | ({"src": st.link_target or ""} if st.kind == "link" else {})
        kind = "symlink" if state == "link" else "hard link"
        verb = f"point {args.path} at {src} (was {st.link_target})" if st.kind == "link" else f"create {kind} {args.path} -> {src}"
        return self._change(verb, steps, args.path, before, {"state": state, "src": src})

    def _link_owner(self, ctx: TaskContext, args: FileArgs, st: FileStat) -> Change | None:
        """Owner/group of the link itself (stat without -L does not follow it)."""
        if not (args.owner or args.group):
            return None
        user, group = ctx.probe(f"stat -c '%U %G' {shlex.quote(args.path)}").stdout.split()
        ac = attr_change(ctx, replace(st, owner=user, group=group), None, args.owner, args.group)
        return ac.to_change() if ac else None

    def apply(self, ctx: TaskContext, args: FileArgs, change: Change) -> None:
        run_script(ctx, change.data["steps"], change.summary)
