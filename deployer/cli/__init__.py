"""The command line: the only place that prints (through deployer.output) or exits.

``main(argv, env) -> ExitStatus`` runs in-process with an injectable
environment (streams, environment variables, password prompt), so the CLI is
tested without monkeypatching. Each sub-command lives in its own file here.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence, TextIO

import click

from deployer.errors import DeployerError, ExitStatus, InputErrors
from deployer.output import Output


@dataclass
class Env:
    """What the CLI takes from its surroundings."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    getpass: Callable[[str], str] = getpass.getpass
    color: bool | None = None

    def output(self) -> Output:
        return Output(self.stderr, self.stdout, self.color)


class Exit(Exception):
    """Raised by sub-commands to end with a status after printing."""

    def __init__(self, status: ExitStatus) -> None:
        super().__init__(int(status))
        self.status = status


#: sub-command -> the file here that defines it (imported only when that command runs,
#: so `deployer run` does not pay for importing what `bench` or `stage` need)
COMMANDS = {
    "run": "run", "validate": "run", "facts": "facts", "recommend": "recommend", "inventory": "inventory",
    "modules": "modules", "bench": "bench", "bundle": "bundle", "stage": "stage", "doctor": "doctor",
}  # fmt: skip


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            import importlib

            importlib.import_module(f"{__name__}.{COMMANDS[name]}")
        return self.commands.get(name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="deployer", prog_name="deployer")
def cli() -> None:
    """Put local LLMs (Ollama + Open WebUI) on a lab's machines, one host or a fleet."""


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> ExitStatus:
    """Run the CLI; returns the exit status instead of exiting."""
    env = env or Env()
    out = env.output()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="deployer", standalone_mode=False, obj=env)
    except Exit as exc:
        return exc.status
    except click.exceptions.Exit as exc:
        return ExitStatus(exc.exit_code) if exc.exit_code in iter(ExitStatus) else ExitStatus.ERROR
    except click.Abort:
        out.error("aborted")
        return ExitStatus.INTERRUPTED
    except click.UsageError as exc:
        out.error(exc.format_message())
        if exc.ctx is not None:
            out.info(f"try '{exc.ctx.command_path} --help'")
        return ExitStatus.USAGE
    except click.ClickException as exc:
        out.error(exc.format_message())
        return ExitStatus.USAGE
    except InputErrors as exc:
        for e in exc.errors:
            out.error(str(e))
        out.info(f"{len(exc.errors)} errors; nothing was run")
        return exc.exit_status
    except DeployerError as exc:
        out.error(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        out.error("interrupted")
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly, with the traceback to report
        import traceback

        out.error(f"internal error: {exc!r} - this is a bug in deployer, please report it with the traceback below")
        out.info("".join(traceback.format_exception(exc)).rstrip())
        return ExitStatus.ERROR
    return ExitStatus.OK


def run_main() -> None:
    """Console-script entry point."""
    sys.exit(int(main()))
