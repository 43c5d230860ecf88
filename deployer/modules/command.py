"""command and shell: run a command on the host, as ansible.builtin.command / shell.

command runs its words without a shell: each word is quoted, so ``|``, ``>``,
``;`` and ``*`` are plain arguments; only ``$VAR`` / ``${VAR}`` and a leading
``~`` are expanded on the host, as Ansible does. shell hands the text to
``/bin/sh`` (or ``executable``). Both have no state to compare: check() says
what would run (unless ``creates``/``removes`` settle it) and apply() runs it.
``creates=``/``chdir=``/``removes=`` written inside the free-form text are
taken as those arguments, as in Ansible.
"""

from __future__ import annotations

import re
import shlex
from abc import abstractmethod
from typing import Any

from pydantic import Field, model_validator

from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext

_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_GLOB = re.compile(r"(\*|\?|\[[^\]/]+\])")


def split_inline(data: Any, keys: tuple[str, ...]) -> Any:
    """Take key=value words for `keys` out of a free-form cmd ("creates=/x make")."""
    if not isinstance(data, dict) or not isinstance(data.get("cmd"), str):
        return data
    pattern = re.compile(r"(?:^|(?<=\s))(" + "|".join(keys) + r")=('[^']*'|\"[^\"]*\"|\S+)(?=\s|$)")
    found: dict[str, str] = {}

    def take(m: re.Match) -> str:
        found[m.group(1)] = shlex.split(m.group(2))[0]
        return ""

    rest = pattern.sub(take, data["cmd"]).strip()
    if not found:
        return data
    return {**found, **data, "cmd": rest}


class _RunArgs(ModuleArgs):
    chdir: str | None = Field(None, description="Change into this directory on the host before running.")
    creates: str | None = Field(None, description="A path (or glob) on the host: when it exists, the command is not run.")
    removes: str | None = Field(None, description="A path (or glob) on the host: when it does not exist, the command is not run.")
    stdin: str | None = Field(None, description="Text fed to the command's standard input.")
    stdin_add_newline: bool = Field(True, description="Append a newline to stdin.")
    strip_empty_ends: bool = Field(True, description="Strip trailing empty lines from stdout and stderr in the result.")


class CommandArgs(_RunArgs):
    cmd: str | None = Field(None, description="The command: words split like a shell would, but run without one.")
    argv: list[str] | None = Field(None, description="The command as a list of words (instead of cmd).")
    expand_argument_vars: bool = Field(True, description="Expand $VAR / ${VAR} and a leading ~ in the words on the host.")

    @model_validator(mode="before")
    @classmethod
    def _free_form_keys(cls, data: Any) -> Any:
        return split_inline(data, ("chdir", "creates", "removes"))

    @model_validator(mode="after")
    def _one(self) -> "CommandArgs":
        if (self.cmd is None) == (self.argv is None):
            raise ValueError("give exactly one of 'cmd' (free form) and 'argv' (a list of words)")
        if self.argv is not None and not self.argv or self.cmd is not None and not self.cmd.strip():
            raise ValueError("the command is empty")
        if self.cmd is not None:
            try:
                shlex.split(self.cmd)
            except ValueError as exc:
                raise ValueError(f"cannot split cmd {self.cmd!r} into words: {exc}")
        return self


class ShellArgs(_RunArgs):
    cmd: str = Field(description="The shell command line (pipes, redirections, globs, $VARS all work).")
    executable: str | None = Field(None, description="The shell to use instead of /bin/sh, e.g. /bin/bash.")

    @model_validator(mode="before")
    @classmethod
    def _free_form_keys(cls, data: Any) -> Any:
        return split_inline(data, ("chdir", "creates", "removes", "executable"))


