"""Files on a host: stat, read, and atomic writes, each in one round trip.

Writes go to a temporary file beside the target, are checked for their full
size, get their mode and owner, and only then are renamed over the target: an
interrupted write never leaves a half file at the final path.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from dataclasses import dataclass
from typing import BinaryIO

from deployer.errors import ModuleFailure
from deployer.modules.base import TaskContext

_STAT_SCRIPT = r"""p=%(path)s
if [ -L "$p" ]; then printf 'link|'; readlink "$p"; stat -L -c '%%F' "$p" 2>/dev/null || echo dangling
elif [ -e "$p" ]; then stat -c '%%F|%%a|%%U|%%G|%%s|%%Y' "$p"%(hash)s
else echo absent; fi"""


@dataclass(frozen=True)
class FileStat:
    """What is at a path on the host."""

    path: str
    kind: str  # "file", "directory", "link", "other", "absent"
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    mtime: int | None = None
    link_target: str | None = None
    sha256: str | None = None

    @property
    def exists(self) -> bool:
        return self.kind != "absent"

    @property
    def mode_str(self) -> str | None:
        return None if self.mode is None else f"{self.mode:04o}"


def _kind(text: str) -> str:
    text = text.strip()
    if text in ("regular file", "regular empty file"):
        return "file"
    if text == "directory":
        return "directory"
    return "other"


def stat(ctx: TaskContext, path: str, checksum: bool = False) -> FileStat:
    """Stat `path` (not following a final symlink); with checksum, sha256 of a regular file."""
    q = shlex.quote(path)
    hashing = '; if [ -f "$p" ]; then sha256sum "$p" | cut -d" " -f1; fi' if checksum else ""
    res = ctx.probe(_STAT_SCRIPT % {"path": q, "hash": hashing})
    if not res.ok:
        raise ModuleFailure(f"cannot stat {path}: {res.tail(3)}")
    lines = res.stdout.splitlines()
    if not lines or lines[0] == "absent":
        return FileStat(path, "absent")
    if lines[0].startswith("link|"):
        return FileStat(path, "link", link_target=lines[0][5:])
    kind, mode, owner, group, size, mtime = lines[0].split("|")
    digest = lines[1].strip() if checksum and len(lines) > 1 else None
    return FileStat(path, _kind(kind), int(mode, 8), owner, group, int(size), int(mtime), sha256=digest)


def read(ctx: TaskContext, path: str) -> bytes | None:
    """The bytes of a regular file, or None when it does not exist."""
    q = shlex.quote(path)
    res = ctx.probe(f"if [ -f {q} ]; then cat {q}; else exit 3; fi")
    if res.rc == 3:
        return None
    if not res.ok:
        raise ModuleFailure(f"cannot read {path}: {res.tail(3)}")
    return res.stdout_bytes


def write(
    ctx: TaskContext,
    path: str,
    data: bytes,
    mode: str | int | None = None,
    owner: str | None = None,
    group: str | None = None,
) -> None:
    """Atomically replace `path` with `data`; keep the old mode/owner unless given."""
    write_stream(ctx, path, data, len(data), hashlib.sha256(data).hexdigest(), mode=mode, owner=owner, group=group)


def sh_path(path: str) -> str:
    """`path` as one shell word, with a leading ~ expanded by the host's shell ($HOME)."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def expand_home(path: str, home: str) -> str:
    """`path` with a leading ~ replaced by `home` (the host's $HOME, as probed)."""
    if path == "~" or path.startswith("~/"):
        return posixpath.join(home, path[2:]) if len(path) > 1 else home
    return path


def _mode(mode: str | int) -> str:
    if isinstance(mode, int):
        return f"{mode:04o}"
    return mode


def normalize_mode(mode: str | int | None) -> int | None:
    """'0644', '644', 0o644, 'u=rw,g=r,o=r' -> 0o644 (symbolic modes need a base: returns None)."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return mode
    text = str(mode).strip()
    if text.isdigit():
        return int(text, 8)
    return None


def write_stream(
    ctx: TaskContext,
    path: str,
    source: bytes | BinaryIO,
    size: int,
    sha256: str,
    mode: str | int | None = None,
    owner: str | None = None,
    group: str | None = None,
    validate: str | None = None,
    backup: bool = False,
    label: str | None = None,
) -> str | None:
    """Atomically replace `path` with `size` bytes from `source` (bytes or an open file, streamed).

    The temporary file beside `path` must have exactly `size` bytes and the
    `sha256`, then pass `validate` (a command; ``%s`` names the temporary file)
    before it is renamed over `path`. With `backup` an existing `path` is first
    copied to ``path.<timestamp>~``; returns that name (or None).
    """
    # few processes per file (this runs for every file of every host): the shell's own
    # expansions instead of dirname/basename/cut, the size from stat
    steps = [
        f"p={shlex.quote(path)}",
        'case "$p" in */*) d=${p%/*}; d=${d:-/} ;; *) d=. ;; esac; b=${p##*/}',
        't=$(mktemp "$d/.$b.deployer-XXXXXX") || exit 1',
        # a dropped connection (HUP/PIPE) or a kill must not leave the temporary file behind
        "trap 'rm -f \"$t\"' EXIT; trap 'exit 1' HUP PIPE INT TERM",
        'cat > "$t" || exit 1',
        f'n=$(stat -c %s "$t"); [ "$n" -eq {size} ] || {{ echo "short write: $n of {size} bytes" >&2; exit 1; }}',
        f'h=$(sha256sum "$t"); [ "${{h%% *}}" = {sha256} ] || {{ echo "checksum mismatch" >&2; exit 1; }}',
    ]
    if mode is not None:
        steps.append(f'chmod {shlex.quote(_mode(mode))} "$t" || exit 1')
    else:
        steps.append('if [ -e "$p" ]; then chmod --reference="$p" "$t"; else chmod 0644 "$t"; fi || exit 1')
    if owner or group:
        steps.append(f'chown {shlex.quote((owner or "") + (":" + group if group else ""))} "$t" || exit 1')
    else:
        steps.append('[ -e "$p" ] && chown --reference="$p" "$t" 2>/dev/null; true')
    if validate:
        # the validator's own output explains the failure; rc 4 tells it apart
        check = validate.replace("%s", '"$t"')
        steps.append(f'{check} >&2 || {{ echo "validate failed: exit $?" >&2; exit 4; }}')
    if backup:
        steps += [
            'if [ -e "$p" ]; then bk="$p.$(date +%Y-%m-%d@%H:%M:%S)~"; [ -e "$bk" ] && bk="$p.$(date +%Y-%m-%d@%H:%M:%S).$$~"',
            'cp -p "$p" "$bk" || exit 1; echo "backup=$bk"; fi',
        ]
    steps.append('mv -f "$t" "$p" || exit 1')
    res = ctx.run(
        "\n".join(steps),
        stdin=source,
        timeout=600 + size / (1 << 20),
        progress_label=label,
        progress_total=size,
    )
    if res.rc == 4:
        raise ModuleFailure(f"validation of the new {path} failed, it was not replaced: {res.tail(8)}", data={"stderr": res.stderr})
    if not res.ok:
        raise ModuleFailure(f"cannot write {path}: {res.tail(3)}")
    for line in res.stdout.splitlines():
        if line.startswith("backup="):
            return line[len("backup=") :]
    return None
