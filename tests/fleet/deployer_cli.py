"""Run the deployer CLI from a test: in-process (fast, debuggable) through
``deployer.cli.main(argv, env)``, or as the installed `deployer` console script
(what users run)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence


@dataclass(frozen=True)
class CliResult:
    """What one CLI run did."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"deployer {' '.join(self.argv)} -> exit {self.rc}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def console_script() -> list[str]:
    """The `deployer` console script next to this Python, else `python -m deployer`."""
    script = Path(sys.executable).with_name("deployer")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "deployer"]


def run_deployer(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    subprocess_: bool = False,
    password: str | None = None,
    timeout: float = 600,
) -> CliResult:
    """Run the CLI with `args`; `env` is added to this process's environment.

    In-process (default): stdout/stderr captured (the CLI's own streams and
    click's), stdin empty, `password` answers a password prompt (-K; without
    it a prompt fails as it would with no terminal). With `subprocess_`: the
    console script, stdin from /dev/null (so no prompt can be answered).
    """
    argv = [os.fspath(a) for a in args]
    full_env = {**os.environ, **(env or {})}
    if subprocess_:
        proc = subprocess.run(
            [*console_script(), *argv],
            env=full_env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )
        return CliResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    from deployer.cli import Env, main

    def answer(prompt: str) -> str:
        if password is None:
            raise EOFError(f"the CLI asked {prompt!r} and the test gave no password")
        return password

    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        saved_stdin, sys.stdin = sys.stdin, io.StringIO()
        try:
            rc = main(argv, Env(stdout=out, stderr=err, environ=full_env, getpass=answer, color=False))
        finally:
            sys.stdin = saved_stdin
    return CliResult(tuple(argv), int(rc), out.getvalue(), err.getvalue())
