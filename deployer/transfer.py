"""Big artefacts to hosts: verified, resumable, fast, skipped when already there.

- The local digest is computed once per file version (cached by path, size and
  mtime in ~/.cache/deployer/digests.json), never on every run.
- On the host, a finished file has a small marker beside it
  (``.<name>.deployer-sha256``) recording digest, size and mtime: a rerun
  compares the marker, never re-hashing gigabytes.
- Data goes to ``<dest>.part`` and is renamed over ``dest`` only after its
  size and sha256 matched: an interrupted push never leaves a half file at the
  final path. The ``.part`` (with ``.part.want``, the digest it is for, and
  ``.part.sum``) stays behind on purpose: a rerun keeps what arrived (minus
  the last, possibly torn, chunk) and sends only the rest.
- The host hashes while it receives (``tee`` into ``openssl sha256``, or
  ``sha256sum`` where there is no openssl), so verifying costs no extra pass.
- Speed: bulk data goes through the system OpenSSH client when there is one
  (``SSHConnection.bulk()``, AES-GCM, same host-key checks), else the
  paramiko channel. Free space is checked before anything is sent.
- ``transfer="relay"``: hosts that have the artefact (or are receiving it)
  forward it to the next ones, so the control node sends it about once; see
  :mod:`deployer.relay`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deployer.connection import Connection
from deployer.errors import InputError, Location, ModuleFailure, NotStaged
from deployer.modules.base import TaskContext

#: resume granularity: at most this much is sent twice after an interruption
CHUNK = 8 << 20
#: below this size a new OpenSSH process costs more than paramiko's slower crypto
BULK_MIN = 4 << 20
Transfer = Literal["direct", "relay"]
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class LocalArtifact:
    """A file on the control machine with its size and sha256."""

    path: Path
    size: int
    sha256: str


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "deployer" / "digests.json"


def _cache_key(p: Path, st: os.stat_result) -> str:
    return f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _read_cache() -> dict[str, str]:
    try:
        return json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _store(entries: dict[str, str]) -> None:
    """Add digests to the cache file (atomically; concurrent writers each keep theirs)."""
    cache_path = _cache_file()
    with _cache_lock:
        cache = _read_cache()
        cache.update(entries)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        os.replace(tmp, cache_path)


def remember(files: dict[Path, str]) -> None:
    """Record digests the caller has just verified (a download checked against
    its sha256), so that pushing these files does not hash them again."""
    entries = {}
    for path, digest in files.items():
        try:
            entries[_cache_key(path, path.stat())] = digest.removeprefix("sha256:")
        except FileNotFoundError:
            continue
    if entries:
        _store(entries)


def local_artifact(path: str | Path, expected_sha256: str | None = None) -> LocalArtifact:
    """Size and digest of a local file (digest cached per file version)."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise NotStaged(f"{p} is not there", str(p), "stage it first (deployer stage) or fix the path")
    if not p.is_file():
        raise InputError("artefact is not a regular file", Location(str(p)))
    key = _cache_key(p, st)
    with _cache_lock:
        digest = _read_cache().get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(4 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _store({key: digest})
    if expected_sha256 and expected_sha256.lower() != digest:
        raise InputError(
            f"sha256 mismatch: the file has {digest}, sha256sum.txt says {expected_sha256.lower()}",
            Location(str(p)),
            "the download is corrupt or belongs to another release: fetch it again",
        )
    return LocalArtifact(p, st.st_size, digest)


def marker_path(dest: str) -> str:
    """The digest marker beside a pushed file."""
    d, _, name = dest.rpartition("/")
    return f"{d or '.'}/.{name}.deployer-sha256"


@dataclass(frozen=True)
class HostState:
    """What the host has of one artefact at `dest`, from one probe."""

    present: bool
    part_size: int | None  # bytes of a .part meant for this digest, or None
    free: int | None  # bytes free where dest goes (None: unknown)
    free_dir: str  # the existing directory `free` was measured in
    python3: bool  # can serve and receive relayed data

    def offset(self, size: int) -> int:
        """Where to resume: what arrived, less the last (possibly torn) chunk."""
        have = min(self.part_size or 0, size)
        return have - have % CHUNK


def probe_state(ctx: TaskContext, art: LocalArtifact, dest: str) -> HostState:
    """Marker, partial upload and free space in one read-only round trip."""
    q, m, part = shlex.quote(dest), shlex.quote(marker_path(dest)), shlex.quote(dest + ".part")
    script = (
        f"if [ -f {q} ] && [ -f {m} ]; then printf 'marker %s %s\\n' \"$(cat {m})\" \"$(stat -c '%s %Y' {q})\"; fi; "
        f"if [ -f {part} ] && [ -f {part}.want ]; then printf 'part %s %s\\n' \"$(cat {part}.want)\" \"$(stat -c %s {part})\"; fi; "
        f"d=$(dirname {q}); while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done; "
        "printf 'free %s %s\\n' \"$(df -P -k \"$d\" | awk 'NR==2 {print $4}')\" \"$d\"; "
        "command -v python3 >/dev/null 2>&1 && echo python3; true"
    )
    res = ctx.probe(script)
    present, part_size, free, free_dir, python3 = False, None, None, "/", False
    for line in res.stdout.splitlines():
        words = line.split()
        if words[:1] == ["marker"] and len(words) >= 6:
            digest, size, mtime, cur_size, cur_mtime = words[1:6]
            present = digest == art.sha256 and size == cur_size == str(art.size) and mtime == cur_mtime
        elif words[:1] == ["part"] and len(words) >= 3 and words[1] == art.sha256:
            part_size = int(words[2])
        elif words[:1] == ["free"] and len(words) >= 3:
            free = int(words[1]) * 1024 if words[1].isdigit() else None
            free_dir = line.split(" ", 2)[2]
        elif line == "python3":
            python3 = True
    return HostState(present, part_size, free, free_dir, python3)


def remote_state(ctx: TaskContext, art: LocalArtifact, dest: str) -> str:
    """'present' (marker matches), 'partial:<bytes>' (a .part to resume) or 'absent'. Read-only."""
    st = probe_state(ctx, art, dest)
    if st.present:
        return "present"
    if st.part_size is not None:
        return f"partial:{st.part_size}"
    return "absent"


def human(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_space(ctx: TaskContext, art: LocalArtifact, dest: str, st: HostState, offset: int) -> None:
    """Refuse before sending when the host's filesystem cannot hold the rest."""
    need = art.size - offset
    if st.free is not None and need > st.free:
        raise ModuleFailure(
            f"{ctx.host}: not enough space for {dest}: {human(need)} ({need} bytes) still to send, "
            f"{st.free_dir} has {human(st.free)} ({st.free} bytes) free",
            hint="free some space there or choose another destination; nothing was sent",
        )


def receive_script(art: LocalArtifact, dest: str, offset: int, source: str = "cat") -> str:
    """Shell text that cuts dest.part to `offset`, appends what `source` prints
    and hashes the whole .part (prefix and new data) into dest.part.sum."""
    part = shlex.quote(dest + ".part")
    hasher = "if command -v openssl >/dev/null 2>&1; then openssl sha256 -r; else sha256sum; fi"
    return (
        f"mkdir -p \"$(dirname {part})\" && printf '%s\\n' {art.sha256} > {part}.want && "
        f"truncate -s {offset} {part} && "
        f"{{ cat {part} && {source} | tee -a {part}; }} | {{ {hasher}; }} | cut -c1-64 > {part}.sum && "
        # the pipeline's status is cut's: the size tells whether everything arrived
        f"{{ n=$(stat -c %s {part}); [ \"$n\" -eq {art.size} ] || {{ echo \"short: $n of {art.size} bytes arrived\" >&2; exit 3; }}; }}"
    )


def _conn(ctx: TaskContext) -> Connection:
    if ctx.connection is None:
        raise RuntimeError("transfer needs a connection")
    return ctx.connection


def upload(ctx: TaskContext, art: LocalArtifact, dest: str, offset: int, label: str) -> None:
    """Send the artefact from `offset` into dest.part (hashing as it lands)."""
    ctx.require_writable(f"upload {dest}")
    conn = _conn(ctx)
    bulk = getattr(conn, "bulk", None)
    if callable(bulk) and art.size - offset >= BULK_MIN:
        conn = bulk()
    progress = None
    if ctx.progress_sink is not None:
        sink, total = ctx.progress_sink, art.size - offset

        def progress(done: int) -> None:
            sink(ctx.host, done, total, label)

    with open(art.path, "rb") as fh:
        fh.seek(offset)
        res = conn.run(
            receive_script(art, dest, offset),
            stdin=fh,
            become=ctx.become,
            env=ctx.env or None,
            timeout=600 + (art.size - offset) / (1 << 20),
            progress=progress,
        )
    if not res.ok:
        raise ModuleFailure(f"upload of {art.path.name} to {dest} failed: {res.tail(3)}", hint="rerun: the upload resumes")


def finish(ctx: TaskContext, art: LocalArtifact, dest: str, mode: str, owner: str | None) -> None:
    """Check size and digest of dest.part, then rename it over dest and write the marker."""
    q, part, m = shlex.quote(dest), shlex.quote(dest + ".part"), shlex.quote(marker_path(dest))
    chown = f"chown {shlex.quote(owner)} {part} && " if owner else ""
    script = (
        f"[ \"$(stat -c %s {part})\" -eq {art.size} ] || {{ echo \"size mismatch: $(stat -c %s {part}) != {art.size}\" >&2; exit 3; }}; "
        f"[ \"$(cat {part}.sum 2>/dev/null)\" = {art.sha256} ] || "
        f"{{ echo \"sha256 mismatch: $(cat {part}.sum 2>/dev/null) != {art.sha256}\" >&2; rm -f {part} {part}.want {part}.sum; exit 4; }}; "
        f"chmod {shlex.quote(mode)} {part} && {chown}mv -f {part} {q} && rm -f {part}.want {part}.sum && "
        f"printf '%s %s %s\\n' {art.sha256} {art.size} \"$(stat -c %Y {q})\" > {m}"
    )
    res = ctx.run(script)
    if not res.ok:
        raise ModuleFailure(f"verifying {dest} failed: {res.tail(3)}", hint="rerun to send it again")


def push(
    ctx: TaskContext,
    art: LocalArtifact,
    dest: str,
    mode: str = "0644",
    owner: str | None = None,
    label: str | None = None,
    transfer: Transfer = "direct",
) -> bool:
    """Make `dest` on the host hold exactly `art`; returns False when it already did.

    transfer="relay": this host may get the artefact from another host of the
    run that has it (see deployer.relay); the control node sends it only to
    the first ones.
    """
    label = label or f"push {art.path.name}"
    if transfer == "relay":
        from deployer import relay

        return relay.push(ctx, art, dest, mode, owner, label)
    st = probe_state(ctx, art, dest)
    if st.present:
        return False
    offset = st.offset(art.size)
    check_space(ctx, art, dest, st, offset)
    upload(ctx, art, dest, offset, label)
    finish(ctx, art, dest, mode, owner)
    return True


def forget(ctx: TaskContext, dest: str) -> None:
    """Remove a pushed file, its marker and any partial upload."""
    q = shlex.quote(dest)
    ctx.run(f"rm -f {q} {shlex.quote(marker_path(dest))} {q}.part {q}.part.want {q}.part.sum").check(f"remove {dest}")
