"""Running commands on a host: the Connection interface, its local implementation,
and the pieces shared with SSH (privilege escalation, command results).

Modules never see paramiko, fabric or subprocess types: they get a frozen
:class:`CommandResult`. Every command runs through ``/bin/sh -c``; ``become``
wraps it in ``sudo`` with a marker so that a password prompt, a refused sudo and
the command's own failure can be told apart, and so that the password is only
ever written to sudo (never echoed, never logged).
"""

from __future__ import annotations

import os
import secrets
import selectors
import shlex
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Mapping

from deployer.errors import HostError, Interrupted, ModuleFailure

CHUNK = 1 << 20
#: after Ctrl-C a command gets this long, its stdin closed, to clean up (remove its temp file)
INTERRUPT_GRACE = 3.0
#: Sent as the sudo prompt; never a real word so it cannot be confused with output.
_PROMPT_TAG = "[deployer-sudo-password]"


@dataclass(frozen=True)
class CommandResult:
    """What one command did on a host."""

    command: str
    rc: int
    stdout_bytes: bytes = b""
    stderr_bytes: bytes = b""
    duration: float = 0.0

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = 20) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for messages."""
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(text.splitlines()[-lines:])

    def check(self, what: str | None = None) -> "CommandResult":
        """Return self if the command succeeded, else raise CommandFailed."""
        if self.rc != 0:
            from deployer.errors import CommandFailed

            label = what or self.command
            raise CommandFailed(
                f"{label} failed (exit {self.rc}): {self.tail(5) or 'no output'}",
                data={"rc": self.rc, "stdout": self.stdout, "stderr": self.stderr},
            )
        return self


@dataclass(frozen=True)
class Become:
    """Run as another user through sudo."""

    user: str = "root"
    password: str | None = field(default=None, repr=False)
    flags: str = "-H"


class BecomeFailed(ModuleFailure):
    """sudo refused: no sudo, wrong password, password needed, not allowed."""


class CommandTimeout(HostError):
    """A command did not finish within its timeout; `partial` holds what it printed so far."""

    def __init__(self, message: str, partial: "CommandResult | None" = None) -> None:
        super().__init__(message)
        self.partial = partial


def shell_quote(value: str) -> str:
    return shlex.quote(value)


def build_command(command: str, env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """The shell text for `command` with env exports and a working directory."""
    parts = []
    if env:
        parts.append(" ".join(f"export {k}={shlex.quote(str(v))};" for k, v in env.items()))
    if cwd:
        parts.append(f"cd {shlex.quote(cwd)} &&")
    parts.append(command)
    return " ".join(parts)


def sudo_wrap(command: str, become: Become, marker: str) -> str:
    """Wrap `command` so sudo runs it as become.user and prints `marker` on stderr first."""
    inner = f"echo {marker} >&2; {command}"
    mode = f"-S -p {shlex.quote(_PROMPT_TAG)}" if become.password is not None else "-n"
    return f"sudo {become.flags} {mode} -u {shlex.quote(become.user)} -- /bin/sh -c {shlex.quote(inner)}"


class _Stream(ABC):
    """A started command: bytes in, bytes out, an exit code."""

    @abstractmethod
    def send(self, data: bytes) -> int:
        """Send what fits now; returns the number of bytes taken."""

    @abstractmethod
    def close_stdin(self) -> None: ...

    @abstractmethod
    def poll(self, timeout: float, want_write: bool) -> tuple[bytes, bytes, bool, bool]:
        """Wait up to `timeout` for output (or, with want_write, for room to send).

        Returns (stdout, stderr, finished, can_write); finished means the
        command exited and all its output has been returned.
        """

    @abstractmethod
    def exit_code(self) -> int: ...

    @abstractmethod
    def kill(self) -> None: ...


def _iter_stdin(stdin: bytes | BinaryIO | None) -> Iterator[bytes]:
    if stdin is None:
        return
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        view = memoryview(stdin)
        for i in range(0, len(view), CHUNK):
            yield bytes(view[i : i + CHUNK])
        return
    while True:
        chunk = stdin.read(CHUNK)
        if not chunk:
            return
        yield chunk


def drive(
    stream: _Stream,
    command: str,
    stdin: bytes | BinaryIO | None,
    become: Become | None,
    marker: str | None,
    timeout: float | None,
    progress: Callable[[int], None] | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> CommandResult:
    """Feed stdin, collect output, handle the sudo handshake; one loop, no threads.

    With become, nothing of stdin is sent before sudo has either printed our
    prompt (then the password goes first) or our marker (the command started),
    so the password can never leak into the command's input.

    When `interrupted()` turns true, stdin is closed at once (the command sees
    a short input and can remove what it wrote) and the command gets
    INTERRUPT_GRACE seconds to end before it is killed; either way
    Interrupted is raised: a command cut short never counts as done.
    """
    start = time.monotonic()
    out = bytearray()
    err = bytearray()
    authed = marker is None
    password_sent = False
    pending = _iter_stdin(stdin)
    buf = b""
    stdin_open = True
    sent_total = 0
    stop_at: float | None = None
    while True:
        if stop_at is None and interrupted is not None and interrupted():
            stop_at = time.monotonic() + INTERRUPT_GRACE
            if stdin_open:
                stream.close_stdin()
                stdin_open = False
        if stop_at is not None and time.monotonic() > stop_at:
            stream.kill()
            raise Interrupted(f"interrupted: {command[:200]}")
        if timeout is not None and time.monotonic() - start > timeout:
            stream.kill()
            partial = CommandResult(command, -1, bytes(out), bytes(err), time.monotonic() - start)
            raise CommandTimeout(f"command timed out after {timeout:g}s: {command[:200]}", partial)
        want_write = authed and stdin_open
        o, e, finished, can_write = stream.poll(0.1 if stop_at else 0.5, want_write)
        out += o
        err += e
        if want_write and can_write:
            if not buf:
                buf = next(pending, b"")
                if not buf:
                    stream.close_stdin()
                    stdin_open = False
            if buf:
                n = stream.send(buf)
                buf = buf[n:]
                sent_total += n
                if progress and n:
                    progress(sent_total)
        if not authed:
            if marker.encode() in err:  # type: ignore[union-attr]
                authed = True
                cut = err.index(marker.encode()) + len(marker)  # type: ignore[union-attr, arg-type]
                if err[cut : cut + 1] == b"\n":
                    cut += 1
                del err[:cut]
            elif _PROMPT_TAG.encode() in err:
                if password_sent:
                    stream.kill()
                    raise BecomeFailed(
                        "sudo rejected the become password",
                        hint="check ansible_become_password for this host, or use --ask-become-pass",
                    )
                assert become is not None and become.password is not None
                stream.send((become.password + "\n").encode())
                password_sent = True
                del err[:]
        if finished:
            break
    if stop_at is not None:
        raise Interrupted(f"interrupted: {command[:200]}")
    rc = stream.exit_code()
    if not authed:
        msg = err.decode("utf-8", "replace").strip()
        hint = None
        if "password is required" in msg:
            hint = "sudo needs a password here: set ansible_become_password or pass --ask-become-pass"
        elif "not found" in msg and "sudo" in msg:
            hint = "install sudo on the host or connect as the target user"
        raise BecomeFailed(f"become failed: {msg or f'sudo exited {rc}'}", hint=hint)
    return CommandResult(command, rc, bytes(out), bytes(err), time.monotonic() - start)


class Connection(ABC):
    """A way to run commands and move bytes on one host."""

    def __init__(self, name: str, login_user: str) -> None:
        #: the inventory name of the host
        self.name = name
        #: the user commands run as before any become
        self.login_user = login_user
        self._interrupted = False

    def run(
        self,
        command: str,
        *,
        stdin: bytes | BinaryIO | None = None,
        become: Become | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> CommandResult:
        """Run `command` through /bin/sh; never raises for a non-zero exit."""
        text = build_command(command, env, cwd)
        marker = None
        if become is not None and become.user != self.login_user:
            marker = f"__deployer_become_{secrets.token_hex(8)}__"
            text = sudo_wrap(text, become, marker)
        else:
            become = None
        if self._interrupted:
            raise Interrupted(f"{self.name}: interrupted")
        stream = self._start(text)
        try:
            return drive(stream, command, stdin, become, marker, timeout, progress, lambda: self._interrupted)
        except HostError:
            if self._interrupted:
                raise Interrupted(f"{self.name}: interrupted")
            raise
        finally:
            stream.kill()

    @property
    def interrupted(self) -> bool:
        """True once interrupt() was called (Ctrl-C): waits on other hosts should end too."""
        return self._interrupted

    def interrupt(self) -> None:
        """Stop every command running now (Ctrl-C); later run() calls raise Interrupted.

        A running command has its stdin closed and INTERRUPT_GRACE seconds to
        end (see drive) before it is killed, so that a write on the host can
        remove its temporary file."""
        self._interrupted = True

    @abstractmethod
    def _start(self, command: str) -> _Stream: ...

    def host_key(self) -> str | None:
        """The host's SSH key as verified when connecting ("ssh-ed25519 AAAA..."), or None (not SSH)."""
        return None

    @abstractmethod
    def open_tunnel(self, host: str, port: int) -> tuple[str, int]:
        """A (host, port) on this machine that reaches host:port as seen from the target."""

    def close(self) -> None:
        """Release the connection; safe to call twice."""

    @property
    def is_local(self) -> bool:
        return False


