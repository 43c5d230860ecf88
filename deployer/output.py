"""The only printer: human output with rich on stderr, machine output (JSON) on stdout.

Worker threads never get here: the executor calls :class:`RunPrinter` from the
main thread. Every text passes the run's Redactor first.
"""

from __future__ import annotations

import difflib
import json
import sys
import time
from typing import TYPE_CHECKING, Any, Iterable, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deployer.results import NO_LOG_TEXT, Redactor, RunReport, TaskResult

if TYPE_CHECKING:
    from deployer.playbook import Play, Task

STYLES = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold magenta",
    "skipped": "cyan",
    "ignored": "dim red",
}


class Output:
    """Where text goes: stderr for people, stdout for machines."""

    def __init__(self, stderr: TextIO | None = None, stdout: TextIO | None = None, color: bool | None = None) -> None:
        stream = stderr or sys.stderr
        # off a terminal (CI logs, pipes) rich would wrap tables at 80 columns: give them room
        width = None if stream.isatty() else 140
        self.err = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=color, no_color=color is False, width=width)
        self.out_stream = stdout or sys.stdout

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/] {escape(text)}")

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {escape(text)}")

    def info(self, text: str) -> None:
        self.err.print(escape(text))

    def json(self, data: Any) -> None:
        self.out_stream.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        self.out_stream.flush()

    def text(self, text: str) -> None:
        """Plain text on stdout (lists a script may read)."""
        self.out_stream.write(text if text.endswith("\n") else text + "\n")
        self.out_stream.flush()

    def table(self, title: str, columns: list[str], rows: Iterable[Iterable[Any]], caption: str | None = None) -> None:
        t = Table(title=title, caption=caption, show_lines=False, title_justify="left")
        for c in columns:
            t.add_column(c)
        for row in rows:
            t.add_row(*[escape(str(v)) if v is not None else "-" for v in row])
        self.err.print(t)


class RunPrinter:
    """Events sink for the executor: a line per task and host, then the recap."""

    def __init__(self, output: Output, redactor: Redactor, verbosity: int = 0, diff: bool = False) -> None:
        self.o = output
        self.redactor = redactor
        self.verbosity = verbosity
        self.diff = diff
        self._last_progress: dict[tuple[str, str], float] = {}

    def play_start(self, play: Play, hosts: list[str]) -> None:
        self.o.err.print(f"\n[bold]{escape(f'PLAY [{play.name}]')}[/] [dim]({len(hosts)} host{'s' if len(hosts) != 1 else ''})[/]")

    def task_start(self, task: Task, handler: bool) -> None:
        kind = "HANDLER" if handler else "TASK"
        origin = f" [dim]({task.origin}:)[/]" if task.origin else ""
        self.o.err.print(f"[bold]{escape(f'{kind} [{task.name}]')}[/]{origin}")

    def notice(self, message: str) -> None:
        self.o.warn(self.redactor.text(message))

    def progress(self, host: str, done: int, total: int, label: str) -> None:
        key = (host, label)
        now = time.monotonic()
        finished = total and done >= total
        if not finished and now - self._last_progress.get(key, 0.0) < 2.0:
            return
        self._last_progress[key] = now
        pct = f" {done * 100 // total}%" if total else ""
        self.o.err.print(f"  [dim]{escape(host)}: {escape(label)}{pct} ({_size(done)}{' / ' + _size(total) if total else ''})[/]")

    def host_result(self, r: TaskResult) -> None:
        if r.items and not r.no_log:
            for item in r.items:
                if item.status != "skipped" or self.verbosity:
                    self.host_result(item)
            return
        status = "ignored" if r.status == "failed" and r.ignored else r.status
        style = STYLES.get(status, "")
        msg = NO_LOG_TEXT if r.no_log else self.redactor.text(r.msg)
        # debug's message is its whole point: shown at any verbosity, as in Ansible
        shown = msg if (r.status != "ok" or self.verbosity or r.action == "debug") and msg else ""
        first, _, rest = shown.partition("\n")
        line = f"  [{style}]{status}[/]: {escape(r.host)}"
        if first:
            line += f" [dim]-[/] {escape(first[:300])}"
        self.o.err.print(line)
        if rest and r.status in ("failed", "unreachable"):
            for text in rest.strip().splitlines()[-15:]:
                self.o.err.print(f"      [dim]{escape(text)}[/]")
        for w in r.warnings:
            self.o.err.print(f"    [yellow]warning:[/] {escape(self.redactor.text(w))}")
        if r.status == "failed" and not r.no_log and r.data.get("stderr") and r.data["stderr"].strip() not in msg:
            for text in str(r.data["stderr"]).strip().splitlines()[-10:]:
                self.o.err.print(f"      [dim]{escape(self.redactor.text(text))}[/]")
        if self.diff and not r.no_log:
            for d in r.diffs:
                self._print_diff(d.label, d.before, d.after)
        if self.verbosity and r.data and not r.no_log:
            data = json.dumps(self.redactor.data(r.data), indent=2, default=str)
            for text in data.splitlines()[:200]:
                self.o.err.print(f"      [dim]{escape(text)}[/]")

    def _print_diff(self, label: str, before: str | None, after: str | None) -> None:
        a = self.redactor.text(before or "").splitlines(keepends=True)
        b = self.redactor.text(after or "").splitlines(keepends=True)
        fromfile = f"before: {label}" if before is not None else "before: (absent)"
        tofile = f"after: {label}" if after is not None else "after: (absent)"
        for line in difflib.unified_diff(a, b, fromfile=fromfile, tofile=tofile):
            text = escape(line.rstrip("\n"))
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            self.o.err.print(f"    [{style}]{text}[/]")

    def recap(self, report: RunReport) -> None:
        self.o.err.print("\n[bold]PLAY RECAP[/]" + (" [yellow](check mode: nothing was changed)[/]" if report.check_mode else ""))
        width = max((len(h) for h in report.stats), default=4)
        for host, s in report.stats.items():
            style = "red" if s.failed else "magenta" if s.unreachable else "yellow" if s.changed else "green"
            self.o.err.print(
                f"[{style}]{escape(host.ljust(width))}[/] : ok={s.ok} changed={s.changed} unreachable={s.unreachable} "
                f"failed={s.failed} skipped={s.skipped} ignored={s.ignored}"
            )
        warnings = sum(len(r.warnings) + sum(len(i.warnings) for i in r.items) for r in report.results)
        if warnings:
            not_staged = sum(
                1 for r in report.results for w in [*r.warnings, *(w for i in r.items for w in i.warnings)] if w.startswith("not staged yet")
            )
            extra = f"; {not_staged} about artefacts not staged yet (deployer stage fetches them)" if not_staged else ""
            self.o.err.print(f"[yellow]{warnings} warning{'s' if warnings != 1 else ''} above{extra}[/]")
        for reason in report.aborted:
            self.o.warn(self.redactor.text(reason))
        if report.interrupted:
            self.o.warn("interrupted: the run stopped early; rerun to finish")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
