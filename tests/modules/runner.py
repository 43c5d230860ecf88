"""Runs one module case for real: build the state, --check (which must change
nothing), the real run, its final state, and a second run."""

from __future__ import annotations

import fnmatch
import grp
import hashlib
import os
import pwd
import shutil
import socket
import stat
import threading
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from deployer import modules, playbook
from deployer.connection import Connection
from deployer.errors import CheckModeViolation, DeployerError, InputError
from deployer.modules.base import Change, TaskContext, execute
from deployer.templating import Templar
from tests.modules.casefile import Case, Entry, Expect

_TEMPLAR = Templar()


@dataclass
class Outcome:
    status: str
    msg: str
    change: Change | None = None
    result: dict[str, Any] = field(default_factory=dict)


class Listener:
    """A TCP port on 127.0.0.1 that can be opened and closed (for wait_for)."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.sock: socket.socket | None = None

    def open(self) -> None:
        if self.sock is not None:
            return
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    @staticmethod
    def _accept(s: socket.socket) -> None:
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None


def subst(value: Any, places: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in places.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {subst(k, places): subst(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [subst(v, places) for v in value]
    if isinstance(value, BaseModel):
        return type(value).model_validate(subst(value.model_dump(), places))
    return value


def _content(entry: Entry) -> bytes:
    if entry.size is not None:
        block = hashlib.sha256(b"deployer").digest() * 32768  # 1 MiB, not compressible to nothing
        return (block * (entry.size // len(block) + 1))[: entry.size]
    return (entry.content or "").encode()


def build(base: Path, entries: dict[str, Any]) -> None:
    """Create files, directories and links under `base` (local paths)."""
    for rel, entry in entries.items():
        path = base / rel.rstrip("/")
        if entry == "dir" or rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                path.symlink_to(entry.link)
                continue
            if entry.size is not None:
                with path.open("wb") as f:  # in 1 MiB pieces: a large case must not need the memory
                    for i in range(0, entry.size, 1 << 20):
                        f.write(_content(Entry(size=min(1 << 20, entry.size - i))))
            else:
                path.write_bytes(_content(entry))
        if isinstance(entry, Entry):
            if entry.mode:
                path.chmod(int(entry.mode, 8))
            if entry.owner or entry.group:
                shutil.chown(path, entry.owner, entry.group)


def snapshot(base: Path) -> dict[str, tuple]:
    """Every path under `base`: kind, mode, owner, content digest, mtime, link target."""
    out: dict[str, tuple] = {}
    for here, dirs, files in os.walk(base):
        for name in dirs + files:
            p = Path(here) / name
            st = p.lstat()
            digest = mtime = target = None
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                mtime = st.st_mtime_ns
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(p)
            out[str(p.relative_to(base))] = (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777, st.st_uid, st.st_gid, digest, mtime, target)
    return out


def verify_final(base: Path, final: dict[str, Any]) -> None:
    for rel, want in final.items():
        if want != "absent" and isinstance(want, Entry) and want.count is not None:
            found = fnmatch.filter([str(p.relative_to(base)) for p in base.rglob("*")], rel)
            assert len(found) == want.count, f"{rel}: {len(found)} matches ({found}), want {want.count}"
            continue
        path = base / rel.rstrip("/")
        if want == "absent":
            assert not path.exists() and not path.is_symlink(), f"{rel} should be absent"
            continue
        assert path.exists() or path.is_symlink(), f"{rel} should exist"
        if want == "dir" or rel.endswith("/"):
            assert path.is_dir() and not path.is_symlink(), f"{rel} should be a directory"
        if not isinstance(want, Entry):
            continue
        st = path.lstat()
        if want.link is not None:
            assert path.is_symlink() and os.readlink(path) == want.link, f"{rel}: link to {os.readlink(path) if path.is_symlink() else 'nothing'}, want {want.link}"
        if want.hardlink is not None:
            assert path.samefile(base / want.hardlink), f"{rel} should be a hard link to {want.hardlink}"
        if want.content is not None or want.size is not None:
            assert path.is_file() and not path.is_symlink(), f"{rel} should be a file"
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            assert got == hashlib.sha256(_content(want)).hexdigest(), f"{rel}: content {path.read_bytes()[:300]!r}"
        if want.mode is not None:
            assert f"{st.st_mode & 0o7777:04o}" == want.mode.rjust(4, "0"), f"{rel}: mode {st.st_mode & 0o7777:04o}, want {want.mode}"
        if want.owner is not None:
            assert pwd.getpwuid(st.st_uid).pw_name == want.owner, f"{rel}: owner {pwd.getpwuid(st.st_uid).pw_name}"
        if want.group is not None:
            assert grp.getgrgid(st.st_gid).gr_name == want.group, f"{rel}: group {grp.getgrgid(st.st_gid).gr_name}"


def expect_invalid(case: Case, args: Any, tmp: Path, expect: Expect) -> None:
    """Bad arguments are refused before any host is touched, naming the key."""
    import yaml

    pb = tmp / "playbook.yml"
    task = {case.module: args}
    pb.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    try:
        playbook.load(pb)
    except InputError as exc:
        text = str(exc)
        assert expect.msg is None or expect.msg in text, f"{text!r} does not mention {expect.msg!r}"
        assert f"{pb}:" in text, f"no file:line in {text!r}"
        return
    raise AssertionError(f"{case.module} accepted bad arguments {args!r}")


def run_phase(case: Case, conn: Connection, args: Any, places: dict[str, str], check: bool, pending: bool) -> Outcome:
    cls = modules.lookup(case.module)
    assert cls is not None
    variables = subst(case.vars, places)
    ctx = TaskContext(
        host=conn.name,
        connection=conn if cls.needs_connection else None,
        vars=variables,
        check_mode=check,
        diff_mode=True,
        base_dir=Path(places["local"]),
        earlier_changes_pending=pending,
        renderer=lambda text, extra: str(_TEMPLAR.render(text, {**variables, **extra})),
    )
    try:
        change = execute(cls(), ctx, cls.Args.model_validate(args))
    except CheckModeViolation:
        raise
    except DeployerError as exc:
        return Outcome("failed", str(exc), None, {**ctx.result, **getattr(exc, "data", {})})
    if change is not None:
        return Outcome("changed", change.summary, change, ctx.result)
    return Outcome("ok", str(ctx.result.get("msg", "")), None, ctx.result)


def check_outcome(got: Outcome, want: Expect, phase: str) -> None:
    where = f"{phase}: {got.status} {got.msg!r}"
    assert got.status == want.status, f"{where}, want {want.status}"
    if want.msg is not None:
        assert want.msg in got.msg, f"{where}: no {want.msg!r} in it"
    if want.diff is not None:
        texts = [t for d in (got.change.diffs if got.change else []) for t in (d.before or "", d.after or "")]
        assert any(want.diff in t for t in texts), f"{phase}: no diff with {want.diff!r}: {texts!r}"
    for key, value in want.report.items():
        assert got.result.get(key) == value, f"{phase}: reported {key}={got.result.get(key)!r}, want {value!r}"


class Phases:
    """Re-arms the case's listener and events before each phase."""

    def __init__(self, case: Case, places: dict[str, str], aux: Path, listener: Listener | None) -> None:
        self.case, self.places, self.aux, self.listener = case, places, aux, listener
        self.timers: list[threading.Timer] = []

    def run(self, body: Callable[[], Outcome]) -> Outcome:
        shutil.rmtree(self.aux, ignore_errors=True)
        self.aux.mkdir()
        if self.listener:
            self.listener.open() if self.case.listener == "open" else self.listener.close()
        for ev in self.case.events:
            t = threading.Timer(ev.after, self._event, args=(ev,))
            t.daemon = True
            t.start()
            self.timers.append(t)
        try:
            return body()
        finally:
            for t in self.timers:
                t.cancel()
            self.timers = []

    def _event(self, ev: Any) -> None:
        if ev.touch:
            Path(subst(ev.touch, self.places)).write_text(ev.content)
        if ev.listen is not None and self.listener:
            self.listener.open() if ev.listen else self.listener.close()