def _word(word: str, expand: bool) -> str:
    """`word` for /bin/sh: literal, except $VAR/${VAR} and a leading ~ when expanding."""
    if not expand:
        return shlex.quote(word)
    parts = []
    if word == "~" or word.startswith("~/"):
        parts.append('"$HOME"')
        word = word[1:]
    pos = 0
    for m in _VAR.finditer(word):
        if m.start() > pos:
            parts.append(shlex.quote(word[pos : m.start()]))
        parts.append('"${%s}"' % (m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(word) or not parts:
        parts.append(shlex.quote(word[pos:]))
    return "".join(parts)


def _glob(pattern: str) -> str:
    """A path pattern for the shell: glob characters active, everything else quoted."""
    return "".join(p if _GLOB.fullmatch(p) else shlex.quote(p) for p in _GLOB.split(pattern) if p)


class _Run(Module[Any]):
    free_form = "cmd"
    always_changes = True

    def check(self, ctx: TaskContext, args: Any) -> Change | None:
        shown = self.display(args)
        for key in ("creates", "removes"):
            pattern = getattr(args, key)
            if pattern is None:
                continue
            cd = f"cd {shlex.quote(args.chdir)} 2>/dev/null || exit 9; " if args.chdir else ""
            res = ctx.probe(f"{cd}for f in {_glob(pattern)}; do [ -e \"$f\" ] || [ -L \"$f\" ] && exit 0; done; exit 1")
            if res.rc == 9 and not (ctx.check_mode and ctx.earlier_changes_pending):
                raise ModuleFailure(f"chdir {args.chdir}: no such directory on {ctx.host}")
            if res.rc in (0, 1) and res.ok == (key == "creates"):
                why = "exists" if key == "creates" else "does not exist"
                ctx.report(msg=f"not run: {pattern} {why}", rc=0, cmd=self.reported_cmd(args), stdout="", stderr="")
                return None
        return Change(f"{'would run' if ctx.check_mode else 'ran'}: {shown}")

    def apply(self, ctx: TaskContext, args: Any, change: Change) -> None:
        stdin = None
        if args.stdin is not None:
            stdin = (args.stdin + ("\n" if args.stdin_add_newline else "")).encode()
        res = ctx.run(self.command_text(args), stdin=stdin, cwd=args.chdir, timeout=None)
        out, err = res.stdout, res.stderr
        if args.strip_empty_ends:
            out, err = out.rstrip("\r\n"), err.rstrip("\r\n")
        data = {
            "cmd": self.reported_cmd(args),
            "rc": res.rc,
            "stdout": out,
            "stderr": err,
            "stdout_lines": out.splitlines(),
            "stderr_lines": err.splitlines(),
            "delta": round(res.duration, 3),
        }
        ctx.report(**data)
        if res.rc != 0:
            tail = "\n".join((err or out).strip().splitlines()[-10:])
            raise ModuleFailure(f"{self.display(args)} exited {res.rc}" + (f": {tail}" if tail else ""), data=data)

    def display(self, args: Any) -> str:
        text = self.reported_cmd(args)
        text = text if isinstance(text, str) else shlex.join(text)
        return text if len(text) <= 200 else text[:197] + "..."

    @abstractmethod
    def reported_cmd(self, args: Any) -> Any:
        """The command as the result shows it (a word list for command, text for shell)."""

    @abstractmethod
    def command_text(self, args: Any) -> str:
        """The text handed to /bin/sh."""


@register
class CommandModule(_Run):
    """Run a command without a shell."""

    name = "command"
    Args = CommandArgs

    def reported_cmd(self, args: CommandArgs) -> list[str]:
        return list(args.argv) if args.argv is not None else shlex.split(args.cmd or "")

    def command_text(self, args: CommandArgs) -> str:
        return " ".join(_word(w, args.expand_argument_vars) for w in self.reported_cmd(args))


@register
class ShellModule(_Run):
    """Run a command line through the shell."""

    name = "shell"
    Args = ShellArgs

    def reported_cmd(self, args: ShellArgs) -> str:
        return args.cmd

    def command_text(self, args: ShellArgs) -> str:
        if args.executable:
            return f"{shlex.quote(args.executable)} -c {shlex.quote(args.cmd)}"
        return args.cmd
