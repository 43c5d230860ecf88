"""Big artefacts to hosts: verified, resumable, skipped when already there.

- The local digest is computed once per file version (cached by path, size and
  mtime in ~/.cache/deployer/digests.json), never on every run.
- On the host, a finished file has a small marker beside it
  (``.<name>.deployer-sha256``) recording digest, size and mtime: a rerun
  compares the marker, never re-hashing gigabytes.
- Data goes to ``<dest>.part`` and is renamed over ``dest`` only after its
  sha256 matched: an interrupted push never leaves a half file at the final
  path. A rerun keeps what arrived (minus the last, possibly torn, chunk) and
  sends only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import InputError, Location, ModuleFailure
from deployer.modules.base import TaskContext

#: resume granularity: at most this much is sent twice after an interruption
CHUNK = 8 << 20
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


def local_artifact(path: str | Path, expected_sha256: str | None = None) -> LocalArtifact:
    """Size and digest of a local file (digest cached per file version)."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("artefact not found", Location(str(p)), "stage it first (deployer stage) or fix the path")
    if not p.is_file():
        raise InputError("artefact is not a regular file", Location(str(p)))
    key = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_path = _cache_file()
    with _cache_lock:
        cache: dict[str, str] = {}
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        digest = cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(4 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        with _cache_lock:
            try:
                cache = json.loads(cache_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cache = {}
            cache[key] = digest
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(cache), encoding="utf-8")
            os.replace(tmp, cache_path)
    if expected_sha256 and expected_sha256.lower() != digest:
        raise InputError(
            f"sha256 mismatch: the file has {digest}, sha256sum.txt says {expected_sha256.lower()}",
            Location(str(p)),
            "the download is corrupt or belongs to another release: fetch it again",
        )
    return LocalArtifact(p, st.st_size, digest)


def _marker(dest: str) -> str:
    d, _, name = dest.rpartition("/")
    return f"{d or '.'}/.{name}.deployer-sha256"


def remote_state(ctx: TaskContext, art: LocalArtifact, dest: str) -> str:
    """'present' (marker matches), 'partial:<bytes>' (a .part to resume) or 'absent'. Read-only."""
    q, m, part = shlex.quote(dest), shlex.quote(_marker(dest)), shlex.quote(dest + ".part")
    script = (
        f"if [ -f {q} ] && [ -f {m} ]; then printf 'marker %s %s\\n' \"$(cat {m})\" \"$(stat -c '%s %Y' {q})\"; fi; "
        f"if [ -f {part} ] && [ -f {part}.want ]; then printf 'part %s %s\\n' \"$(cat {part}.want)\" \"$(stat -c %s {part})\"; fi; true"
    )
    res = ctx.probe(script)
    for line in res.stdout.splitlines():
        words = line.split()
        if words[:1] == ["marker"] and len(words) >= 6:
            digest, size, mtime, cur_size, cur_mtime = words[1:6]
            if digest == art.sha256 and size == cur_size == str(art.size) and mtime == cur_mtime:
                return "present"
        if words[:1] == ["part"] and len(words) >= 3 and words[1] == art.sha256:
            return f"partial:{int(words[2])}"
    return "absent"


def push(
    ctx: TaskContext,
    art: LocalArtifact,
    dest: str,
    mode: str = "0644",
    owner: str | None = None,
    label: str | None = None,
) -> bool:
    """Make `dest` on the host hold exactly `art`; returns False when it already did."""
    state = remote_state(ctx, art, dest)
    if state == "present":
        return False
    offset = 0
    if state.startswith("partial:"):
        have = min(int(state.split(":", 1)[1]), art.size)
        offset = have - have % CHUNK
    q, part, m = shlex.quote(dest), shlex.quote(dest + ".part"), shlex.quote(_marker(dest))
    prepare = (
        f"mkdir -p \"$(dirname {q})\" && "
        f"printf '%s\\n' {art.sha256} > {part}.want && "
        f"truncate -s {offset} {part}"
    )
    ctx.run(prepare).check(f"prepare {dest}")
    with open(art.path, "rb") as fh:
        fh.seek(offset)
        res = ctx.run(
            f"cat >> {part}",
            stdin=fh,
            progress_label=label or f"push {art.path.name}",
            progress_total=art.size - offset,
        )
    if not res.ok:
        raise ModuleFailure(f"upload of {art.path.name} to {dest} failed: {res.tail(3)}", hint="rerun: the upload resumes")
    chown = f"chown {shlex.quote(owner)} {part} && " if owner else ""
    finish = (
        f"[ \"$(stat -c %s {part})\" -eq {art.size} ] || {{ echo \"size mismatch: $(stat -c %s {part}) != {art.size}\" >&2; exit 3; }}; "
        f"[ \"$(sha256sum {part} | cut -d' ' -f1)\" = {art.sha256} ] || {{ echo 'sha256 mismatch' >&2; rm -f {part} {part}.want; exit 4; }}; "
        f"chmod {shlex.quote(mode)} {part} && {chown}mv -f {part} {q} && rm -f {part}.want && "
        f"printf '%s %s %s\\n' {art.sha256} {art.size} \"$(stat -c %Y {q})\" > {m}"
    )
    res = ctx.run(finish)
    if not res.ok:
        raise ModuleFailure(f"verifying {dest} failed: {res.tail(3)}", hint="rerun to send it again")
    return True


def forget(ctx: TaskContext, dest: str) -> None:
    """Remove a pushed file, its marker and any partial upload."""
    q = shlex.quote(dest)
    ctx.run(f"rm -f {q} {shlex.quote(_marker(dest))} {q}.part {q}.part.want").check(f"remove {dest}")