class _PopenStream(_Stream):
    """A local process: a shell command, or an argv (the OpenSSH client for bulk data)."""

    def __init__(self, command: str | list[str]) -> None:
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", command] if isinstance(command, str) else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stdout and self.proc.stderr and self.proc.stdin
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ, "out")
        self.sel.register(self.proc.stderr, selectors.EVENT_READ, "err")
        self.open_fds = 2
        self.stdin_closed = False

    def send(self, data: bytes) -> int:
        assert self.proc.stdin
        try:
            return os.write(self.proc.stdin.fileno(), data[:CHUNK])
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            # the command stopped reading: what it did not take is dropped
            self.close_stdin()
            return len(data)

    def close_stdin(self) -> None:
        if not self.stdin_closed:
            self.stdin_closed = True
            try:
                assert self.proc.stdin
                self.proc.stdin.close()
            except OSError:
                pass

    def poll(self, timeout: float, want_write: bool) -> tuple[bytes, bytes, bool, bool]:
        out = b""
        err = b""
        can_write = False
        watch_in = want_write and not self.stdin_closed
        if watch_in:
            self.sel.register(self.proc.stdin, selectors.EVENT_WRITE, "in")  # type: ignore[arg-type]
        try:
            if self.open_fds or watch_in:
                for key, _ in self.sel.select(timeout):
                    if key.data == "in":
                        can_write = True
                        continue
                    data = os.read(key.fd, CHUNK)
                    if not data:
                        self.sel.unregister(key.fileobj)
                        self.open_fds -= 1
                    elif key.data == "out":
                        out += data
                    else:
                        err += data
        finally:
            if watch_in:
                self.sel.unregister(self.proc.stdin)  # type: ignore[arg-type]
        finished = False
        if self.open_fds == 0:
            try:
                self.proc.wait(0 if (out or err or can_write) else timeout)
            except subprocess.TimeoutExpired:
                pass
            finished = self.proc.poll() is not None
        return out, err, finished, can_write

    def exit_code(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.close_stdin()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        self.sel.close()


class LocalConnection(Connection):
    """This machine (``ansible_connection=local``): subprocesses, no SSH."""

    def __init__(self, name: str = "localhost") -> None:
        import getpass

        super().__init__(name, getpass.getuser())

    def _start(self, command: str) -> _Stream:
        return _PopenStream(command)

    def open_tunnel(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    @property
    def is_local(self) -> bool:
        return True