def observe(conn: Connection, commands: list[str]) -> list[str]:
    return [conn.run(c).stdout for c in commands]


def run_case(case: Case, conn: Connection, root: str, tmp: Path, on_host: Callable[[str], None]) -> None:
    """Run `case` against `conn`; `root` is the case's directory on that host."""
    local = tmp / "local"
    aux = tmp / "aux"
    local.mkdir()
    listener = Listener() if case.listener else None
    places = {"root": root, "local": str(local), "aux": str(aux), "port": str(listener.port if listener else 0), "id": Path(root).name}
    build(local, subst(case.local, places))
    args = subst(case.args, places)
    cls = modules.lookup(case.module)
    assert cls is not None, f"no module {case.module}"
    if args is None:
        args = {}
    elif isinstance(args, str):
        args = {cls.free_form: args} if cls.free_form else args
    if case.check.status == "invalid":
        expect_invalid(case, args, tmp, case.check)
        return
    is_local = conn.is_local
    if is_local:
        build(Path(root), subst(case.initial, places))
    commands = subst(case.observe, places)
    case = case.model_copy(update={"check": subst(case.check, places), "apply": subst(case.apply, places)})
    phases = Phases(case, places, aux, listener)
    try:
        for command in subst(case.setup, places):
            on_host(command)
        before, seen = (snapshot(Path(root)) if is_local else None), observe(conn, commands)
        got = phases.run(lambda: run_phase(case, conn, args, places, True, case.earlier_changes_pending))
        check_outcome(got, case.check, "--check")
        if is_local:
            assert snapshot(Path(root)) == before, "--check changed files"
        assert observe(conn, commands) == seen, "--check changed what the observe commands show"

        want = case.apply or Expect(status=case.check.status)
        if case.max_memory_mb is not None:
            tracemalloc.start()
        try:
            got = phases.run(lambda: run_phase(case, conn, args, places, False, False))
            peak = tracemalloc.get_traced_memory()[1] if case.max_memory_mb is not None else 0
        finally:
            tracemalloc.stop()
        check_outcome(got, want, "run")
        if case.max_memory_mb is not None:
            assert peak < case.max_memory_mb << 20, f"the run allocated {peak >> 20} MiB at its peak"
        if is_local and case.final is not None:
            verify_final(Path(root), subst(case.final, places))
        elif is_local and want.status in ("ok", "failed"):
            assert snapshot(Path(root)) == before, f"a run that said {want.status} changed files"
        if case.observed is not None:
            for out, fragment in zip(observe(conn, commands), case.observed, strict=True):
                assert fragment in out, f"observed {out!r}, want {fragment!r} in it"
        if want.status != "failed":
            rerun = case.rerun or ("changed" if cls.always_changes and want.status == "changed" else "ok")
            got = phases.run(lambda: run_phase(case, conn, args, places, False, False))
            assert got.status == rerun, f"second run: {got.status} {got.msg!r}, want {rerun}"
    finally:
        if listener:
            listener.close()
        for command in subst(case.teardown, places):
            conn.run(command)
